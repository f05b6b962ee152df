package broker_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/pebble"
)

// heapInUse returns the bytes of live heap objects after a collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestOfflineQueuesLiveOnDisk queues many small messages for offline
// persistent sessions on the Pebble store and checks that the broker's
// heap does not grow with them, neither while it runs nor after a restart:
// an offline queue is on disk, and only a window of it is read back when
// its client returns. The client then gets every message, in order.
func TestOfflineQueuesLiveOnDisk(t *testing.T) {
	const (
		sessions = 100
		messages = 1000 // per session: the default MaxQueued
		entries  = sessions * messages
		// perEntry bounds the heap per queued message, beyond what the
		// store keeps in memory whatever it holds (storeMemory: its
		// memtables and block cache, made small here). A queued message
		// in memory takes at least the ~200 bytes of its queue entry.
		perEntry    = 16
		storeMemory = 4 << 20
	)
	dir := t.TempDir()
	popts := pebble.Options{MemTableSize: 256 << 10, CacheSize: 1 << 20}
	st, err := pebble.Open(dir, popts)
	if err != nil {
		t.Fatal(err)
	}
	opts := broker.Options{Store: st, MaxQueued: messages}
	b := testbroker.Start(t, opts)
	for i := range sessions {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: fmt.Sprintf("dev%03d", i)})
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "fleet/#", QoS: 1}}})
		c.Expect(packet.TypeSuback)
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(2 * time.Second)
	}
	before := heapInUse()
	done := make(chan error, messages)
	for i := range messages {
		// Each message is distinct: its body is stored once, and every
		// session's queue holds an entry for it.
		b.Router().Publish(&broker.Message{Topic: fmt.Sprintf("fleet/%d", i%10), QoS: 1,
			Payload: fmt.Appendf(nil, "%06d", i)}, func(err error) { done <- err })
	}
	for range messages {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	grown := heapInUse() - before
	t.Logf("%d queued messages: heap grew by %d bytes, %.1f per message", entries, grown, float64(grown)/entries)
	if grown > storeMemory+perEntry*entries {
		t.Errorf("heap grew by %d bytes for %d queued messages: more than %d per message and %d", grown, entries, perEntry, storeMemory)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = nil
	before = heapInUse()
	st, err = pebble.Open(dir, popts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.Store = st
	b = testbroker.Start(t, opts)
	grown = heapInUse() - before
	t.Logf("after a restart: heap %d bytes above the stopped broker's, %.1f per queued message", grown, float64(grown)/entries)
	if grown > storeMemory+perEntry*entries {
		t.Errorf("restored broker's heap is %d bytes for %d queued messages: more than %d per message and %d", grown, entries, perEntry, storeMemory)
	}

	// Each session gets its whole queue, in order.
	for _, i := range []int{0, sessions - 1} {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: fmt.Sprintf("dev%03d", i)})
		for j := range messages {
			p := c.Expect(packet.TypePublish).(*packet.Publish)
			if want := fmt.Sprintf("%06d", j); string(p.Payload) != want {
				t.Fatalf("dev%03d: message %d is %q, want %q", i, j, p.Payload, want)
			}
			c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
		}
		c.Close()
	}
}

// TestSlowSubscriberQueueSpills: a connected persistent subscriber that
// takes its messages slowly gets more queued than its memory window holds;
// the rest stay in the store while it is connected, and it gets them all,
// in order, both in sync and batch mode. Once all are acknowledged the
// store holds no entry or message body.
func TestSlowSubscriberQueueSpills(t *testing.T) {
	for _, d := range []broker.Durability{broker.DurabilityBatch, broker.DurabilitySync, broker.DurabilityNone} {
		t.Run(d.String(), func(t *testing.T) {
			st := tempPebble(t)
			b := testbroker.Start(t, broker.Options{Store: st, Durability: d, MaxInflight: 1, MaxQueued: 1000})
			sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "slow",
				Properties: packet.Properties{SessionExpiryInterval: 3600, HasSessionExpiryInterval: true}})
			sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 1}}})
			sub.Expect(packet.TypeSuback)
			pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
			const n = 500
			for i := range n {
				pub.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "%d", i)})
			}
			for range n {
				pub.Expect(packet.TypePuback)
			}
			for i := range n {
				p := sub.Expect(packet.TypePublish).(*packet.Publish)
				if want := fmt.Sprint(i); string(p.Payload) != want {
					t.Fatalf("message %d is %q", i, p.Payload)
				}
				sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
			}
			expectStoreEmpty(t, st, 5*time.Second)
		})
	}
}

