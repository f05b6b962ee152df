package broker_test

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store/memory"
)

// TestMaxPacketSize closes a connection whose packet is over MaxPacketSize
// before reading its body, and counts it.
func TestMaxPacketSize(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxPacketSize: 1024})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "big", CleanStart: true})
	c.Send(&packet.Publish{Topic: "t", Payload: make([]byte, 900)})
	c.Send(&packet.Pingreq{})
	c.Expect(packet.TypePingresp)
	// Only the fixed header of the oversized packet is sent: the broker must
	// not wait for the body.
	c.SendRaw([]byte{0x30, 0x80, 0x80, 0x04})
	c.ExpectClosed(2 * time.Second)
	testbroker.Eventually(t, 2*time.Second, func() error {
		if n := b.Stats().Dropped["packet_too_large"]; n != 1 {
			return fmt.Errorf("packet_too_large = %d", n)
		}
		return nil
	})
}

// TestMaxConnections refuses the connection over the limit and counts it.
func TestMaxConnections(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxConnections: 2})
	mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "a", CleanStart: true})
	mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "b", CleanStart: true})
	c := mqtttest.Dial(t, b.Addr, packet.V311)
	c.ExpectClosed(2 * time.Second)
	if n := b.Stats().Dropped["max_connections"]; n != 1 {
		t.Fatalf("max_connections drops = %d", n)
	}
}

// TestMaxInflight holds back deliveries beyond the inflight window until the
// client acknowledges.
func TestMaxInflight(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxInflight: 2})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "w", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 5 {
		pub.Send(&packet.Publish{Topic: "w", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
		pub.Expect(packet.TypePuback)
	}
	p1 := sub.Expect(packet.TypePublish).(*packet.Publish)
	p2 := sub.Expect(packet.TypePublish).(*packet.Publish)
	sub.ExpectNothing(200 * time.Millisecond)
	sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p1.PacketID})
	p3 := sub.Expect(packet.TypePublish).(*packet.Publish)
	sub.ExpectNothing(200 * time.Millisecond)
	if got := string(p1.Payload) + string(p2.Payload) + string(p3.Payload); got != "012" {
		t.Fatalf("order %q", got)
	}
}

// TestMaxQueued drops QoS 1 messages for an offline session beyond
// MaxQueued, counts the drops, and keeps the rest.
func TestMaxQueued(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxQueued: 3})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(2 * time.Second)

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 5 {
		pub.Send(&packet.Publish{Topic: "q", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
		pub.Expect(packet.TypePuback)
	}
	if n := b.Stats().Dropped["queue_full"]; n != 2 {
		t.Fatalf("queue_full drops = %d, want 2", n)
	}
	back, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	var got strings.Builder
	for range 3 {
		p := back.Expect(packet.TypePublish).(*packet.Publish)
		got.Write(p.Payload)
		back.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	back.ExpectNothing(200 * time.Millisecond)
	if got.String() != "012" {
		t.Fatalf("kept %q, want the first three", got.String())
	}
}

// stuckSubscriber connects a client "stuck" to addr that subscribes to
// filter and never reads, on a socket with a tiny receive buffer, closed
// when the test ends.
func stuckSubscriber(t *testing.T, addr, filter string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.(*net.TCPConn).SetReadBuffer(4096)
	connect := packet.Connect{Version: packet.V311, ClientID: "stuck", CleanStart: true}
	buf, _ := connect.Append(nil, packet.V311)
	sub := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter}}}
	buf, _ = sub.Append(buf, packet.V311)
	if _, err := nc.Write(buf); err != nil {
		t.Fatal(err)
	}
}

