package broker

import (
	"io"
	"log/slog"
	"testing"

	"github.com/midgemq/midge/store/memory"
	"github.com/midgemq/midge/topic"
)

// TestPublishDoneAllocs: reporting a full queue to the publisher costs the
// publish path nothing while no queue is full: routing a QoS 1 message
// with a done function allocates no more than routing it without one.
func TestPublishDoneAllocs(t *testing.T) {
	// DurabilityNone runs done at once: what the committer allocates for
	// its waiters, counted by AllocsPerRun as well, stays out of the
	// figures.
	srv, err := New(Options{Store: memory.New(), Durability: DurabilityNone,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	sess := newSession(srv, "sub", false)
	srv.mu.Lock()
	srv.sessions["sub"] = sess
	srv.mu.Unlock()
	// A QoS 0 subscription of a session with no connection: the router
	// matches and delivers, the session refuses, nothing is kept.
	sub := topic.Subscription{ClientID: "sub", Filter: "a/+", QoS: 0}
	sess.subscribe(sub, 0)
	srv.router.Subscribe(sub)

	msg := &Message{Topic: "a/b", QoS: 1, Payload: []byte("x")}
	var acked int
	done := func(err error) {
		if err == nil {
			acked++
		}
	}
	// A collection empties the router's pool of scratch space, which the
	// next publish makes again: a measure that met one is taken again.
	var with, without float64
	for range 5 {
		without = testing.AllocsPerRun(100, func() { srv.router.Publish(msg, nil) })
		with = testing.AllocsPerRun(100, func() { srv.router.Publish(msg, done) })
		if with <= without {
			break
		}
	}
	if with > without {
		t.Fatalf("%.1f allocations per publish with a done function, %.1f without", with, without)
	}
	if acked == 0 {
		t.Fatal("done never called with success")
	}
}
