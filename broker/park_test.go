package broker_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// waitParked waits until b has n connections open, all of them parked.
func waitParked(t *testing.T, b *testbroker.Broker, n int64) {
	t.Helper()
	testbroker.Eventually(t, 5*time.Second, func() error {
		if st := b.Stats(); st.ConnectionsParked != n || st.ConnectionsCurrent != n {
			return fmt.Errorf("%d connections open and %d parked, want %d", st.ConnectionsCurrent,
				st.ConnectionsParked, n)
		}
		return nil
	})
}

// connGoroutines counts the goroutines that run a connection's code.
func connGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "broker.(*conn).") {
			n++
		}
	}
	return n
}

// TestIdleConnectionsPark holds idle connections without a goroutine each,
// and checks that a parked connection still gets its messages, wakes for
// what its client sends, and parks again.
func TestIdleConnectionsPark(t *testing.T) {
	const n = 60
	b := testbroker.Start(t, broker.Options{IdleAfter: 20 * time.Millisecond})
	subs := make([]*mqtttest.Conn, n)
	for i := range subs {
		v := packet.V311
		if i%2 == 1 {
			v = packet.V5
		}
		subs[i], _ = mqtttest.Connect(t, b.Addr, v, &packet.Connect{ClientID: fmt.Sprintf("idle-%d", i),
			CleanStart: true, KeepAlive: 60})
		subs[i].Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
			{Filter: fmt.Sprintf("park/%d", i), QoS: 1}}})
		subs[i].Expect(packet.TypeSuback)
	}
	waitParked(t, b, n)
	// No goroutine is left in a connection's code.
	if busy := connGoroutines(); busy != 0 {
		t.Fatalf("%d goroutines in connection code with all %d connections parked", busy, n)
	}

	// Messages reach parked subscribers; their PUBACKs wake them.
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range subs {
		pub.Send(&packet.Publish{Topic: fmt.Sprintf("park/%d", i), QoS: 1, PacketID: uint16(i + 1),
			Payload: []byte("to a parked subscriber")})
		pub.Expect(packet.TypePuback)
	}
	for i, s := range subs {
		p := s.Expect(packet.TypePublish).(*packet.Publish)
		if p.Topic != fmt.Sprintf("park/%d", i) || p.QoS != 1 {
			t.Fatalf("subscriber %d got %q at QoS %d", i, p.Topic, p.QoS)
		}
		s.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	pub.Close()
	waitParked(t, b, n)

	// Each parked client pings: each is woken, answered, and parks again.
	for round := range 3 {
		for i, s := range subs {
			s.Send(&packet.Pingreq{})
			if _, ok := s.Expect(packet.TypePingresp).(*packet.Pingresp); !ok {
				t.Fatalf("round %d, client %d: no PINGRESP", round, i)
			}
		}
		waitParked(t, b, n)
	}
}

// TestSubscriberParksAtOnce: a client that has just subscribed and sends
// nothing more parks without waiting IdleAfter; one that sends right after
// its SUBSCRIBE is answered, and a parked one is woken by what it sends.
func TestSubscriberParksAtOnce(t *testing.T) {
	b := testbroker.Start(t, broker.Options{IdleAfter: time.Hour})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true, KeepAlive: 60})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "now/#", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	waitParked(t, b, 1) // long before an hour

	// SUBSCRIBE and PINGREQ in one write: the second is read before any park.
	eager, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "eager", CleanStart: true, KeepAlive: 60})
	both, err := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "eager"}}}).Append(nil, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	both, _ = (&packet.Pingreq{}).Append(both, packet.V5)
	eager.SendRaw(both)
	eager.Expect(packet.TypeSuback)
	eager.Expect(packet.TypePingresp)
	waitParked(t, b, 2)

	// A parked subscriber still gets its messages and wakes for its PUBACK
	// and its PINGREQ.
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "now/x", QoS: 1, PacketID: 1, Payload: []byte("m")})
	pub.Expect(packet.TypePuback)
	p := sub.Expect(packet.TypePublish).(*packet.Publish)
	sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	sub.Send(&packet.Pingreq{})
	sub.Expect(packet.TypePingresp)
	pub.Close()
	if st := b.Stats(); st.Inflight != 0 {
		t.Fatalf("%d messages in flight after the PUBACK", st.Inflight)
	}
}

// TestParkedKeepAlive lets the keep-alive of a parked connection run out: the
// broker closes it after one and a half keep-alive periods [MQTT-3.1.2-24],
// tells a 5.0 client why (0x8D), and publishes its will [MQTT-3.1.2-8].
func TestParkedKeepAlive(t *testing.T) {
	b := testbroker.Start(t, broker.Options{IdleAfter: 20 * time.Millisecond})
	watcher, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "watcher", CleanStart: true})
	watcher.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "will/#"}}})
	watcher.Expect(packet.TypeSuback)

	start := time.Now()
	quiet, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "quiet", CleanStart: true,
		KeepAlive: 1, Will: &packet.Will{Topic: "will/quiet", Payload: []byte("gone")}})
	waitParked(t, b, 2)
	lastIsDisconnect(t, quiet.ExpectClosed(5*time.Second), packet.KeepAliveTimeout)
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Fatalf("closed after %s, before one and a half keep-alive periods", took)
	}
	p := watcher.Expect(packet.TypePublish).(*packet.Publish)
	if p.Topic != "will/quiet" || string(p.Payload) != "gone" {
		t.Fatalf("got %q %q, want the will", p.Topic, p.Payload)
	}
	waitParked(t, b, 1) // the watcher parks again
}

