package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
	"github.com/midgemq/midge/store/pebble"
)

// testStore is a store the restart tests run on, and how to reopen it as a
// restarted process would.
type testStore struct {
	name   string
	open   func(t *testing.T) store.Store
	reopen func(t *testing.T, s store.Store) store.Store
}

func testStores() []testStore {
	return []testStore{
		{"memory", func(*testing.T) store.Store { return memory.New() },
			func(_ *testing.T, s store.Store) store.Store { return s }},
		{"pebble", func(t *testing.T) store.Store {
			dir := t.TempDir()
			s, err := pebble.Open(dir, pebble.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			dirs.Store(s, dir)
			return s
		}, func(t *testing.T, s store.Store) store.Store {
			dir, _ := dirs.Load(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := pebble.Open(dir.(string), pebble.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s2.Close() })
			return s2
		}},
	}
}

// tempPebble opens a Pebble store in a new temporary directory, closed
// when the test ends.
func tempPebble(t *testing.T) *pebble.Store {
	t.Helper()
	st, err := pebble.Open(t.TempDir(), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// expectStoreEmpty waits up to d for st to hold no queue entry and no
// message body: every queued message was delivered and forgotten.
func expectStoreEmpty(t *testing.T, st store.Store, d time.Duration) {
	t.Helper()
	testbroker.Eventually(t, d, func() error {
		if q, m := count(t, st, store.Queues), count(t, st, store.Messages); q != 0 || m != 0 {
			return fmt.Errorf("%d entries and %d bodies left", q, m)
		}
		return nil
	})
}

// dirs maps the pebble stores of the tests to their directories.
var dirs sync.Map

// restart shuts b down, reopens its store st as a restarted process would,
// and starts a new broker on it.
func restart(t *testing.T, ts testStore, st store.Store, b *testbroker.Broker) *testbroker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return testbroker.Start(t, broker.Options{Store: ts.reopen(t, st)})
}

// TestStateCarriedByStore shuts a server down and starts another on the same
// store: persistent sessions (subscriptions, queued and inflight messages,
// QoS 2 state) and retained messages come back.
func TestStateCarriedByStore(t *testing.T) {
	for _, ts := range testStores() {
		t.Run(ts.name, func(t *testing.T) { testStateCarriedByStore(t, ts) })
	}
}

func testStateCarriedByStore(t *testing.T, ts testStore) {
	st := ts.open(t)
	b1 := testbroker.Start(t, broker.Options{Store: st})

	sub, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "keeper"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "inbox/#", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "pub"})
	pub.Send(&packet.Publish{Topic: "inbox/1", QoS: 1, PacketID: 1, Payload: []byte("inflight")})
	pub.Expect(packet.TypePuback)
	if p := sub.Expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "inflight" {
		t.Fatalf("got %q", p.Payload)
	}
	sub.Close() // unacknowledged: stays in flight
	// Wait until the broker has seen the connection go, so that the next
	// message is queued rather than sent.
	testbroker.Eventually(t, 2*time.Second, func() error {
		if b1.Stats().ConnectionsCurrent != 1 {
			return errNotYet
		}
		return nil
	})
	pub.Send(&packet.Publish{Topic: "inbox/2", QoS: 1, PacketID: 2, Payload: []byte("queued")})
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "config", QoS: 0, Retain: true, Payload: []byte("kept")})
	// A QoS 2 message received but not yet released.
	pub.Send(&packet.Publish{Topic: "inbox/3", QoS: 2, PacketID: 9, Payload: []byte("exactly once")})
	pub.Expect(packet.TypePubrec)
	testbroker.Eventually(t, 2*time.Second, func() error {
		if b1.Stats().Retained != 1 {
			return errNotYet
		}
		return nil
	})

	b2 := restart(t, ts, st, b1)
	back, ack := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "keeper"})
	if !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	want := []struct {
		payload string
		dup     bool
	}{{"inflight", true}, {"queued", false}, {"exactly once", false}}
	for _, w := range want {
		p := back.Expect(packet.TypePublish).(*packet.Publish)
		if string(p.Payload) != w.payload || p.Dup != w.dup {
			t.Fatalf("got %q dup=%v, want %q dup=%v", p.Payload, p.Dup, w.payload, w.dup)
		}
		back.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}

	// The publisher's unreleased QoS 2 id is still known: a re-sent PUBLISH
	// is not delivered twice.
	pub2, ack := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "pub"})
	if !ack.SessionPresent {
		t.Fatal("publisher session not present")
	}
	pub2.Send(&packet.Publish{Topic: "inbox/3", QoS: 2, PacketID: 9, Dup: true, Payload: []byte("exactly once")})
	pub2.Expect(packet.TypePubrec)
	pub2.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 9})
	pub2.Expect(packet.TypePubcomp)
	back.ExpectNothing(200 * time.Millisecond)

	r, _ := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "reader", CleanStart: true})
	r.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "config"}}})
	r.Expect(packet.TypeSuback)
	if p := r.Expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "kept" || !p.Retain {
		t.Fatalf("retained after restart %+v", p)
	}
}

