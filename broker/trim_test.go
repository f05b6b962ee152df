package broker

import (
	"testing"
	"time"
)

// trimConn returns a connection of a server whose trimmer runs every
// millisecond, holding output buffers larger than an idle connection keeps.
func trimConn(t *testing.T) (*Server, *conn) {
	t.Helper()
	s := &Server{}
	s.trims.every = time.Millisecond
	t.Cleanup(s.trims.close)
	c := &conn{srv: s, spare: make([]byte, 0, keepBusy), out: make([]byte, 0, 2*keepSpare)}
	return s, c
}

// waitTrimmerIdle waits until the trimmer's goroutine has ended, which it
// does once it has trimmed every connection queued.
func waitTrimmerIdle(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.trims.mu.Lock()
		running := s.trims.running
		s.trims.mu.Unlock()
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the trimmer still runs with nothing to trim")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTrimmerLetsQuietBuffersGo(t *testing.T) {
	s, c := trimConn(t)
	small := &conn{srv: s, spare: make([]byte, 0, keepSpare/4), out: make([]byte, 0, keepSpare)}
	for _, c := range []*conn{c, small} {
		c.wmu.Lock()
		c.queueTrimLocked()
		c.wmu.Unlock()
	}
	if small.trimQueued {
		t.Error("a connection with small buffers was queued")
	}
	waitTrimmerIdle(t, s)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.spare != nil || c.out != nil || c.trimQueued {
		t.Errorf("after the trim: spare cap %d, out cap %d, queued %v; want no buffers, not queued",
			cap(c.spare), cap(c.out), c.trimQueued)
	}
	if cap(small.spare) != keepSpare/4 || cap(small.out) != keepSpare {
		t.Errorf("small buffers changed: spare cap %d, out cap %d", cap(small.spare), cap(small.out))
	}
}

func TestTrimmerKeepsStreamingBuffers(t *testing.T) {
	s, c := trimConn(t)
	c.wmu.Lock()
	c.queueTrimLocked()
	c.writes++ // a write came after the output stopped: it streams
	c.wmu.Unlock()
	waitTrimmerIdle(t, s)
	c.wmu.Lock()
	if cap(c.spare) != keepBusy || cap(c.out) != 2*keepSpare || c.trimQueued {
		t.Errorf("spare cap %d, out cap %d, queued %v; want the buffers kept and the connection no longer queued",
			cap(c.spare), cap(c.out), c.trimQueued)
	}
	// Stopped again: queued again, and trimmed this time.
	c.queueTrimLocked()
	c.wmu.Unlock()
	waitTrimmerIdle(t, s)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.spare != nil || c.out != nil {
		t.Errorf("spare cap %d, out cap %d after the second stop; want none", cap(c.spare), cap(c.out))
	}
}

func TestTrimmerClosed(t *testing.T) {
	s, c := trimConn(t)
	big := &conn{srv: s, spare: make([]byte, 0, keepBusy)}
	big.wmu.Lock()
	big.queueTrimLocked() // the trimmer runs
	big.wmu.Unlock()
	s.trims.close()
	s.trims.close() // a second close is harmless
	c.wmu.Lock()
	c.queueTrimLocked()
	c.wmu.Unlock()
	s.trims.mu.Lock()
	defer s.trims.mu.Unlock()
	if s.trims.running || len(s.trims.conns) != 0 {
		t.Errorf("a closed trimmer took a connection: running %v, %d queued", s.trims.running, len(s.trims.conns))
	}
}
