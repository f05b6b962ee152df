package broker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

func TestSetLimitsValidation(t *testing.T) {
	b := testbroker.Start(t, broker.Options{SysInterval: -1, MaxInflight: 7})
	before := b.Limits()
	if before.MaxInflight != 7 || before.MaxPacketSize != broker.DefaultMaxPacketSize || before.MaxKeepAlive != 0 {
		t.Fatalf("Limits() = %+v", before)
	}
	tests := []struct {
		name  string
		l     broker.Limits
		limit string
	}{
		{name: "packet size too small", l: broker.Limits{MaxPacketSize: 15}, limit: "MaxPacketSize"},
		{name: "packet size too large", l: broker.Limits{MaxPacketSize: 268435461}, limit: "MaxPacketSize"},
		{name: "inflight negative", l: broker.Limits{MaxInflight: -1}, limit: "MaxInflight"},
		{name: "inflight too large", l: broker.Limits{MaxInflight: 65536}, limit: "MaxInflight"},
		{name: "output negative", l: broker.Limits{MaxOutputBytes: -1}, limit: "MaxOutputBytes"},
		{name: "keep-alive too long", l: broker.Limits{MaxKeepAlive: 65536}, limit: "MaxKeepAlive"},
		{name: "write timeout negative", l: broker.Limits{WriteTimeout: -time.Second}, limit: "WriteTimeout"},
		{name: "store negative", l: broker.Limits{MaxStoreBytes: -1}, limit: "MaxStoreBytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := b.SetLimits(tc.l)
			var le *broker.LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit {
				t.Fatalf("SetLimits(%+v) = %v, want a LimitError for %s", tc.l, err, tc.limit)
			}
			if got := b.Limits(); got != before {
				t.Fatalf("limits changed by a refused SetLimits: %+v", got)
			}
		})
	}
	// Zero fields take their defaults; negative queues and connection
	// counts mean none and no limit, as in Options.
	if err := b.SetLimits(broker.Limits{MaxQueued: -1, MaxConnections: -1, MaxKeepAlive: 60}); err != nil {
		t.Fatal(err)
	}
	want := broker.Limits{MaxPacketSize: broker.DefaultMaxPacketSize, MaxInflight: broker.DefaultMaxInflight,
		MaxQueued: -1, MaxConnections: -1, MaxOutputBytes: broker.DefaultMaxOutputBytes, MaxKeepAlive: 60,
		WriteTimeout: broker.DefaultWriteTimeout}
	if got := b.Limits(); got != want {
		t.Fatalf("Limits() = %+v, want %+v", got, want)
	}
}

// TestSetLimitsAtOnce: MaxQueued and MaxConnections apply to sessions and
// connections that exist already.
func TestSetLimitsAtOnce(t *testing.T) {
	b := testbroker.Start(t, broker.Options{SysInterval: -1, MaxQueued: 10})
	away, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	away.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q", QoS: 1}}})
	away.Expect(packet.TypeSuback)
	away.Send(&packet.Disconnect{})
	away.ExpectClosed(2 * time.Second)

	l := b.Limits()
	l.MaxQueued, l.MaxConnections = 2, 1
	if err := b.SetLimits(l); err != nil {
		t.Fatal(err)
	}
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 3 {
		pub.Send(&packet.Publish{Topic: "q", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
		pub.Expect(packet.TypePuback)
	}
	if st := b.Stats(); st.Dropped["queue_full"] != 1 || st.Queued != 2 {
		t.Fatalf("queue_full drops %d, queued %d; want 1 and 2", st.Dropped["queue_full"], st.Queued)
	}
	// pub holds the one connection allowed.
	over := mqtttest.Dial(t, b.Addr, packet.V311)
	over.ExpectClosed(2 * time.Second)
	if n := b.Stats().Dropped["max_connections"]; n != 1 {
		t.Fatalf("max_connections drops %d, want 1", n)
	}
}

// TestSetLimitsNewConnections: MaxInflight, MaxPacketSize and MaxKeepAlive
// apply to connections made after the change; one made before keeps what
// it was given at CONNECT.
func TestSetLimitsNewConnections(t *testing.T) {
	b := testbroker.Start(t, broker.Options{SysInterval: -1, MaxInflight: 1, MaxPacketSize: 1024})
	old, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "old", CleanStart: true})
	old.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "w", QoS: 1}}})
	old.Expect(packet.TypeSuback)

	l := b.Limits()
	l.MaxInflight, l.MaxPacketSize, l.MaxKeepAlive = 3, 256, 10
	if err := b.SetLimits(l); err != nil {
		t.Fatal(err)
	}
	fresh, ack := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "new", CleanStart: true, KeepAlive: 60})
	if pr := ack.Properties; pr.MaximumPacketSize != 256 || !pr.HasServerKeepAlive || pr.ServerKeepAlive != 10 {
		t.Fatalf("CONNACK after the change: Maximum Packet Size %d, Server Keep Alive %v %d",
			pr.MaximumPacketSize, pr.HasServerKeepAlive, pr.ServerKeepAlive)
	}
	fresh.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "w", QoS: 1}}})
	fresh.Expect(packet.TypeSuback)

	// The old connection may still send up to 1024 bytes.
	old.Send(&packet.Publish{Topic: "big", Payload: make([]byte, 500)})
	old.Send(&packet.Pingreq{})
	old.Expect(packet.TypePingresp)

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 3 {
		pub.Send(&packet.Publish{Topic: "w", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
		pub.Expect(packet.TypePuback)
	}
	for range 3 {
		fresh.Expect(packet.TypePublish)
	}
	old.Expect(packet.TypePublish)
	old.ExpectNothing(100 * time.Millisecond)

	// The new connection is held to 256 bytes.
	fresh.Send(&packet.Publish{Topic: "big", Payload: make([]byte, 500)})
	got := fresh.ExpectClosed(2 * time.Second)
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.PacketTooLarge {
		t.Fatalf("got %v before the close, want DISCONNECT Packet too large", got)
	}
	testbroker.Eventually(t, 2*time.Second, func() error {
		if n := b.Stats().Dropped["packet_too_large"]; n != 1 {
			return fmt.Errorf("packet_too_large drops %d", n)
		}
		return nil
	})
}