// TestStoreWrittenThrough checks what the store holds while the server
// runs, without a shutdown: a message queued for several offline sessions
// is stored once, acknowledgements remove their entries, and an ended
// session leaves nothing behind.
func TestStoreWrittenThrough(t *testing.T) {
	st := memory.New()
	b := testbroker.Start(t, broker.Options{Store: st, Durability: broker.DurabilitySync})
	for _, id := range []string{"s1", "s2", "s3"} {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: id})
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "fan/out", QoS: 2}}})
		c.Expect(packet.TypeSuback)
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(2 * time.Second)
	}
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "fan/out", QoS: 2, PacketID: 1, Payload: []byte("once")})
	// With DurabilitySync the PUBREC comes after the store has the message.
	pub.Expect(packet.TypePubrec)
	if n := count(t, st, store.Messages); n != 1 {
		t.Fatalf("%d message bodies stored for one message to three sessions", n)
	}
	if n := count(t, st, store.Queues); n != 3 {
		t.Fatalf("%d queue entries, want 3", n)
	}
	if n := count(t, st, store.Sessions); n != 3 {
		t.Fatalf("%d session records, want 3", n)
	}

	// s1 takes its message, s2 takes it as far as PUBREC, s3 ends its
	// session.
	c1, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "s1"})
	p := c1.Expect(packet.TypePublish).(*packet.Publish)
	c1.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
	c1.Expect(packet.TypePubrel)
	c1.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
	c2, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "s2"})
	p = c2.Expect(packet.TypePublish).(*packet.Publish)
	c2.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
	c2.Expect(packet.TypePubrel)
	mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "s3", CleanStart: true})
	testbroker.Eventually(t, 2*time.Second, func() error {
		// s2's released entry stays, without the body; s1's and s3's go.
		if q, m, s := count(t, st, store.Queues), count(t, st, store.Messages), count(t, st, store.Sessions); q != 1 || m != 0 || s != 2 {
			return fmt.Errorf("%d entries, %d bodies, %d sessions; want 1, 0, 2", q, m, s)
		}
		return nil
	})
}

func count(t *testing.T, st store.Store, bucket store.Bucket) int {
	t.Helper()
	n := 0
	if err := st.Scan(bucket, "", func(string, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestQueueBeyondWindowLivesInStore queues more messages for an offline
// session than its inflight window holds: those beyond the window are read
// back from the store, in order, both in the same server and after a
// restart.
func TestQueueBeyondWindowLivesInStore(t *testing.T) {
	for _, ts := range testStores() {
		t.Run(ts.name, func(t *testing.T) { testQueueBeyondWindow(t, ts) })
	}
}

func testQueueBeyondWindow(t *testing.T, ts testStore) {
	st := ts.open(t)
	opts := broker.Options{Store: st, MaxInflight: 2}
	b1 := testbroker.Start(t, opts)
	c, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	pub, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	const n = 20
	for i := range n {
		pub.Send(&packet.Publish{Topic: "q", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "m%d", i)})
		pub.Expect(packet.TypePuback)
	}
	// Take half in this server, acknowledging as we go.
	c, _ = mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	for i := range n / 2 {
		p := c.Expect(packet.TypePublish).(*packet.Publish)
		if want := fmt.Sprintf("m%d", i); string(p.Payload) != want {
			t.Fatalf("got %q, want %q", p.Payload, want)
		}
		c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The rest after a restart: what was in flight comes again with DUP.
	st = ts.reopen(t, st)
	opts.Store = st
	b2 := testbroker.Start(t, opts)
	c, _ = mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	next := n / 2
	for next < n {
		p := c.Expect(packet.TypePublish).(*packet.Publish)
		got := string(p.Payload)
		switch {
		case got == fmt.Sprintf("m%d", next):
			next++
		case p.Dup:
			// A message sent in the first server and not acknowledged.
		default:
			t.Fatalf("got %q dup=%v, want m%d", got, p.Dup, next)
		}
		c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	expectStoreEmpty(t, st, 2*time.Second)
}

// TestWillSurvivesCrash: a persistent session's will is in the store while
// its connection lasts, so a server started on the store after a crash
// (here: while the first still runs, as if it had died) publishes it.
func TestWillSurvivesCrash(t *testing.T) {
	st := memory.New()
	b1 := testbroker.Start(t, broker.Options{Store: st})
	mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "device",
		Will: &packet.Will{Topic: "status/device", Payload: []byte("gone"), QoS: 1, Retain: true}})
	clean, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "tidy",
		Will: &packet.Will{Topic: "status/tidy", Payload: []byte("gone"), Retain: true}})
	clean.Send(&packet.Disconnect{})
	clean.ExpectClosed(2 * time.Second)
	// The will reaches the store within a commit of the CONNACK, and the
	// discarded one leaves it within a commit of the DISCONNECT.
	testbroker.Eventually(t, 2*time.Second, func() error {
		rec, err := st.Get(store.Sessions, "device")
		if err != nil || !strings.Contains(string(rec), "status/device") {
			return fmt.Errorf("will not stored yet: %w", err)
		}
		if rec, err := st.Get(store.Sessions, "tidy"); err != nil || strings.Contains(string(rec), "status/tidy") {
			return fmt.Errorf("discarded will still stored: %w", err)
		}
		return nil
	})

	b2 := testbroker.Start(t, broker.Options{Store: st})
	r, _ := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "reader", CleanStart: true})
	r.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "status/+"}}})
	r.Expect(packet.TypeSuback)
	p := r.Expect(packet.TypePublish).(*packet.Publish)
	if p.Topic != "status/device" || string(p.Payload) != "gone" || !p.Retain {
		t.Fatalf("got %q %q retain=%v, want the device's retained will", p.Topic, p.Payload, p.Retain)
	}
	// The will that a DISCONNECT discarded is not published [MQTT-3.1.2-10].
	r.ExpectNothing(200 * time.Millisecond)
}

