// Package store defines where the broker keeps what must outlive a
// connection or a process: persistent sessions, their queued and inflight
// messages, retained messages and the wills of open connections.
//
// A Store is an ordered key-value store with atomic batches. The broker
// encodes its own records and decides the key layout, so that every store
// behaves the same and a new store needs only the few methods of Store;
// storetest.Run is the suite each one passes.
//
// store/memory keeps everything in the process, for tests and for users who
// ask for no disk; store/pebble is the crash-safe embedded default.
package store

import (
	"context"
	"errors"
)

// Bucket names one key space of a Store.
type Bucket byte

// The buckets the broker uses.
const (
	// Sessions holds one record per persistent session, by client id.
	Sessions Bucket = 's'
	// Queues holds the messages on their way to persistent sessions, by
	// client id and sequence number.
	Queues Bucket = 'q'
	// Messages holds message bodies shared by several queue entries, by
	// message id.
	Messages Bucket = 'm'
	// Retained holds one retained message per topic name.
	Retained Bucket = 'r'
	// Incoming holds the packet ids of QoS 2 messages that persistent
	// sessions' clients sent and have not released, by client id and id.
	Incoming Bucket = 'i'
	// Wills holds the wills of connections whose sessions do not persist
	// (a persistent session's record holds its connection's will), by
	// client id and a number that tells the connections of one id apart.
	Wills Bucket = 'w'
	// Meta holds the store's own records, such as its format version.
	Meta Bucket = 'x'
)

// String returns the bucket's name.
func (b Bucket) String() string {
	switch b {
	case Sessions:
		return "sessions"
	case Queues:
		return "queues"
	case Messages:
		return "messages"
	case Retained:
		return "retained"
	case Incoming:
		return "incoming"
	case Wills:
		return "wills"
	case Meta:
		return "meta"
	}
	return "bucket(" + string(rune(b)) + ")"
}

// ErrNotFound is returned by Get for a key that holds no value.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by a Store's methods after Close.
var ErrClosed = errors.New("store: closed")

// Store is an ordered key-value store with atomic batches. Implementations
// are safe for concurrent use.
type Store interface {
	// Apply writes every operation of b atomically, in order. With sync
	// true it returns only once the batch is durable (fsynced); with sync
	// false the batch is visible to reads at once and reaches the disk
	// later. Apply does not keep b.
	Apply(b *Batch, sync bool) error
	// Get returns a copy of the value of key in bucket, or ErrNotFound.
	Get(bucket Bucket, key string) ([]byte, error)
	// Scan calls fn for every key in bucket that starts with prefix, in
	// byte order of the keys, and stops at fn's first error, which it
	// returns. value is valid only during the call. fn must not call the
	// Store.
	Scan(bucket Bucket, prefix string, fn func(key string, value []byte) error) error
	// Close makes everything applied durable and releases the store; no
	// method may be called after it.
	Close() error
}

// Sizer is implemented by stores that can tell how many bytes they take on
// disk.
type Sizer interface {
	// DiskSize returns the bytes the store takes on disk.
	DiskSize() (int64, error)
}

// Ranger is implemented by stores that can start a scan in the middle of a
// prefix: the broker keeps long offline queues on disk and reads them back
// a window at a time, which a store that holds everything in memory anyway
// need not support.
type Ranger interface {
	// ScanFrom is Scan restricted to the keys not less than start: it
	// calls fn for every key in bucket that starts with prefix and is
	// greater than or equal to start, in byte order, under Scan's rules.
	ScanFrom(bucket Bucket, prefix, start string, fn func(key string, value []byte) error) error
}

// Discarding is implemented by a store that keeps nothing it is given
// (store/none): Get and Scan find nothing. The broker then keeps in memory
// what it would otherwise read back, and acknowledges at once, since there
// is nothing to wait for.
type Discarding interface {
	// Discards marks the store; it does nothing.
	Discards()
}

// Compacter is implemented by stores whose files keep the space of deleted
// records until they are rewritten, as a log-structured store does: after
// deletes, their DiskSize can stay the same or grow (the deletions are
// records too) until Compact.
type Compacter interface {
	// Compact rewrites the store's files so that the space of the records
	// deleted so far is given back to the file system. It can take long
	// and does much I/O, but reads and writes go on meanwhile; it stops
	// early with ctx's error when ctx is done.
	Compact(ctx context.Context) error
}

// Op is one write of a Batch.
type Op struct {
	Kind   OpKind
	Bucket Bucket
	// Key is the key, or the prefix of a DeletePrefix.
	Key   string
	Value []byte
}

// OpKind tells what an Op does.
type OpKind byte

// The kinds of Op.
const (
	OpSet OpKind = iota
	OpDelete
	OpDeletePrefix
	// OpNone does nothing: an operation taken back with Batch.Cancel.
	OpNone
)

// Batch is a list of writes that a Store applies atomically. The zero value
// is an empty batch. A Batch keeps the values given to Set, not copies:
// they must not change until the batch has been applied.
type Batch struct {
	ops []Op
}

// Set sets key in bucket to value.
func (b *Batch) Set(bucket Bucket, key string, value []byte) {
	b.ops = append(b.ops, Op{Kind: OpSet, Bucket: bucket, Key: key, Value: value})
}

// Delete removes key from bucket; a missing key is not an error.
func (b *Batch) Delete(bucket Bucket, key string) {
	b.ops = append(b.ops, Op{Kind: OpDelete, Bucket: bucket, Key: key})
}

// DeletePrefix removes every key of bucket that starts with prefix.
func (b *Batch) DeletePrefix(bucket Bucket, prefix string) {
	b.ops = append(b.ops, Op{Kind: OpDeletePrefix, Bucket: bucket, Key: prefix})
}

// Cancel takes back the i-th operation of b, counting from 0: it becomes
// an OpNone, which Apply skips, and the indexes of the others stay.
func (b *Batch) Cancel(i int) { b.ops[i] = Op{Kind: OpNone} }

// Append adds the operations of other after those of b.
func (b *Batch) Append(other *Batch) { b.ops = append(b.ops, other.ops...) }

// Ops returns the batch's operations in order. The slice belongs to b.
func (b *Batch) Ops() []Op { return b.ops }

// Len returns the number of operations.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties b and keeps its memory.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
}
