package main

import (
	"testing"
	"time"

	"github.com/midgemq/midge/internal/syncbuf"
)

// syncBuffer collects what a process or goroutine writes while the test
// reads it.
type syncBuffer = syncbuf.Buffer

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// timeout returns a channel that is closed after seconds.
func timeout(t *testing.T, seconds int) <-chan time.Time {
	t.Helper()
	tm := time.NewTimer(time.Duration(seconds) * time.Second)
	t.Cleanup(func() { tm.Stop() })
	return tm.C
}
