package broker

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/midgemq/midge/store"
)

// Durability says when the store has a QoS 1 or 2 message, compared with
// when the publisher gets its acknowledgement.
type Durability int

const (
	// DurabilityBatch acknowledges a message once the batch that holds it is
	// on disk. Commits start at most once per CommitInterval, so that under
	// load the writes of every session gather and share one fsync (group
	// commit); after a quiet spell a write commits at once. The default.
	DurabilityBatch Durability = iota
	// DurabilitySync acknowledges a message once it is on disk, committing
	// as soon as there is something to commit. Writes that arrive during a
	// commit share the next one.
	DurabilitySync
	// DurabilityNone acknowledges at once and writes the store behind,
	// without fsync, syncing within a second of the first unsynced
	// commit: a crash loses at most that second, a clean shutdown nothing.
	DurabilityNone
)

// String returns the name of d as the configuration spells it.
func (d Durability) String() string {
	switch d {
	case DurabilityBatch:
		return "batch"
	case DurabilitySync:
		return "sync"
	case DurabilityNone:
		return "none"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// ParseDurability returns the Durability named s: "batch", "sync" or
// "none".
func ParseDurability(s string) (Durability, error) {
	for _, d := range []Durability{DurabilityBatch, DurabilitySync, DurabilityNone} {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unknown durability %q (want batch, sync or none)", s)
}

// persister writes the broker's state changes to the store. Sessions and
// the router append writes to one shared batch as they change state; a
// committer goroutine applies the batch and then runs the callbacks that
// wait for it, such as the PUBACK of a QoS 1 message. mu is a leaf lock:
// it is taken under session.mu and never calls out while held.
type persister struct {
	st store.Store
	// ranger is st when it can scan from the middle of a prefix, nil
	// otherwise: only then do offline queues live on disk alone (see
	// session.spilled).
	ranger store.Ranger
	// discards is set when st keeps nothing (store.Discarding): queued
	// messages keep their bodies in memory, nothing waits for a commit
	// (the mode is DurabilityNone), and the records of sessions, retained
	// messages, wills and QoS 2 ids are not even encoded. Queue entries
	// and message bodies still pass through the batch, which keeps their
	// reference counts.
	discards bool
	mode     Durability
	interval time.Duration
	log      *slog.Logger

	// group is held shared by writers whose writes must be applied
	// together, and exclusively by the committer while it takes the batch.
	group sync.RWMutex

	mu    sync.Mutex
	batch store.Batch
	// gen counts the batches the committer has taken: a write made in
	// generation gen is still in p.batch, where it can be taken back.
	gen       uint64
	appended  uint64 // writes appended so far
	committed uint64 // writes applied so far
	// marked is appended, for mark to read without p.mu.
	marked  atomic.Uint64
	waiters []waiter
	running bool            // callbacks are running
	lastErr error           // of the last Apply
	refs    map[MsgID]int32 // queue entries that hold each stored message

	// The last batch that failed held the writes up to failedAt, and
	// failed with failedErr.
	failedAt  uint64
	failedErr error

	// pending holds the message bodies written to batches not yet
	// applied, so that loadMessage finds them before the store does.
	pending    map[MsgID]pendingBody
	pendingIDs []MsgID // bodies in p.batch
	// recent holds the messages whose bodies were stored or read last,
	// recent[recentHead:] live, about recentSize bytes of them and at most
	// recentBytes, and recentByID finds them: sessions reading their
	// queues back share one read and one copy of each message, and
	// subscribers a little behind find theirs in memory.
	recent     []*Message
	recentHead int
	recentSize int
	recentByID map[MsgID]*Message
	closed     bool

	// maxBytes is the store's size limit, 0 for none (SetLimits may change
	// it); full is set while the store is over it, checked at most every
	// sizeCheckEvery (see storesize.go).
	maxBytes  atomic.Int64
	full      atomic.Bool
	lastCheck time.Time
	// compacter is st when it can give back the space of deleted records,
	// nil otherwise. The other fields are the committer's own: deleted
	// counts the deletions applied since the last compaction began,
	// compacting cancels the compaction running (nil when none is),
	// compacted receives its end, and nextCompact is the earliest the
	// next may begin.
	compacter   store.Compacter
	deleted     int
	compacting  context.CancelFunc
	compacted   chan compaction
	nextCompact time.Time
	// commits times each Apply of a batch.
	commits histogram

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	// spare is the batch the committer applied last, kept for reuse.
	spare store.Batch
	// applying is the batch the committer is applying, nil between
	// commits; readQueue reads the entries it holds, which the store may
	// not show yet. Guarded by mu.
	applying *store.Batch
	// unsynced is set while commits applied without fsync wait for one;
	// only the committer uses it.
	unsynced bool
}

type pendingBody struct {
	msg *Message
	n   int // batches that write it and are not yet applied
	// op is 1 + the index in p.batch of the write of the body, if it was
	// made in generation gen; 0 when it has been taken back.
	op  int
	gen uint64
}

type waiter struct {
	seq uint64
	// from is the mark the caller's writes came after (see whenWritten),
	// noMark for none; err is the result fn gets, set when it is due.
	from uint64
	fn   func(error)
	err  error
}

// noMark stands for no mark: the caller's writes are in a group it still
// holds, where no commit can have taken them, or there are none.
const noMark = math.MaxUint64

func newPersister(st store.Store, mode Durability, interval time.Duration, maxBytes int64, log *slog.Logger) *persister {
	p := &persister{
		st:         st,
		mode:       mode,
		interval:   interval,
		log:        log,
		refs:       make(map[MsgID]int32),
		pending:    make(map[MsgID]pendingBody),
		recentByID: make(map[MsgID]*Message),
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	p.ranger, _ = st.(store.Ranger)
	if _, ok := st.(store.Discarding); ok {
		p.discards = true
		p.mode = DurabilityNone
	}
	if c, ok := st.(store.Compacter); ok {
		p.compacter = c
		p.compacted = make(chan compaction, 1)
		// A store full at start may hold records deleted before it: it
		// is worth one compaction before any deletion of this process.
		p.deleted = 1
	}
	p.maxBytes.Store(maxBytes)
	p.checkSize()
	go p.run()
	return p
}

// run is the committer: it applies the batch whenever there is one, after
// gathering for the commit interval in batch mode. In DurabilityNone it
// applies without fsync and syncs within writeBehind of the first commit
// that was not synced.
//
// While the store is over its size limit, the committer also checks the
// size every sizeCheckEvery, commits or not, and compacts the store (see
// watchSize): once the queues drain, QoS 1 and 2 messages are accepted
// again without waiting for a write that may never come.
func (p *persister) run() {
	defer close(p.done)
	var last time.Time          // when the last commit began
	var behind <-chan time.Time // DurabilityNone: when unsynced commits are due on disk
	// recheck is the timer of the next size check while the store is
	// full, which it may be from the start.
	recheck := p.watchSize(nil)
	for {
		select {
		case <-p.kick:
		case <-behind:
			behind = nil
			p.syncBehind()
			continue
		case <-timerC(recheck):
			recheck = nil
			p.checkSize()
			recheck = p.watchSize(recheck)
			continue
		case c := <-p.compacted:
			p.compactionEnded(c)
			continue
		case <-p.stop:
			p.stopCompaction()
			p.commit(true)
			return
		}
		// Batch mode commits at most once per interval: after a quiet
		// spell the first write commits at once, under load writes gather
		// until the interval since the last commit has passed. Waiters
		// with nothing new to write wait for nobody: they only keep their
		// order, and run at once (a SUBACK of a clean session, the PUBACK
		// of a message no persistent session takes).
		if wait := time.Until(last.Add(p.interval)); p.mode != DurabilitySync && wait > 0 && p.unwritten() {
			select {
			case <-time.After(wait):
			case <-p.stop:
				p.stopCompaction()
				p.commit(true)
				return
			}
		}
		last = time.Now()
		p.commit(p.mode != DurabilityNone)
		if p.unsynced && behind == nil {
			behind = time.After(writeBehind)
		}
		recheck = p.watchSize(recheck)
	}
}

// writeBehind bounds how long a write of DurabilityNone stays in the
// process: Pebble keeps a small unsynced write in its own buffer, which a
// crash loses however old it is, until something syncs the log.
const writeBehind = time.Second

// syncBehind makes the commits applied without fsync durable: it commits
// what is appended with fsync, or, when nothing is, a store.Meta record of
// the time, which syncs the log that holds them.
func (p *persister) syncBehind() {
	if !p.unsynced {
		return
	}
	if p.unwritten() {
		p.commit(true)
		return
	}
	var b store.Batch
	b.Set(store.Meta, writtenKey, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	if err := p.st.Apply(&b, true); err != nil {
		p.log.Error("store sync failed", "err", err)
		return
	}
	p.unsynced = false
}

// writtenKey is the store.Meta record syncBehind writes: when the store
// was last synced behind the acknowledgements.
const writtenKey = "written_behind"

// unwritten reports whether writes are waiting for a commit.
func (p *persister) unwritten() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.appended != p.committed
}

// commit applies what has been appended, then runs the waiters it
// satisfies, in order, until none is left: waiters that come while it runs
// callbacks wait for it rather than overtake the callbacks before them.
func (p *persister) commit(sync bool) {
	// The exclusive group lock makes sure no group of writes that must be
	// applied together is half in the batch.
	p.group.Lock()
	p.mu.Lock()
	p.group.Unlock()
	if p.batch.Len() > 0 {
		b := p.batch
		p.batch, p.spare = p.spare, store.Batch{}
		p.gen++
		seq := p.appended
		ids := p.pendingIDs
		p.pendingIDs = nil
		p.applying = &b
		p.mu.Unlock()

		start := time.Now()
		err := p.st.Apply(&b, sync)
		p.commits.observe(time.Since(start))
		if err != nil {
			p.log.Error("store write failed", "writes", b.Len(), "err", err)
		} else if p.compacter != nil && p.maxBytes.Load() > 0 {
			p.countDeletions(&b)
		}
		p.unsynced = !sync || (err != nil && p.unsynced)
		p.checkSize()

		p.mu.Lock()
		p.applying = nil
		if b.Len() <= maxSpareWrites {
			b.Reset()
			p.spare = b
		}
		if err != nil {
			p.failedAt, p.failedErr = seq, err
		}
		p.committed = seq
		p.lastErr = err
		for _, id := range ids {
			if pb := p.pending[id]; pb.n > 1 {
				pb.n--
				p.pending[id] = pb
			} else {
				delete(p.pending, id)
			}
		}
	}
	for {
		n := 0
		for n < len(p.waiters) && p.waiters[n].seq <= p.committed {
			n++
		}
		if n == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		ready := make([]waiter, n)
		copy(ready, p.waiters[:n])
		rest := copy(p.waiters, p.waiters[n:])
		clear(p.waiters[rest:])
		p.waiters = p.waiters[:rest]
		p.running = true
		for i := range ready {
			if ready[i].err = p.lastErr; ready[i].err == nil {
				ready[i].err = p.failedSinceLocked(ready[i].from)
			}
		}
		p.mu.Unlock()
		for _, w := range ready {
			w.fn(w.err)
		}
		p.mu.Lock()
	}
}

// maxSpareWrites is the largest batch whose memory the committer keeps for
// the next: a burst's batch is left to the collector.
const maxSpareWrites = 4096

// appendedLocked notes that writes were added to the batch and wakes the
// committer. The caller holds p.mu.
func (p *persister) appendedLocked() {
	p.appended++
	p.marked.Store(p.appended)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// whenDurable runs fn once every write appended so far is applied (and, in
// sync and batch modes, on disk): at once when there is nothing to wait
// for, or in DurabilityNone. Callbacks run in the order they were given.
// The caller must hold no session lock: fn may run at once.
//
// fn gets the error of the batch that completed the wait. That is the
// error of the caller's own writes only when they were still in p.batch:
// a caller that wrote outside a group uses whenWritten.
func (p *persister) whenDurable(fn func(error)) {
	p.whenWritten(noMark, fn)
}

// mark returns the number of writes appended so far. A caller takes it
// before writing, outside a group, and passes it to whenWritten or
// deferLocked: its writes are those after the mark.
func (p *persister) mark() uint64 {
	return p.marked.Load()
}

// whenWritten is whenDurable for a caller whose writes came after mark
// from: fn also gets the error of a batch holding writes after from that
// failed before the wait, even one that failed before whenWritten was
// called, when whenDurable would find nothing left to wait for. It errs on
// the side of failure: a failed batch that held only other callers'
// writes after from is reported too, and a caller told of a failure
// takes its change back rather than acknowledge what the store may not
// hold.
func (p *persister) whenWritten(from uint64, fn func(error)) {
	if p.mode == DurabilityNone {
		fn(nil)
		return
	}
	p.mu.Lock()
	if p.idleLocked() {
		err := p.failedSinceLocked(from)
		p.mu.Unlock()
		fn(err)
		return
	}
	p.waitLocked(from, fn)
	p.mu.Unlock()
}

// settled reports whether whenWritten(from, fn) would run fn at once, and
// with which error; the caller then runs it, with nothing allocated for fn.
func (p *persister) settled(from uint64) (now bool, err error) {
	if p.mode == DurabilityNone {
		return true, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idleLocked() {
		return true, p.failedSinceLocked(from)
	}
	return false, nil
}

// failedSinceLocked returns the error of the last batch that failed when
// it held writes after mark from, nil otherwise. Every batch that failed
// with such writes ended at or before the last one. The caller holds p.mu.
func (p *persister) failedSinceLocked(from uint64) error {
	if from < p.failedAt {
		return p.failedErr
	}
	return nil
}

// wait blocks until every write appended so far is durable, as
// whenDurable defines it, and returns the error of the store write that
// held the last of them, if it failed. The caller must hold no session
// lock and no group.
func (p *persister) wait() error {
	return p.waitSince(noMark)
}

// waitSince is wait for a caller whose writes came after mark from, as
// whenWritten defines it.
func (p *persister) waitSince(from uint64) error {
	done := make(chan error, 1)
	p.whenWritten(from, func(err error) { done <- err })
	return <-done
}

// deferLocked is whenWritten for callers that hold a session lock: when
// fn must wait, or must be told of a failure, it registers fn and reports
// true; otherwise it reports false and the caller acts at once. from is
// the mark of the caller's writes (noMark for none).
func (p *persister) deferLocked(from uint64, fn func(error)) bool {
	if p.mode == DurabilityNone {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idleLocked() && (p.closed || p.failedSinceLocked(from) == nil) {
		return false
	}
	// A failure is told through the committer, which runs fn without the
	// caller's lock: the kick makes it run the waiters that are due.
	p.waitLocked(from, fn)
	return true
}

// idleLocked reports whether everything appended is applied and no
// callback waits or runs. The caller holds p.mu.
func (p *persister) idleLocked() bool {
	return p.closed || (p.appended == p.committed && len(p.waiters) == 0 && !p.running)
}

func (p *persister) waitLocked(from uint64, fn func(error)) {
	p.waiters = append(p.waiters, waiter{seq: p.appended, from: from, fn: fn})
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// beginGroup and endGroup bracket writes that must reach the store in one
// batch, such as a QoS 2 message's receipt and its queue entries. Groups
// may run at once; the committer waits for those open to end.
func (p *persister) beginGroup() { p.group.RLock() }

func (p *persister) endGroup() { p.group.RUnlock() }

// close commits what is left and stops the committer.
func (p *persister) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done
}

// Keys. A queue entry is keyed by client id, a zero byte (which no MQTT
// string holds [MQTT-1.5.4-2]) and its big-endian sequence number, so that
// a session's entries are contiguous and in order.

func queuePrefix(clientID string) string { return clientID + "\x00" }

func queueKey(clientID string, seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return queuePrefix(clientID) + string(b[:])
}

func parseQueueKey(key string) (clientID string, seq uint64, err error) {
	if len(key) < 9 || key[len(key)-9] != 0 {
		return "", 0, fmt.Errorf("malformed queue key %q", key)
	}
	return key[:len(key)-9], binary.BigEndian.Uint64([]byte(key[len(key)-8:])), nil
}

func messageKey(id MsgID) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], id.Node)
	binary.BigEndian.PutUint64(b[4:], id.Seq)
	return string(b[:])
}

// putSessionLocked writes the record of a persistent session: its subscriptions
// and the QoS 2 packet ids it has received. The caller holds sess.mu.
func (p *persister) putSessionLocked(sess *session) {
	if p.discards {
		return // nothing to encode for a store that keeps nothing
	}
	rec := SessionState{ClientID: sess.id, Will: sess.will, ExpiryInterval: sess.expiry,
		Online: sess.conn != nil || sess.startSeq != 0}
	if sess.will != nil {
		rec.WillDelay = sess.willDelay
	}
	if !sess.anyUser {
		u := sess.username
		rec.Username = &u
	}
	if !sess.expiresAt.IsZero() {
		rec.ExpiresAt = sess.expiresAt.Unix()
	}
	if !sess.willAt.IsZero() {
		// Rounded up: a will is never published before its delay ends.
		rec.WillAt = sess.willAt.Add(time.Second - 1).Unix()
	}
	for sub := range sess.subs.all() {
		rec.Subscriptions = append(rec.Subscriptions, sub)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		p.log.Error("cannot encode session", "client_id", sess.id, "err", err)
		return
	}
	p.mu.Lock()
	p.batch.Set(store.Sessions, sess.id, b)
	p.appendedLocked()
	p.mu.Unlock()
}

// deleteSessionLocked removes a session's record and queue entries,
// dropping their references to stored messages: those of entries, and
// those of the entries the session keeps in the store alone, which it
// reads back for that. The caller holds sess.mu or owns sess.
func (p *persister) deleteSessionLocked(sess *session, entries []*outbound) {
	if sess.spilled > 0 {
		spilled, err := p.readQueue(sess.id, sess.spillFrom, sess.spilled)
		if err != nil {
			// Their message bodies stay until the next start, which
			// removes what no entry refers to.
			p.log.Error("cannot read the queue of an ended session", "client_id", sess.id, "err", err)
		}
		entries = append(entries, spilled...)
		sess.spilled = 0
	}
	p.mu.Lock()
	p.batch.Delete(store.Sessions, sess.id)
	p.batch.DeletePrefix(store.Queues, queuePrefix(sess.id))
	p.batch.DeletePrefix(store.Incoming, queuePrefix(sess.id))
	for _, ob := range entries {
		ob.stored = false
		if ob.hasRef {
			ob.hasRef = false
			p.unrefLocked(ob.msgID)
		}
	}
	p.appendedLocked()
	p.mu.Unlock()
}

// incomingKey keys a received QoS 2 packet id of a session.
func incomingKey(clientID string, id uint16) string {
	return queuePrefix(clientID) + string([]byte{byte(id >> 8), byte(id)})
}

// putIncomingLocked records that the session's client sent the QoS 2
// packet id; deleteIncomingLocked that it released it. Each is one small
// write rather than the whole session record. The caller holds sess.mu.
func (p *persister) putIncomingLocked(sess *session, id uint16) {
	if p.discards {
		return
	}
	p.mu.Lock()
	p.batch.Set(store.Incoming, incomingKey(sess.id, id), nil)
	p.appendedLocked()
	p.mu.Unlock()
}

func (p *persister) deleteIncomingLocked(sess *session, id uint16) {
	if p.discards {
		return
	}
	p.mu.Lock()
	p.batch.Delete(store.Incoming, incomingKey(sess.id, id))
	p.appendedLocked()
	p.mu.Unlock()
}

// putEntryLocked writes the queue entry of ob for sess, and the message
// body the first time an entry refers to it. The caller holds sess.mu.
func (p *persister) putEntryLocked(sess *session, ob *outbound) {
	b := encodeEntry(ob)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.appendEntryLocked(sess, ob, b)
}

// encodeEntry returns the queue entry of ob as the store keeps it.
func encodeEntry(ob *outbound) []byte {
	rec := ob.state()
	rec.Message = nil
	return appendEntry(make([]byte, 0, 48+len(rec.Shared)+5*len(rec.Identifiers)), &rec)
}

// appendEntryLocked is putEntryLocked with the entry encoded (b) for a
// caller that holds p.mu too.
func (p *persister) appendEntryLocked(sess *session, ob *outbound, b []byte) {
	if !ob.hasRef && ob.msg != nil {
		if p.refs[ob.msgID] == 0 {
			body, err := appendMessage(nil, ob.msg)
			if err != nil {
				p.log.Error("cannot encode message", "topic", ob.msg.Topic, "err", err)
				return
			}
			p.batch.Set(store.Messages, messageKey(ob.msgID), body)
			p.keepRecentLocked(ob.msgID, ob.msg)
			pb := p.pending[ob.msgID]
			p.pending[ob.msgID] = pendingBody{msg: ob.msg, n: pb.n + 1, op: p.batch.Len(), gen: p.gen}
			p.pendingIDs = append(p.pendingIDs, ob.msgID)
		}
		p.refs[ob.msgID]++
		ob.hasRef = true
	}
	if ob.stored {
		if ob.op != 0 && ob.opGen == p.gen {
			p.batch.Cancel(ob.op - 1) // this write replaces it
		} else {
			// An earlier write may be in the store: one read back from
			// there, or one a batch already taken holds.
			ob.flushed = true
		}
	}
	ob.stored = true
	p.batch.Set(store.Queues, queueKey(sess.id, ob.seq), b)
	ob.op, ob.opGen = p.batch.Len(), p.gen
	p.appendedLocked()
	ob.writtenAt = p.appended
}

// deleteEntryLocked removes the queue entry of ob. The caller holds
// sess.mu.
func (p *persister) deleteEntryLocked(sess *session, ob *outbound) {
	if !ob.stored {
		return
	}
	p.mu.Lock()
	if ob.op != 0 && ob.opGen == p.gen && !ob.flushed {
		// Every write of the entry is still in the batch: taking the
		// last back leaves the store as if the entry had never been,
		// which it need not learn of. So a message its client
		// acknowledges before the next commit costs the store nothing.
		p.batch.Cancel(ob.op - 1)
	} else {
		p.batch.Delete(store.Queues, queueKey(sess.id, ob.seq))
	}
	ob.op = 0
	ob.stored = false
	if ob.hasRef {
		ob.hasRef = false
		p.unrefLocked(ob.msgID)
	}
	p.appendedLocked()
	p.freeLocked(sess, ob, p.appended)
	p.mu.Unlock()
}

// dropRefLocked lets ob's entry stop holding its message body, once the
// client has sent PUBREC for it. The caller holds sess.mu and rewrites the
// entry after.
func (p *persister) dropRefLocked(ob *outbound) {
	if !ob.hasRef {
		return
	}
	p.mu.Lock()
	ob.hasRef = false
	p.unrefLocked(ob.msgID)
	p.mu.Unlock()
}

// unrefLocked drops one reference to a stored message and deletes its body
// with the last. The caller holds p.mu.
func (p *persister) unrefLocked(id MsgID) {
	n := p.refs[id] - 1
	if n > 0 {
		p.refs[id] = n
		return
	}
	delete(p.refs, id)
	if pb := p.pending[id]; pb.op != 0 && pb.gen == p.gen {
		// The body is written in this batch: before that write the
		// store had none (a body is written only when its first
		// reference comes), so taking the write back is enough.
		p.batch.Cancel(pb.op - 1)
		pb.op = 0
		p.pending[id] = pb
		return
	}
	p.batch.Delete(store.Messages, messageKey(id))
}

// setRetained writes or clears the retained message of a topic.
func (p *persister) setRetained(topic string, msg *Message) {
	if p.discards {
		return
	}
	var b []byte
	if msg != nil {
		var err error
		if b, err = appendMessage(nil, msg); err != nil {
			p.log.Error("cannot encode retained message", "topic", topic, "err", err)
			return
		}
	}
	p.mu.Lock()
	if msg == nil {
		p.batch.Delete(store.Retained, topic)
	} else {
		p.batch.Set(store.Retained, topic, b)
	}
	p.appendedLocked()
	p.mu.Unlock()
}

// errBadRecord marks a record the store returned but the broker could not
// decode.
var errBadRecord = errors.New("undecodable record")

// errEnough ends a Scan that has found what it looks for.
var errEnough = errors.New("enough")

// readQueue returns up to limit of clientID's queued entries (those not
// sent: entries in flight are skipped) with a sequence number from from
// on, in order, with their messages not loaded. It reads the store and
// the batches not yet applied, which come after what the store holds, so
// it sees every entry appended so far. p.ranger must not be nil. The
// caller holds the session's lock, so that no entry of the session is
// appended meanwhile.
func (p *persister) readQueue(clientID string, from uint64, limit int) ([]*outbound, error) {
	prefix := queuePrefix(clientID)
	// pending maps the sequence numbers written by batches not yet applied
	// to their last value, nil for a deletion.
	pending := make(map[uint64][]byte)
	fromStore := true
	p.mu.Lock()
	appended := p.appended
	for _, b := range []*store.Batch{p.applying, &p.batch} {
		if b == nil {
			continue
		}
		for _, op := range b.Ops() {
			if op.Bucket != store.Queues {
				continue
			}
			if op.Kind == store.OpDeletePrefix {
				if strings.HasPrefix(prefix, op.Key) {
					// What the store holds of the session is on its way out.
					clear(pending)
					fromStore = false
				}
				continue
			}
			id, seq, err := parseQueueKey(op.Key)
			if err != nil || id != clientID || seq < from {
				continue
			}
			if op.Kind == store.OpSet {
				// The batch's values are never changed once set.
				pending[seq] = op.Value
			} else {
				pending[seq] = nil
			}
		}
	}
	p.mu.Unlock()

	var out []*outbound
	if fromStore {
		err := p.ranger.ScanFrom(store.Queues, prefix, queueKey(clientID, from), func(key string, v []byte) error {
			_, seq, err := parseQueueKey(key)
			if err != nil {
				return err
			}
			if _, ok := pending[seq]; ok {
				return nil // the batch's value is newer
			}
			ob, err := queuedEntry(seq, v)
			if err != nil || ob == nil {
				return err
			}
			if out = append(out, ob); len(out) == limit {
				return errEnough
			}
			return nil
		})
		if err != nil && err != errEnough {
			return nil, fmt.Errorf("read the queue of %q: %w", clientID, err)
		}
	}
	for seq, v := range pending {
		if v == nil {
			continue
		}
		ob, err := queuedEntry(seq, v)
		if err != nil {
			return nil, fmt.Errorf("read the queue of %q: %w", clientID, err)
		}
		if ob != nil {
			ob.writtenAt = appended // durable once what was appended then is
			out = append(out, ob)
		}
	}
	slices.SortFunc(out, func(a, b *outbound) int { return cmp.Compare(a.seq, b.seq) })
	if len(out) > limit {
		clear(out[limit:])
		out = out[:limit]
	}
	return out, nil
}

// queuedEntry decodes the stored queue entry seq, value v, as an outbound
// message whose body is still to be loaded; it returns nil for an entry
// in flight, which the session holds in memory.
func queuedEntry(seq uint64, v []byte) (*outbound, error) {
	var rec OutboundState
	if err := decodeEntry(v, &rec); err != nil {
		return nil, fmt.Errorf("queue entry %d: %w", seq, err)
	}
	if rec.PacketID != 0 {
		return nil, nil
	}
	return entryOutbound(seq, &rec), nil
}

// entryOutbound makes the outbound message of a stored queue entry.
func entryOutbound(seq uint64, rec *OutboundState) *outbound {
	ob := &outbound{qos: rec.QoS, retain: rec.Retain, ids: rec.Identifiers, packetID: rec.PacketID,
		released: rec.Released, seq: seq, msgID: rec.MessageID, stored: true, hasRef: !rec.Released, shared: rec.Shared}
	if rec.PacketID != 0 {
		ob.sentOn = sentBeforeStart
	}
	return ob
}

// loadMessage returns the stored message id: from the bodies not yet
// applied, or else from the store.
func (p *persister) loadMessage(id MsgID) (*Message, error) {
	p.mu.Lock()
	if pb, ok := p.pending[id]; ok {
		p.mu.Unlock()
		return pb.msg, nil
	}
	if m := p.recentByID[id]; m != nil {
		p.mu.Unlock()
		return m, nil
	}
	p.mu.Unlock()
	b, err := p.st.Get(store.Messages, messageKey(id))
	if err != nil {
		return nil, fmt.Errorf("load message %d/%d: %w", id.Node, id.Seq, err)
	}
	m, err := decodeMessage(b)
	if err != nil {
		return nil, fmt.Errorf("decode message %d/%d: %w: %w", id.Node, id.Seq, errBadRecord, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if other := p.recentByID[id]; other != nil {
		return other, nil // another session read it meanwhile
	}
	p.keepRecentLocked(id, m)
	return m, nil
}

// recentBytes bounds the memory of the messages the persister keeps after
// storing them (persister.recent).
const recentBytes = 4 << 20

// messageOverhead is about what a Message takes in memory beyond its topic
// and payload.
const messageOverhead = 160

// keepRecentLocked keeps m, the message of the stored body id, among the
// recent ones, letting the oldest go beyond recentBytes. The caller holds
// p.mu.
func (p *persister) keepRecentLocked(id MsgID, m *Message) {
	if m.ID != id {
		return // the ring finds messages by their own id
	}
	if p.recentByID[id] != nil {
		return
	}
	p.recent = append(p.recent, m)
	p.recentByID[id] = m
	p.recentSize += messageOverhead + len(m.Topic) + len(m.Payload)
	for p.recentSize > recentBytes && p.recentHead < len(p.recent) {
		old := p.recent[p.recentHead]
		p.recent[p.recentHead] = nil
		p.recentHead++
		p.recentSize -= messageOverhead + len(old.Topic) + len(old.Payload)
		if p.recentByID[old.ID] == old {
			delete(p.recentByID, old.ID)
		}
	}
	if p.recentHead > 1024 && p.recentHead > len(p.recent)/2 {
		n := copy(p.recent, p.recent[p.recentHead:])
		clear(p.recent[n:])
		p.recent = p.recent[:n]
		p.recentHead = 0
	}
}

func parseMessageKey(key string) (MsgID, error) {
	if len(key) != 12 {
		return MsgID{}, fmt.Errorf("malformed message key %x", key)
	}
	b := []byte(key)
	return MsgID{Node: binary.BigEndian.Uint32(b[:4]), Seq: binary.BigEndian.Uint64(b[4:])}, nil
}