// TestSlowReaderQoS0 floods a subscriber that never reads: QoS 0 messages
// beyond MaxOutputBytes are dropped and counted, the publisher is never
// blocked, and other subscribers get everything.
func TestSlowReaderQoS0(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxOutputBytes: 256 << 10})
	stuckSubscriber(t, b.Addr, "flood")

	fast, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "fast", CleanStart: true})
	fast.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "flood"}}})
	fast.Expect(packet.TypeSuback)
	testbroker.Eventually(t, 2*time.Second, func() error {
		if b.Stats().Subscriptions != 2 {
			return errNotYet
		}
		return nil
	})

	const n = 2000
	// The fast subscriber reads while the flood goes on; the publisher
	// sends in bursts of 20 that fit its output bound, so only the stuck
	// subscriber can fall behind.
	var read atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := fast.Read(5 * time.Second); err != nil {
				done <- fmt.Errorf("fast subscriber got %d of %d: %w", i, n, err)
				return
			}
			read.Add(1)
		}
		done <- nil
	}()
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	payload := make([]byte, 4096) // 8 MB in all, more than socket buffers hold
	for i := range n {
		pub.Send(&packet.Publish{Topic: "flood", Payload: payload})
		if i%20 == 19 {
			testbroker.Eventually(t, 5*time.Second, func() error {
				if read.Load() < int64(i+1) {
					return errNotYet
				}
				return nil
			})
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := b.Stats().Dropped["output_full"]; d > int64(n) {
		t.Fatalf("%d output_full drops: the fast subscriber lost messages too", d)
	}
	if d := b.Stats().Dropped["output_full"]; d == 0 {
		t.Fatal("no output_full drops counted for a subscriber that never reads")
	}
}

// sizedStore is a memory store that reports a disk size the test sets.
type sizedStore struct {
	*memory.Store
	size atomic.Int64
}

func (s *sizedStore) DiskSize() (int64, error) { return s.size.Load(), nil }

// TestMaxStoreBytes refuses QoS 1 and 2 messages while the store is over
// its limit: Quota Exceeded for 5.0; for 3.1.1, which has no negative
// acknowledgement, no PUBACK and a closed connection; each a counted drop.
// QoS 0 still flows, and so does everything once there is room.
func TestMaxStoreBytes(t *testing.T) {
	st := &sizedStore{Store: memory.New()}
	st.size.Store(2000)
	b := testbroker.Start(t, broker.Options{Store: st, MaxStoreBytes: 1000})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "full/#", QoS: 1}}})
	sub.Expect(packet.TypeSuback)

	v5, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "v5", CleanStart: true})
	v5.Send(&packet.Publish{Topic: "full/a", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a := v5.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("PUBACK reason %v, want QuotaExceeded", a.ReasonCode)
	}
	v5.Send(&packet.Publish{Topic: "full/a", QoS: 2, PacketID: 2, Payload: []byte("x")})
	if a := v5.Expect(packet.TypePubrec).(*packet.Ack); a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("PUBREC reason %v, want QuotaExceeded", a.ReasonCode)
	}
	v3, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "v3", CleanStart: true})
	v3.Send(&packet.Publish{Topic: "full/b", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if got := v3.ExpectClosed(2 * time.Second); len(got) != 0 {
		t.Fatalf("3.1.1 publisher got %v before the close, want nothing", got)
	}
	sub.ExpectNothing(100 * time.Millisecond)
	v3, _ = mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "v3", CleanStart: true})
	if d := b.Stats().Dropped["store_full"]; d != 3 {
		t.Fatalf("store_full drops = %d, want 3", d)
	}
	v3.Send(&packet.Publish{Topic: "full/c", Payload: []byte("qos 0")})
	if p := sub.Expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "qos 0" {
		t.Fatalf("got %q", p.Payload)
	}

	st.size.Store(10)
	testbroker.Eventually(t, 5*time.Second, func() error {
		// A retained message makes the store commit, which checks its size.
		v5.Send(&packet.Publish{Topic: "poke", Retain: true, Payload: []byte("x")})
		v5.Send(&packet.Publish{Topic: "full/d", QoS: 1, PacketID: 3, Payload: []byte("ok")})
		if a := v5.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode != packet.Success {
			return fmt.Errorf("still refused: %v", a.ReasonCode)
		}
		return nil
	})
	if p := sub.Expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "ok" {
		t.Fatalf("got %q", p.Payload)
	}
	v3.Send(&packet.Publish{Topic: "full/e", QoS: 1, PacketID: 2, Payload: []byte("ok too")})
	v3.Expect(packet.TypePuback)
	if p := sub.Expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "ok too" {
		t.Fatalf("got %q", p.Payload)
	}
}

// TestStuckReaderWriteTimeout: a subscriber that stops reading is closed
// once a write to it has been blocked for WriteTimeout, while the publisher
// carries on. Most writes are taken whole by the socket and set no
// deadline; the one that blocks must.
func TestStuckReaderWriteTimeout(t *testing.T) {
	b := testbroker.Start(t, broker.Options{WriteTimeout: 300 * time.Millisecond, MaxOutputBytes: 256 << 10})
	stuckSubscriber(t, b.Addr, "flood")
	testbroker.Eventually(t, 2*time.Second, func() error {
		if b.Stats().Subscriptions != 1 {
			return errNotYet
		}
		return nil
	})

	// The publisher floods until the socket buffers are full (their size
	// depends on the kernel's tuning) and a write has been blocked for
	// WriteTimeout: 64 MB at most, or 20 s.
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	payload := make([]byte, 4096)
	end := time.Now().Add(20 * time.Second)
	for sent := 0; b.Stats().ConnectionsCurrent != 1; sent += 100 {
		if sent >= 16000 || time.Now().After(end) {
			t.Fatalf("the stuck subscriber is still connected after %d messages of 4 KiB", sent)
		}
		for range 100 {
			pub.Send(&packet.Publish{Topic: "flood", Payload: payload})
		}
		// The publisher is never held up.
		pub.Send(&packet.Pingreq{})
		pub.Expect(packet.TypePingresp)
		time.Sleep(10 * time.Millisecond)
	}
}