// TestParkedConnectionEnds ends parked connections every way a connection
// ends: the client closes its socket (the will goes out), another client
// takes its session over (0x8E [MQTT-3.1.4-3]), the operator disconnects
// it, and the server shuts down (0x8B).
func TestParkedConnectionEnds(t *testing.T) {
	b := testbroker.Start(t, broker.Options{IdleAfter: 20 * time.Millisecond})
	watcher, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "watcher", CleanStart: true})
	watcher.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "will/#"}}})
	watcher.Expect(packet.TypeSuback)
	connect := func(id string) *mqtttest.Conn {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: id, CleanStart: true,
			Will: &packet.Will{Topic: "will/" + id, Payload: []byte(id)}})
		return c
	}

	closer, taken, kicked := connect("closer"), connect("taken"), connect("kicked")
	waitParked(t, b, 4)

	closer.Close()
	// [MQTT-3.1.2-8] A connection closed without DISCONNECT sends its will.
	if p := watcher.Expect(packet.TypePublish).(*packet.Publish); p.Topic != "will/closer" {
		t.Fatalf("got %q, want the will of the client that closed its socket", p.Topic)
	}

	newcomer, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "taken", CleanStart: true})
	lastIsDisconnect(t, taken.ExpectClosed(5*time.Second), packet.SessionTakenOver)
	if p := watcher.Expect(packet.TypePublish).(*packet.Publish); p.Topic != "will/taken" {
		t.Fatalf("got %q, want the will of the client taken over", p.Topic)
	}

	if !b.Disconnect("kicked") {
		t.Fatal("Disconnect found no connection")
	}
	lastIsDisconnect(t, kicked.ExpectClosed(5*time.Second), packet.AdministrativeAction)

	waitParked(t, b, 2) // the watcher and the newcomer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	lastIsDisconnect(t, newcomer.ExpectClosed(2*time.Second), packet.ServerShuttingDown)
	watcher.ExpectClosed(2 * time.Second)
	if st := b.Stats(); st.ConnectionsCurrent != 0 || st.ConnectionsParked != 0 {
		t.Fatalf("after shutdown: %d connections open, %d parked", st.ConnectionsCurrent, st.ConnectionsParked)
	}
}

// TestIdleAfterNegativeNeverParks keeps every connection's goroutine.
func TestIdleAfterNegativeNeverParks(t *testing.T) {
	b := testbroker.Start(t, broker.Options{IdleAfter: -1})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "awake", CleanStart: true})
	time.Sleep(100 * time.Millisecond)
	if n := b.Stats().ConnectionsParked; n != 0 {
		t.Fatalf("%d connections parked with IdleAfter -1", n)
	}
	c.Send(&packet.Pingreq{})
	c.Expect(packet.TypePingresp)
}

// TestBusyConnectionStopsParking pings every 50ms with IdleAfter 20ms: the
// connection parks and wakes at first, waits longer each time it is woken
// soon after a park, and then stays awake between pings; once the pings
// stop it parks again.
func TestBusyConnectionStopsParking(t *testing.T) {
	b := testbroker.Start(t, broker.Options{IdleAfter: 20 * time.Millisecond})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "busy", CleanStart: true})
	waitParked(t, b, 1)
	parkedAtPing := 0
	for i := range 30 {
		time.Sleep(50 * time.Millisecond)
		if i >= 15 && b.Stats().ConnectionsParked != 0 {
			parkedAtPing++
		}
		c.Send(&packet.Pingreq{})
		c.Expect(packet.TypePingresp)
	}
	if parkedAtPing > 2 {
		t.Fatalf("parked at %d of the last 15 pings, 50ms apart", parkedAtPing)
	}
	waitParked(t, b, 1)
}

// TestIdleConnectionHeap bounds the heap an idle connection costs once
// parked, with a session and a subscription: the broker's side of it, and
// the test's own socket, which runs in the same process (about 350 bytes:
// Go's TCPConn, its netFD and two addresses). The figure in the comparison
// with Mosquitto is the RSS, about twice the live heap, which must stay
// under 4 KB a connection.
func TestIdleConnectionHeap(t *testing.T) {
	const n = 2000
	b := testbroker.Start(t, broker.Options{IdleAfter: 20 * time.Millisecond, MaxConnectRate: -1})
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, nc := range conns {
			nc.Close()
		}
	})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var out []byte
	in := make([]byte, 9)
	for i := range n {
		nc, err := net.Dial("tcp", b.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		id := fmt.Sprintf("heap-%d", i)
		out, _ = (&packet.Connect{Version: packet.V311, ClientID: id, CleanStart: true, KeepAlive: 60}).Append(out[:0], packet.V311)
		out, _ = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "heap/" + id + "/+"}}}).Append(out, packet.V311)
		if _, err := nc.Write(out); err != nil {
			t.Fatal(err)
		}
		// CONNACK (4 bytes) and SUBACK (5 bytes).
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(nc, in); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	waitParked(t, b, n)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("heap per idle connection, with the test's socket: %d B", per)
	if per > 3072 {
		t.Errorf("heap per idle connection %d B, want at most 3,072 B", per)
	}
}
