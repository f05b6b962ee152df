package broker

import (
	"sync"
	"time"
)

// trimEvery is how often the trimmer looks at the connections whose output
// stopped with large buffers: their buffers go within a period of the last
// write, and a connection that streams with pauses grows them again at
// most once a period.
const trimEvery = time.Second

// trimmer lets go of the output buffers of connections whose output has
// stopped. A connection keeps its output buffers (up to keepBusy) from one
// write to the next, so that a stream of messages is not given a new
// buffer, grown step by step, for every write; once the stream has stopped,
// the buffers go back to the bounds of an idle connection at the next
// period. Its goroutine runs only while some connection waits to be
// trimmed.
type trimmer struct {
	// every is the period; zero means trimEvery.
	every time.Duration

	mu      sync.Mutex
	conns   []*conn
	running bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// add queues c, whose output has just stopped, for the next period.
func (t *trimmer) add(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.conns = append(t.conns, c)
	if !t.running {
		t.running = true
		if t.stop == nil {
			t.stop = make(chan struct{})
		}
		t.done = make(chan struct{})
		go t.run(t.done)
	}
}

// run trims the queued connections every period until none is queued or
// the trimmer closes.
func (t *trimmer) run(done chan struct{}) {
	defer close(done)
	every := t.every
	if every == 0 {
		every = trimEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-t.stop:
			return
		}
		t.mu.Lock()
		due := t.conns
		t.conns = nil
		if len(due) == 0 {
			t.running = false
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
		for _, c := range due {
			c.trimIdle()
		}
	}
}

// close stops the trimmer's goroutine; buffers are no longer trimmed.
func (t *trimmer) close() {
	t.mu.Lock()
	if t.running && !t.closed {
		close(t.stop)
	}
	t.closed = true
	done := t.done
	t.mu.Unlock()
	if done != nil {
		<-done
	}
	t.mu.Lock()
	t.running = false
	t.conns = nil
	t.mu.Unlock()
}

// queueTrimLocked queues c with the trimmer when its output, which has
// just stopped, left it with buffers larger than an idle connection keeps.
// The caller holds c.wmu.
func (c *conn) queueTrimLocked() {
	if c.trimQueued || (cap(c.spare) <= keepSpare/4 && cap(c.out) <= keepSpare) {
		return
	}
	c.trimQueued = true
	c.trimAt = c.writes
	c.srv.trims.add(c)
}

// trimIdle lets go of c's large output buffers unless it has written since
// it was queued; a connection still streaming is queued again the next time
// its output stops.
func (c *conn) trimIdle() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.trimQueued = false
	if c.writes != c.trimAt || c.flushing || len(c.out) > 0 {
		return
	}
	if cap(c.spare) > keepSpare/4 {
		c.spare = nil
	}
	if cap(c.out) > keepSpare {
		c.out = nil
	}
}
