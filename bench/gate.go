package bench

import (
	"sync"
	"sync/atomic"
	"time"
)

// counters are the message figures of a run, updated by every client goroutine.
type counters struct {
	// sent counts PUBLISH packets written; acked those acknowledged (PUBACK, or PUBCOMP for QoS 2), refused those
	// acknowledged with a failure reason code (5.0).
	sent, acked, refused atomic.Int64
	// received counts deliveries to subscribers, duplicates among them those received before.
	received, duplicates atomic.Int64
}

// gate holds publishers back while too many deliveries are owed, for closed-loop runs.
//
// A publisher checks blocked before each message and calls wait when it is. A subscriber calls delivered after
// each delivery, which wakes the waiting publishers once the owed count is back at the limit. The check is two
// atomic loads; the lock is taken only to wait and to wake.
type gate struct {
	n *counters
	// limit is Config.Owed; 0 means the gate is always open.
	limit int64
	// fan is the number of deliveries a message sent owes.
	fan int64
	// writtenOff counts deliveries given up on: when they stop coming (QoS 0 loss), the publishers would wait
	// for ever otherwise.
	writtenOff atomic.Int64
	stalls     atomic.Int64

	waiting atomic.Int32
	// mu guards waiters, the wake channels of the waiting publishers.
	mu      sync.Mutex
	waiters []chan struct{}
}

// owed returns the deliveries owed: those the messages accepted so far owe, less those received or written off.
func (g *gate) owed() int64 {
	return (g.n.sent.Load()-g.n.refused.Load())*g.fan - g.n.received.Load() - g.writtenOff.Load()
}

// blocked reports whether a publisher must wait before its next message.
func (g *gate) blocked() bool {
	return g.limit > 0 && g.owed() > g.limit
}

// delivered counts one delivery and wakes the waiting publishers when the owed count is back at the limit.
func (g *gate) delivered() {
	g.n.received.Add(1)
	// A publisher registers in waiting before it checks the owed count for the last time, so either this load
	// sees it, or its check sees this delivery: no wake is lost.
	if g.waiting.Load() > 0 && g.owed() <= g.limit {
		g.wakeAll()
	}
}

func (g *gate) wakeAll() {
	g.mu.Lock()
	for _, w := range g.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	clear(g.waiters)
	g.waiters = g.waiters[:0]
	g.waiting.Store(0)
	g.mu.Unlock()
}

// leave removes wake from the waiters, if it is there.
func (g *gate) leave(wake chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, w := range g.waiters {
		if w == wake {
			g.waiters[i] = g.waiters[len(g.waiters)-1]
			g.waiters[len(g.waiters)-1] = nil
			g.waiters = g.waiters[:len(g.waiters)-1]
			g.waiting.Add(-1)
			return
		}
	}
}

// wait blocks until the gate opens, and reports false when stop or done closes first. When no delivery arrives
// for idle, the owed deliveries are written off and the wait counted as a stall.
func (g *gate) wait(wake chan struct{}, stop, done <-chan struct{}, t *time.Timer, idle time.Duration) bool {
	for {
		g.mu.Lock()
		g.waiters = append(g.waiters, wake)
		g.waiting.Add(1)
		g.mu.Unlock()
		if !g.blocked() {
			g.leave(wake)
			return true
		}
		before := g.n.received.Load()
		t.Reset(idle)
		select {
		case <-wake:
			t.Stop()
			// A token left by an earlier wake may be what woke this wait, with the registration still there.
			g.leave(wake)
		case <-stop:
			t.Stop()
			g.leave(wake)
			return false
		case <-done:
			t.Stop()
			g.leave(wake)
			return false
		case <-t.C:
			g.leave(wake)
			if g.n.received.Load() == before {
				g.writeOff()
			}
		}
	}
}

// writeOff gives up on the deliveries owed, when they have stopped coming, and wakes every waiting publisher. The
// lock keeps two publishers that time out together from writing the same deliveries off twice.
func (g *gate) writeOff() {
	g.mu.Lock()
	owed := g.owed()
	if owed > g.limit {
		g.writtenOff.Add(owed)
		g.stalls.Add(1)
	}
	g.mu.Unlock()
	g.wakeAll()
}
