package broker

import (
	"context"
	"errors"
	"time"

	"github.com/midgemq/midge/store"
)

// The store's size limit (Options.MaxStoreBytes). The committer compares
// the store's size with the limit after a commit, at most every
// sizeCheckEvery, and sets persister.full while it is over: publish
// refuses QoS 1 and 2 messages then. Two things could keep the store full
// after its queues drain, and the committer answers each:
//
//   - No message is accepted, so commits are rare (acknowledgements of the
//     messages drained), and a check that only followed commits could miss
//     the last drop below the limit. A timer checks every sizeCheckEvery
//     instead; it exists only while the store is full.
//   - A log-structured store (Pebble) keeps the space of deleted records
//     until its compactions rewrite the files that hold them, and writes
//     each deletion as a record too: draining the queues makes the store
//     bigger at first. So a store.Compacter is compacted, in a goroutine
//     of the committer's, once something was deleted since the last
//     compaction began.
//
// A compaction rewrites every live record, so however small the deletions,
// the next begins at least nine times as long after the last ended as it
// took, and at least compactGap after it: it takes at most a tenth of the
// disk's time. Weighing what was deleted, in bytes, was the alternative:
// the broker does not know the size of what a deletion removes (a session's
// whole queue, a message body it no longer holds), and an estimate from
// the store's files misses what is still in memory.

// sizeCheckEvery is how often the store's size is compared with its limit.
const sizeCheckEvery = 100 * time.Millisecond

// compactGap is the least time between the end of a compaction of a full
// store and the beginning of the next.
const compactGap = time.Second

// compaction is what a compaction of the store reports when it ends.
type compaction struct {
	took time.Duration
	err  error
}

// checkSize updates full from the store's size. It runs on the committer.
func (p *persister) checkSize() {
	limit := p.maxBytes.Load()
	if limit <= 0 {
		if p.full.Swap(false) {
			p.log.Info("store size limit removed: QoS 1 and 2 messages are accepted again")
		}
		return
	}
	sz, ok := p.st.(store.Sizer)
	if !ok || time.Since(p.lastCheck) < sizeCheckEvery {
		return
	}
	p.lastCheck = time.Now()
	n, err := sz.DiskSize()
	if err != nil {
		p.log.Error("cannot tell the store's size", "err", err)
		return
	}
	full := n >= limit
	if p.full.Swap(full) != full {
		if full {
			p.log.Warn("store full: QoS 1 and 2 messages are refused", "bytes", n, "max_bytes", limit)
		} else {
			p.log.Info("store below its limit again", "bytes", n, "max_bytes", limit)
		}
	}
}

// watchSize runs on the committer after each commit and size check: while
// the store is full it starts a compaction when one is due, and returns
// the timer of the next size check, recheck if it is still running or a
// new one; otherwise it stops recheck and returns nil.
func (p *persister) watchSize(recheck *time.Timer) *time.Timer {
	if !p.full.Load() {
		if recheck != nil {
			recheck.Stop()
		}
		return nil
	}
	p.maybeCompact()
	if recheck == nil {
		recheck = time.NewTimer(sizeCheckEvery)
	}
	return recheck
}

// timerC returns t's channel, nil (which blocks for ever) for a nil t.
func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// countDeletions adds the deletions of b, just applied, to p.deleted. It
// runs on the committer.
func (p *persister) countDeletions(b *store.Batch) {
	for _, op := range b.Ops() {
		if op.Kind == store.OpDelete || op.Kind == store.OpDeletePrefix {
			p.deleted++
		}
	}
}

// maybeCompact starts a compaction of the full store when the store can
// compact, none runs, something was deleted since the last began, and the
// last ended long enough ago. It runs on the committer.
func (p *persister) maybeCompact() {
	if p.compacter == nil || p.compacting != nil || p.deleted == 0 || time.Now().Before(p.nextCompact) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.compacting = cancel
	p.log.Debug("compacting the full store to give back the space of deleted records", "deletions", p.deleted)
	p.deleted = 0
	c := p.compacter
	done := p.compacted
	go func() {
		start := time.Now()
		err := c.Compact(ctx)
		done <- compaction{took: time.Since(start), err: err}
	}()
}

// compactionEnded notes the end of the compaction that reported c. It runs
// on the committer.
func (p *persister) compactionEnded(c compaction) {
	p.compacting()
	p.compacting = nil
	p.nextCompact = time.Now().Add(max(compactGap, 9*c.took))
	switch {
	case errors.Is(c.err, context.Canceled):
		// Stopped by stopCompaction: the broker is shutting down.
	case c.err != nil:
		p.log.Error("store compaction failed", "took", c.took, "err", c.err)
	default:
		p.log.Info("store compacted", "took", c.took)
	}
}

// stopCompaction cancels the compaction running, if one is, and waits for
// it to end. It runs on the committer.
func (p *persister) stopCompaction() {
	if p.compacting == nil {
		return
	}
	p.compacting()
	p.compactionEnded(<-p.compacted)
}

// diskSize returns the bytes the store takes on disk, or -1 when it cannot
// tell: it is no store.Sizer, or it failed (closed, say).
func (p *persister) diskSize() int64 {
	sz, ok := p.st.(store.Sizer)
	if !ok {
		return -1
	}
	n, err := sz.DiskSize()
	if err != nil {
		return -1
	}
	return n
}
