package pebble

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/midgemq/midge/store"
)

// Store is a store.Store kept in a Pebble database, safe for concurrent use.
// Create one with Open.
type Store struct {
	dir      string
	readOnly bool

	// mu guards db and lock against Close: every method holds it shared
	// while it uses db, and Close holds it exclusively, so that Close waits
	// for the calls in flight and later calls find db nil. Pebble does its
	// own locking; mu orders nothing else.
	mu   sync.RWMutex
	db   *pdb.DB // nil after Close
	lock *pdb.Lock
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Sizer     = (*Store)(nil)
	_ store.Compacter = (*Store)(nil)
)

// Apply implements store.Store. It writes b as one Pebble batch, so that
// all of it or none of it survives a crash; with sync true it returns once
// the batch is in the fsynced write-ahead log. Apply returns an error for a
// DeletePrefix whose range has no end (see the package Caveats) before
// writing anything.
func (s *Store) Apply(b *store.Batch, sync bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return store.ErrClosed
	}
	pb := s.db.NewBatch()
	// Close returns the batch to Pebble's pool; after a commit it has
	// nothing to report.
	defer pb.Close()
	for i, op := range b.Ops() {
		if err := addOp(pb, op); err != nil {
			return fmt.Errorf("pebble store: apply: op %d (%s %q): %w", i, op.Bucket, op.Key, err)
		}
	}
	wo := pdb.NoSync
	if sync {
		wo = pdb.Sync
	}
	if err := pb.Commit(wo); err != nil {
		return opError(fmt.Sprintf("apply %d ops", b.Len()), err)
	}
	return nil
}

// addOp adds op to pb. The deferred forms let the key be encoded in place,
// in the batch's own buffer, without a buffer of our own.
func addOp(pb *pdb.Batch, op store.Op) error {
	switch op.Kind {
	case store.OpSet:
		d := pb.SetDeferred(1+len(op.Key), len(op.Value))
		putKey(d.Key, op.Bucket, op.Key)
		copy(d.Value, op.Value)
		return d.Finish()
	case store.OpDelete:
		d := pb.DeleteDeferred(1 + len(op.Key))
		putKey(d.Key, op.Bucket, op.Key)
		return d.Finish()
	case store.OpDeletePrefix:
		start := encodeKey(op.Bucket, op.Key)
		end := successor(start)
		if end == nil {
			return errors.New("delete prefix: the range of an all-0xff prefix in bucket 0xff has no end")
		}
		return pb.DeleteRange(start, end, nil)
	case store.OpNone:
		return nil
	}
	return fmt.Errorf("unknown op kind %d", op.Kind)
}

// Get implements store.Store.
func (s *Store) Get(bucket store.Bucket, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, store.ErrClosed
	}
	v, closer, err := s.db.Get(encodeKey(bucket, key))
	if errors.Is(err, pdb.ErrNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, opError(fmt.Sprintf("get %s %q", bucket, key), err)
	}
	v = slices.Clone(v)
	if err := closer.Close(); err != nil {
		return nil, opError(fmt.Sprintf("get %s %q", bucket, key), err)
	}
	if v == nil {
		// A key set to an empty value exists; keep it distinct from none.
		v = []byte{}
	}
	return v, nil
}

// Scan implements store.Store. It reads a consistent snapshot of the
// bucket: writes applied while it runs are not seen. Close waits for a
// Scan in progress.
func (s *Store) Scan(bucket store.Bucket, prefix string, fn func(key string, value []byte) error) error {
	return s.scan(bucket, prefix, prefix, fn)
}

// ScanFrom implements store.Ranger under the rules of Scan. Its iterator
// starts at start's key, so keys before it cost nothing, however many were
// deleted there.
func (s *Store) ScanFrom(bucket store.Bucket, prefix, start string, fn func(key string, value []byte) error) error {
	if start < prefix {
		start = prefix
	}
	return s.scan(bucket, prefix, start, fn)
}

