package broker

import (
	"io"
	"log/slog"
	"testing"

	"github.com/midgemq/midge/store/memory"
	"github.com/midgemq/midge/topic"
)

// TestOfflineQueueHoldsNoMessages queues many messages for an offline
// persistent session and checks that only the next inflight window's worth
// keep their message in memory; the rest are in the store only.
func TestOfflineQueueHoldsNoMessages(t *testing.T) {
	srv, err := New(Options{Store: memory.New(), MaxQueued: 1 << 20, MaxInflight: 16,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	sess := newSession(srv, "away", true)
	sess.expiry = neverExpires
	srv.mu.Lock()
	srv.sessions["away"] = sess
	srv.mu.Unlock()
	sub := topic.Subscription{ClientID: "away", Filter: "q", QoS: 1}
	sess.subscribe(sub, 0)
	srv.router.Subscribe(sub)

	const n = 5000
	done := make(chan error, 1)
	for i := range n {
		var fn func(error)
		if i == n-1 {
			fn = func(err error) { done <- err }
		}
		srv.router.Publish(&Message{Topic: "q", QoS: 1, Payload: make([]byte, 1024)}, fn)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sess.mu.Lock()
	queued, held := sess.queueLenLocked(), 0
	for _, ob := range sess.queue[sess.qhead:] {
		if ob.msg != nil {
			held++
		}
	}
	sess.mu.Unlock()
	srv.persist.mu.Lock()
	pending := len(srv.persist.pending)
	srv.persist.mu.Unlock()
	if queued != n || held > 16 || pending != 0 {
		t.Fatalf("%d queued, %d holding their message (want at most 16), %d bodies pending", queued, held, pending)
	}
	// Each is read back from the store when its turn comes.
	for _, ob := range sess.queue[sess.qhead+16 : sess.qhead+20] {
		m, err := srv.persist.loadMessage(ob.msgID)
		if err != nil || len(m.Payload) != 1024 {
			t.Fatalf("load queued message: %v", err)
		}
	}
}
