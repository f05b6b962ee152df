package broker_test

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// FuzzConnection feeds bytes into a live connection of a running broker,
// after a valid CONNECT of the version the first byte picks (or none), and
// then checks that the broker still serves a client that was connected all
// along. A panic anywhere in the broker fails the run. `make fuzz` runs it
// for FUZZTIME; `go test` runs the seeds.
func FuzzConnection(f *testing.F) {
	versions := []packet.Version{0, packet.V31, packet.V311, packet.V5}
	seed := func(v packet.Version, pkts ...packet.Packet) {
		var b []byte
		for _, p := range pkts {
			var err error
			if b, err = p.Append(b, v); err != nil {
				f.Fatalf("seed %T: %v", p, err)
			}
		}
		for i, sv := range versions {
			if sv == v {
				f.Add(byte(i), b)
			}
		}
	}
	pub := func(qos byte, id uint16) *packet.Publish {
		return &packet.Publish{Topic: "fuzz/t", QoS: qos, PacketID: id, Retain: qos == 1, Payload: []byte("p")}
	}
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		seed(v, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "fuzz/#", QoS: 2}}},
			pub(0, 0), pub(1, 2), pub(2, 3), &packet.Ack{Kind: packet.TypePubrel, PacketID: 3})
		seed(v, &packet.Unsubscribe{PacketID: 4, Filters: []string{"fuzz/#", "x"}}, &packet.Pingreq{})
		seed(v, &packet.Disconnect{})
	}
	alias := &packet.Publish{Topic: "fuzz/a", Payload: []byte("a")}
	alias.Properties.TopicAlias, alias.Properties.HasTopicAlias = 1, true
	seed(packet.V5, alias, &packet.Publish{Payload: []byte("b"), Properties: alias.Properties})
	seed(packet.V5, &packet.Auth{ReasonCode: packet.ReAuthenticate})
	f.Add(byte(0), []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00})
	f.Add(byte(2), []byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Add(byte(2), []byte{0x82, 0x04, 0x00, 0x01, 0x00, 0x00})

	b := testbroker.Start(f, broker.Options{ConnectTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	// The control client is a plain connection: the fuzz target may only
	// use its own *testing.T.
	control, err := net.Dial("tcp", b.Addr)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { control.Close() })
	con, _ := (&packet.Connect{Version: packet.V311, ClientID: "control", CleanStart: true}).Append(nil, packet.V311)
	control.Write(con)
	ack := make([]byte, 4)
	if _, err := io.ReadFull(control, ack); err != nil || ack[0] != 0x20 {
		f.Fatalf("control CONNACK % x: %v", ack, err)
	}

	f.Fuzz(func(t *testing.T, pick byte, data []byte) {
		nc, err := net.Dial("tcp", b.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if v := versions[int(pick)%len(versions)]; v != 0 {
			con, _ := (&packet.Connect{Version: v, ClientID: "fuzzed", CleanStart: true, KeepAlive: 5}).Append(nil, v)
			nc.Write(con)
		}
		nc.Write(data)
		// Read what the broker answers until it closes the connection or
		// has nothing more to say.
		nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		io.Copy(io.Discard, nc)
		nc.Close()

		control.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := control.Write([]byte{0xc0, 0x00}); err != nil {
			t.Fatalf("control client: %v", err)
		}
		resp := make([]byte, 2)
		if _, err := io.ReadFull(control, resp); err != nil || resp[0] != 0xd0 {
			t.Fatalf("control client: PINGRESP % x, %v", resp, err)
		}
	})
}