// scan calls fn for the keys of bucket that start with prefix and are not
// less than start, which is not less than prefix.
func (s *Store) scan(bucket store.Bucket, prefix, start string, fn func(key string, value []byte) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return store.ErrClosed
	}
	lower := encodeKey(bucket, prefix)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: encodeKey(bucket, start), UpperBound: successor(lower)})
	if err != nil {
		return opError(fmt.Sprintf("scan %s %q", bucket, prefix), err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			break // it.Close reports it
		}
		if err := fn(string(it.Key()[1:]), v); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return opError(fmt.Sprintf("scan %s %q", bucket, prefix), err)
	}
	return nil
}

// Close implements store.Store. It syncs the write-ahead log, so that
// batches applied with sync false are durable too, then flushes the
// memtable to a file, closes the database and releases the directory lock.
// It waits for the calls in flight; later calls, Close included, return
// store.ErrClosed.
//
// The flush is not needed for durability, but after it a cleanly closed
// store keeps its records in checksummed table files rather than only in the
// log: the next Open need not replay the log, and damage to a table is
// reported as corruption, whereas Pebble reads damage at the end of the
// last log as the end of what a crash left.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return store.ErrClosed
	}
	var errs []error
	if !s.readOnly {
		// An empty synced record: Pebble syncs the log up to and including
		// it, which covers every batch committed before. It comes first so
		// that a failed flush loses nothing.
		if err := s.db.LogData(nil, pdb.Sync); err != nil {
			errs = append(errs, fmt.Errorf("sync log: %w", err))
		} else if err := s.db.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("flush: %w", err))
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("release lock: %w", err))
	}
	s.db, s.lock = nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pebble store: close %s: %w", s.dir, err)
	}
	return nil
}

// DiskSize implements store.Sizer: the bytes of the store's table files,
// including those waiting to be deleted, and of the records in its
// write-ahead logs. Pebble reuses emptied log files for the next logs (at
// most three are kept), and a reused file keeps its former size until it
// is written over, so the logs count for the records they hold, not for
// their files' size: counting those would keep a store whose log once grew
// over a small limit above it however much is deleted.
func (s *Store) DiskSize() (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return 0, store.ErrClosed
	}
	m := s.db.Metrics()
	// Pebble's figure counts the files of the logs, live and kept for
	// reuse; WAL.Size is the records of the live logs, bytes written since
	// they were opened included.
	n := m.DiskSpaceUsage() - m.WAL.PhysicalSize - m.WAL.ObsoletePhysicalSize + m.WAL.Size
	return int64(n), nil
}

// Compact implements store.Compacter. It flushes the memtable and
// compacts the key range of every bucket down to the last level, where the
// deleted records and the deletions themselves are dropped; the files it
// replaces are removed once no read uses them, so DiskSize drops soon
// after Compact returns rather than at once. Close waits for a Compact in
// progress; cancel ctx to end it early.
func (s *Store) Compact(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return store.ErrClosed
	}
	if s.readOnly {
		return fmt.Errorf("pebble store: compact %s: %w", s.dir, pdb.ErrReadOnly)
	}
	// The bounds take in every key whose bucket byte is below 0xff,
	// which is every bucket the broker uses.
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		return opError("compact", err)
	}
	return nil
}

// opError wraps the error of a Pebble operation described by op. An error
// Pebble marks as corruption, found by a read, also wraps ErrCorrupt.
func opError(op string, err error) error {
	if pdb.IsCorruptionError(err) {
		return fmt.Errorf("pebble store: %s: %w: %w", op, ErrCorrupt, err)
	}
	return fmt.Errorf("pebble store: %s: %w", op, err)
}

// encodeKey returns the key of key in bucket on disk: the bucket byte, then
// the key's bytes.
func encodeKey(bucket store.Bucket, key string) []byte {
	k := make([]byte, 1+len(key))
	putKey(k, bucket, key)
	return k
}

// putKey writes the disk key of key in bucket into k, of len 1+len(key).
func putKey(k []byte, bucket store.Bucket, key string) {
	k[0] = byte(bucket)
	copy(k[1:], key)
}

// successor returns the shortest key greater than every key that starts
// with prefix, or nil if there is none (prefix is all 0xff bytes). It
// modifies and returns a copy. Since the bucket byte is part of prefix, the
// successor of a bucket's prefix of 0xff bytes is the next bucket.
func successor(prefix []byte) []byte {
	end := slices.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