// TestRouterPublishGivesIDs: messages an embedding program publishes get
// ids of their own, so that each keeps its own body in the store.
func TestRouterPublishGivesIDs(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxInflight: 1})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "inbox/+", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	for _, body := range []string{"first", "second", "third"} {
		b.Router().Publish(&broker.Message{Topic: "inbox/x", QoS: 1, Payload: []byte(body)}, nil)
	}
	c, _ = mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	for _, want := range []string{"first", "second", "third"} {
		p := c.Expect(packet.TypePublish).(*packet.Publish)
		if string(p.Payload) != want {
			t.Fatalf("got %q, want %q", p.Payload, want)
		}
		c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
}

// TestOldQoS2RecordMigrates: a session record of an earlier version that
// holds received QoS 2 packet ids loads, and the ids move to their own
// records, so that a later release is not undone by the old record.
func TestOldQoS2RecordMigrates(t *testing.T) {
	st := memory.New()
	var b store.Batch
	b.Set(store.Sessions, "old", []byte(`{"client_id":"old","incoming_qos2":[9],"expiry_interval":4294967295}`))
	if err := st.Apply(&b, true); err != nil {
		t.Fatal(err)
	}
	srv := testbroker.Start(t, broker.Options{Store: st})
	if n := count(t, st, store.Incoming); n != 1 {
		t.Fatalf("%d incoming records, want 1", n)
	}
	testbroker.Eventually(t, 2*time.Second, func() error {
		if rec, _ := st.Get(store.Sessions, "old"); strings.Contains(string(rec), "incoming_qos2") {
			return fmt.Errorf("session record still holds the ids: %s", rec)
		}
		return nil
	})
	// The id is known: a re-sent PUBLISH is not delivered again; PUBREL
	// releases it.
	c, _ := mqtttest.Connect(t, srv.Addr, packet.V311, &packet.Connect{ClientID: "old"})
	c.Send(&packet.Publish{Topic: "x", QoS: 2, PacketID: 9, Dup: true, Payload: []byte("again")})
	c.Expect(packet.TypePubrec)
	c.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 9})
	c.Expect(packet.TypePubcomp)
	testbroker.Eventually(t, 2*time.Second, func() error {
		if n := count(t, st, store.Incoming); n != 0 {
			return fmt.Errorf("%d incoming records after PUBREL", n)
		}
		return nil
	})
}

// qos2Delivered makes the persistent 3.1.1 session "q2sub", subscribed to
// "q2" at QoS 2, and has "q2pub" publish "once" there at QoS 2 through to
// PUBCOMP. It returns the subscriber's connection and the PUBLISH it got,
// not yet acknowledged.
func qos2Delivered(t *testing.T, addr string) (*mqtttest.Conn, *packet.Publish) {
	t.Helper()
	sub, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "q2sub"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q2", QoS: 2}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "q2pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "q2", QoS: 2, PacketID: 1, Payload: []byte("once")})
	pub.Expect(packet.TypePubrec)
	pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 1})
	pub.Expect(packet.TypePubcomp)
	return sub, sub.Expect(packet.TypePublish).(*packet.Publish)
}