// TestSpilledQueueEndsWithSession: when a persistent session whose queue
// is in the store alone ends, its entries and the message bodies only they
// held go too. When a client resumes such a session without persistence
// (5.0, Session Expiry Interval 0), it gets the queue and the store
// forgets it.
func TestSpilledQueueEndsWithSession(t *testing.T) {
	st := tempPebble(t)
	b := testbroker.Start(t, broker.Options{Store: st})
	away := func(id string) {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: id,
			Properties: packet.Properties{SessionExpiryInterval: 3600, HasSessionExpiryInterval: true}})
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t/" + id, QoS: 1}}})
		c.Expect(packet.TypeSuback)
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(2 * time.Second)
	}
	away("ended")
	away("resumed")
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	const n = 200
	for i := range n {
		for _, id := range []string{"ended", "resumed"} {
			pub.Send(&packet.Publish{Topic: "t/" + id, QoS: 1, PacketID: 1, Payload: fmt.Appendf(nil, "%d", i)})
			pub.Expect(packet.TypePuback)
		}
	}
	if q := count(t, st, store.Queues); q != 2*n {
		t.Fatalf("%d queue entries in the store, want %d", q, 2*n)
	}

	// A clean start ends the session [MQTT-3.1.2-4].
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "ended", CleanStart: true})
	c.Close()
	c, _ = mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "resumed"})
	for i := range n {
		p := c.Expect(packet.TypePublish).(*packet.Publish)
		if want := fmt.Sprint(i); string(p.Payload) != want {
			t.Fatalf("message %d is %q", i, p.Payload)
		}
		c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	expectStoreEmpty(t, st, 5*time.Second)
}

// failingReads is a store whose Get fails, as a disk that cannot be read
// would, while fail is set.
type failingReads struct {
	store.Store
	fail atomic.Bool
}

func (f *failingReads) Get(bucket store.Bucket, key string) ([]byte, error) {
	if f.fail.Load() {
		return nil, errors.New("read error")
	}
	return f.Store.Get(bucket, key)
}

// TestQueuedMessageKeptWhenUnreadable: a queued message whose body the
// store cannot read stays queued and is delivered once the store reads
// again; one whose body is gone from the store is dropped, logged and
// counted, and the rest of the queue still goes out.
func TestQueuedMessageKeptWhenUnreadable(t *testing.T) {
	dir := t.TempDir()
	st, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Start(t, broker.Options{Store: st})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 5 {
		pub.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "m%d", i)})
		pub.Expect(packet.TypePuback)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The first message's body goes missing.
	var first string
	if err := st.Scan(store.Messages, "", func(k string, _ []byte) error {
		if first == "" {
			first = k
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var del store.Batch
	del.Delete(store.Messages, first)
	if err := st.Apply(&del, true); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = pebble.Open(dir, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reads := &failingReads{Store: st}
	reads.fail.Store(true)
	b = testbroker.Start(t, broker.Options{Store: reads})
	c, _ = mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	c.ExpectNothing(300 * time.Millisecond)
	c.Close()
	// Start-up found the entry whose body was gone: dropped and counted.
	// The others wait for the store.
	if n := b.Stats().Dropped["store_lost"]; n != 1 {
		t.Fatalf("store_lost = %d while the store could not read, want 1", n)
	}
	testbroker.Eventually(t, 2*time.Second, func() error {
		if cs, _ := b.Client("away"); cs.Connected {
			return errors.New("still connected")
		}
		return nil
	})

	reads.fail.Store(false)
	c, _ = mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	for i := 1; i < 5; i++ {
		p := c.Expect(packet.TypePublish).(*packet.Publish)
		if want := fmt.Sprintf("m%d", i); string(p.Payload) != want {
			t.Fatalf("got %q, want %q", p.Payload, want)
		}
		c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	if n := b.Stats().Dropped["store_lost"]; n != 1 {
		t.Fatalf("store_lost = %d, want 1 (the message whose body was gone)", n)
	}
}
