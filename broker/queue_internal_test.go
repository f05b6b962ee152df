package broker

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/midgemq/midge/store/memory"
	"github.com/midgemq/midge/store/pebble"
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

// TestReadQueueSeesUnappliedWrites reads a session's queue back while some
// of its entries are applied to the store and others wait in the batch, and
// after the session was deleted and made again under the same client id
// before the deletion was applied: readQueue returns exactly the live
// entries, in order.
func TestReadQueueSeesUnappliedWrites(t *testing.T) {
	st, err := pebble.Open(t.TempDir(), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	p := srv.persist
	sess := newSession(srv, "dev", true)
	put := func(seq uint64, inflight bool) {
		ob := &outbound{msg: &Message{ID: MsgID{Seq: seq}, Topic: "t", QoS: 1}, qos: 1, seq: seq, msgID: MsgID{Seq: seq}}
		if inflight {
			ob.packetID = uint16(seq)
		}
		p.putEntryLocked(sess, ob)
	}
	seqs := func(from uint64, limit int) []uint64 {
		t.Helper()
		obs, err := p.readQueue("dev", from, limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, ob := range obs {
			got = append(got, ob.seq)
		}
		return got
	}
	put(1, true)
	for seq := uint64(2); seq <= 5; seq++ {
		put(seq, false)
	}
	done := make(chan struct{})
	p.whenDurable(func(error) { close(done) })
	<-done
	// An open group keeps the committer from taking the batch.
	p.beginGroup()
	for seq := uint64(6); seq <= 9; seq++ {
		put(seq, false)
	}
	if got, want := seqs(0, 100), []uint64{2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("readQueue = %v, want %v", got, want)
	}
	if got, want := seqs(4, 3), []uint64{4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("readQueue from 4, 3 of them = %v, want %v", got, want)
	}
	p.deleteSessionLocked(sess, nil)
	put(1, false)
	put(2, false)
	if got, want := seqs(0, 100), []uint64{1, 2}; !slices.Equal(got, want) {
		t.Fatalf("after the deletion, readQueue = %v, want %v", got, want)
	}
	p.endGroup()
	done = make(chan struct{})
	p.whenDurable(func(error) { close(done) })
	<-done
	if got, want := seqs(0, 100), []uint64{1, 2}; !slices.Equal(got, want) {
		t.Fatalf("once applied, readQueue = %v, want %v", got, want)
	}
}
