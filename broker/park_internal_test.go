package broker

import (
	"sync"
	"testing"
	"time"
)

// parksUntilSteady counts the parks of a connection whose client sends
// every interval, until its wait before parking outlasts the interval (or
// 100 parks), and returns the count and the wait then.
func parksUntilSteady(s *Server, every time.Duration) (int, time.Duration) {
	c := &conn{srv: s}
	for parks := range 100 {
		wait := c.idleAfter()
		if wait >= every {
			return parks, wait
		}
		c.adaptIdle(int64(every - wait))
	}
	return 100, c.idleAfter()
}

func TestIdleWaitAdapts(t *testing.T) {
	s := &Server{opts: Options{IdleAfter: DefaultIdleAfter}}
	for _, tc := range []struct {
		every    time.Duration
		maxParks int
	}{
		{50 * time.Millisecond, 1},
		{200 * time.Millisecond, 3},
		{time.Second, 6},
	} {
		parks, wait := parksUntilSteady(s, tc.every)
		if parks > tc.maxParks {
			t.Errorf("a client sending every %s parked %d times before its wait (%s) outlasted the interval; want at most %d",
				tc.every, parks, wait, tc.maxParks)
		}
	}

	// A client quiet for longer than the longest wait parks every time, and
	// is back at the shortest wait after each long park.
	c := &conn{srv: s}
	for range 10 {
		c.adaptIdle(int64(5 * time.Second))
	}
	if got := c.idleAfter(); got != DefaultIdleAfter {
		t.Errorf("wait after long parks: %s, want %s", got, DefaultIdleAfter)
	}

	// The wait stops doubling at maxIdleFactor times IdleAfter.
	for range 20 {
		c.adaptIdle(0)
	}
	if got, want := c.idleAfter(), maxIdleFactor*DefaultIdleAfter; got != want {
		t.Errorf("longest wait: %s, want %s", got, want)
	}
}

// TestDoneChan checks the channel that tells a connection's end: a waiter
// from before the end is woken by it, one from after returns at once, many
// at once are all woken, and a connection nobody waited for made no
// channel of its own.
func TestDoneChan(t *testing.T) {
	c := &conn{}
	const waiters = 8
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-c.doneChan()
		}()
	}
	early := c.doneChan()
	select {
	case <-early:
		t.Fatal("done before the connection ended")
	default:
	}
	c.markDone()
	select {
	case <-early:
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter from before the end was not woken")
	}
	wg.Wait()
	select {
	case <-c.doneChan():
	default:
		t.Fatal("a waiter from after the end was not let through")
	}

	quiet := &conn{}
	quiet.markDone()
	if quiet.done.Load() != closedDone {
		t.Error("a connection nobody waited for made a channel of its own")
	}
	<-quiet.doneChan()
}