// TestPendingPubrelAcrossRestart: a QoS 2 message the subscriber has
// received (PUBREC sent) but not completed is, after a restart, continued
// with PUBREL and not sent again as a PUBLISH [MQTT-4.4.0-1].
func TestPendingPubrelAcrossRestart(t *testing.T) {
	for _, ts := range testStores() {
		t.Run(ts.name, func(t *testing.T) {
			st := ts.open(t)
			b1 := testbroker.Start(t, broker.Options{Store: st})
			sub, p := qos2Delivered(t, b1.Addr)
			sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
			if rel := sub.Expect(packet.TypePubrel).(*packet.Ack); rel.PacketID != p.PacketID {
				t.Fatalf("PUBREL for %d, want %d", rel.PacketID, p.PacketID)
			}
			sub.Close() // PUBCOMP never sent: the PUBREL is pending

			b2 := restart(t, ts, st, b1)
			back, ack := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "q2sub"})
			if !ack.SessionPresent {
				t.Fatal("session not present after restart")
			}
			got, err := back.Read(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			rel, ok := got.(*packet.Ack)
			if !ok || rel.Kind != packet.TypePubrel || rel.PacketID != p.PacketID {
				t.Fatalf("after restart got %+v, want PUBREL %d", got, p.PacketID)
			}
			back.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
			back.ExpectNothing(300 * time.Millisecond)
		})
	}
}

// stuckStore is a memory store whose commits can be made to hang, as those
// of a broker about to be killed: once stuck, Apply hands its batch to
// hung and waits until the test ends, then fails without writing. A broker
// started on the memory store meanwhile finds what a broker killed then
// would have left.
type stuckStore struct {
	*memory.Store
	stuck atomic.Bool
	// stickOnQueue makes the store stuck from the first batch that writes
	// a queue entry.
	stickOnQueue atomic.Bool
	hung         chan *store.Batch
	release      chan struct{}
}

func newStuckStore() *stuckStore {
	return &stuckStore{Store: memory.New(), hung: make(chan *store.Batch, 1), release: make(chan struct{})}
}

func (s *stuckStore) Apply(b *store.Batch, sync bool) error {
	if s.stickOnQueue.Load() && slices.ContainsFunc(b.Ops(), func(op store.Op) bool { return op.Bucket == store.Queues }) {
		s.stuck.Store(true)
	}
	if !s.stuck.Load() {
		return s.Store.Apply(b, sync)
	}
	select {
	case s.hung <- b:
	default:
	}
	<-s.release
	return errors.New("stuck store: not written")
}

// TestPubrelOnResumeWaitsForStore: a client that sent PUBREC and then
// reconnects gets PUBREL (and CONNACK) only once the store knows of the
// PUBREC. Were the
// broker to send it before, and crash before the commit, it would send the
// PUBLISH again after the restart [MQTT-4.3.3-6] to a client that, having
// answered PUBREL with PUBCOMP, takes it as a new message [MQTT-4.3.3-12]:
// a QoS 2 message delivered twice.
func TestPubrelOnResumeWaitsForStore(t *testing.T) {
	st := newStuckStore()
	b1 := testbroker.Start(t, broker.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { close(st.release) }) // before b1 shuts down, its commits failing
	sub, p := qos2Delivered(t, b1.Addr)

	// The PUBREC's commit hangs: the client reconnects before it is done.
	st.stuck.Store(true)
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
	select {
	case b := <-st.hung:
		if !slices.ContainsFunc(b.Ops(), func(op store.Op) bool { return op.Bucket == store.Queues }) {
			t.Fatalf("the hung commit has no queue entry: %+v", b.Ops())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no commit after the PUBREC")
	}
	sub.Close()
	// The session's CONNACK waits for the commit that holds its record,
	// which comes after the hung one: neither CONNACK nor PUBREL reaches
	// the client while the store does not know of the PUBREC.
	again := mqtttest.Dial(t, b1.Addr, packet.V311)
	again.Send(&packet.Connect{ClientID: "q2sub"})
	again.ExpectNothing(300 * time.Millisecond)

	// The broker is killed now. The one that takes over sends the PUBLISH
	// again, which the client, with the packet id not released, knows.
	b2 := testbroker.Start(t, broker.Options{Store: st.Store})
	back, ack := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "q2sub"})
	if !ack.SessionPresent {
		t.Fatal("session not present after the crash")
	}
	dup := back.Expect(packet.TypePublish).(*packet.Publish)
	if !dup.Dup || dup.PacketID != p.PacketID || string(dup.Payload) != "once" {
		t.Fatalf("after the crash got %+v, want the PUBLISH again with DUP and packet id %d", dup, p.PacketID)
	}
	back.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
	back.Expect(packet.TypePubrel)
	back.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
	back.ExpectNothing(300 * time.Millisecond)
}
