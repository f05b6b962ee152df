package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// packetSize is the size of p on the wire in version v.
func packetSize(t *testing.T, p packet.Packet, v packet.Version) int64 {
	t.Helper()
	b, err := p.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(b))
}

// TestStatsByQoS counts messages and PUBLISH bytes by QoS, both ways, and
// times every delivery.
func TestStatsByQoS(t *testing.T) {
	b := testbroker.Start(t, broker.Options{SysInterval: -1})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q/#", QoS: 2}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})

	// counts[q] messages of QoS q, each with a payload of q+1 bytes.
	counts := [3]int64{4, 3, 2}
	var wantIn, wantOut [3]int64
	id := uint16(0)
	for q := range byte(3) {
		for range counts[q] {
			id++
			p := &packet.Publish{Topic: "q/x", QoS: q, PacketID: id, Payload: make([]byte, q+1)}
			pub.Send(p)
			wantIn[q] += packetSize(t, p, packet.V311)
			switch q {
			case 1:
				pub.Expect(packet.TypePuback)
			case 2:
				pub.Expect(packet.TypePubrec)
				pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: id})
				pub.Expect(packet.TypePubcomp)
			}
			got := sub.Expect(packet.TypePublish).(*packet.Publish)
			wantOut[got.QoS] += packetSize(t, got, packet.V311)
			switch got.QoS {
			case 1:
				sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: got.PacketID})
			case 2:
				sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: got.PacketID})
				sub.Expect(packet.TypePubrel)
				sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: got.PacketID})
			}
		}
	}
	st := b.Stats()
	if st.MessagesReceivedByQoS != counts || st.MessagesSentByQoS != counts {
		t.Errorf("messages by QoS: received %v, sent %v, want %v", st.MessagesReceivedByQoS, st.MessagesSentByQoS, counts)
	}
	if st.MessagesReceived != 9 || st.MessagesSent != 9 {
		t.Errorf("messages: received %d, sent %d, want 9", st.MessagesReceived, st.MessagesSent)
	}
	if st.MessageBytesReceivedByQoS != wantIn || st.MessageBytesSentByQoS != wantOut {
		t.Errorf("bytes by QoS: received %v, sent %v, want %v and %v",
			st.MessageBytesReceivedByQoS, st.MessageBytesSentByQoS, wantIn, wantOut)
	}
	if st.StoreBytes != -1 {
		t.Errorf("StoreBytes %d with the memory store, want -1", st.StoreBytes)
	}
	lat := b.Latency().Delivery
	if lat.Count != 9 || lat.Sum <= 0 {
		t.Errorf("delivery latency: count %d, sum %s; want 9 and more than 0", lat.Count, lat.Sum)
	}
	if len(lat.Counts) != len(lat.Bounds)+1 {
		t.Errorf("%d counts for %d bounds", len(lat.Counts), len(lat.Bounds))
	}
	var n uint64
	for i, c := range lat.Counts {
		n += c
		if i > 0 && i < len(lat.Bounds) && lat.Bounds[i] <= lat.Bounds[i-1] {
			t.Errorf("bounds not increasing: %v", lat.Bounds)
		}
	}
	if n != lat.Count {
		t.Errorf("counts add up to %d, Count is %d", n, lat.Count)
	}

	// A retained message sent to a new subscription is a delivery, but
	// not one whose latency means anything: it is not timed.
	pub.Send(&packet.Publish{Topic: "keep", Retain: true, Payload: []byte("r")})
	// Subscribe once the message is retained, so that it cannot reach the
	// new subscription live.
	testbroker.Eventually(t, 2*time.Second, func() error {
		if n := b.Stats().Retained; n != 1 {
			return fmt.Errorf("%d retained messages", n)
		}
		return nil
	})
	late, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "late", CleanStart: true})
	late.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "keep"}}})
	late.Expect(packet.TypeSuback)
	late.Expect(packet.TypePublish)
	if st := b.Stats(); st.MessagesSent != 10 {
		t.Fatalf("messages sent %d, want 10", st.MessagesSent)
	}
	if n := b.Latency().Delivery.Count; n != 9 {
		t.Errorf("delivery latency count %d after a retained message, want 9", n)
	}
}

// TestStatsInflightAndQueued sums the inflight and queued messages of the
// sessions, for a subscriber that stops acknowledging and one that has
// gone.
// TestStatsConnectsAndRouted counts accepted CONNECTs by version,
// disconnects by how they ended, and messages accepted for routing: a
// denied PUBLISH counts as received, not as routed; a will as both.
func TestStatsConnectsAndRouted(t *testing.T) {
	b := testbroker.Start(t, broker.Options{SysInterval: -1, Authorizer: publishDenied("denied")})
	v31, _ := mqtttest.Connect(t, b.Addr, packet.V31, &packet.Connect{ClientID: "a", CleanStart: true})
	v311, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "b", CleanStart: true,
		Will: &packet.Will{Topic: "w", Payload: []byte("gone"), QoS: 1}})
	v5, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "c", CleanStart: true})

	v5.Send(&packet.Publish{Topic: "ok", QoS: 1, PacketID: 1, Payload: []byte("x")})
	v5.Expect(packet.TypePuback)
	v5.Send(&packet.Publish{Topic: "denied", QoS: 1, PacketID: 2, Payload: []byte("x")})
	if ack := v5.Expect(packet.TypePuback).(*packet.Ack); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBACK of a denied PUBLISH: %v, want Not authorized", ack.ReasonCode)
	}
	v31.Send(&packet.Publish{Topic: "ok", Payload: []byte("x")})
	v31.Send(&packet.Disconnect{})
	v31.ExpectClosed(5 * time.Second)
	v311.Close() // no DISCONNECT: the will goes out
	v5.Send(&packet.Disconnect{})
	v5.ExpectClosed(5 * time.Second)

	testbroker.Eventually(t, 5*time.Second, func() error {
		st := b.Stats()
		if st.ConnectsByVersion != [4]int64{1, 1, 1, 0} {
			return fmt.Errorf("connects by version %v, want [1 1 1 0]", st.ConnectsByVersion)
		}
		if st.Disconnects != 3 || st.DisconnectsGraceful != 2 {
			return fmt.Errorf("disconnects %d, graceful %d; want 3 and 2", st.Disconnects, st.DisconnectsGraceful)
		}
		if st.MessagesReceivedByQoS != [3]int64{1, 3, 0} {
			return fmt.Errorf("received by QoS %v, want [1 3 0]", st.MessagesReceivedByQoS)
		}
		if st.MessagesRoutedByQoS != [3]int64{1, 2, 0} {
			return fmt.Errorf("routed by QoS %v, want [1 2 0]", st.MessagesRoutedByQoS)
		}
		return nil
	})
}

func TestStatsInflightAndQueued(t *testing.T) {
	b := testbroker.Start(t, broker.Options{SysInterval: -1, MaxInflight: 2})
	stalled, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "stalled"})
	stalled.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "w", QoS: 1}}})
	stalled.Expect(packet.TypeSuback)
	gone, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "gone"})
	gone.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "w", QoS: 1}}})
	gone.Expect(packet.TypeSuback)
	gone.Send(&packet.Disconnect{})
	gone.ExpectClosed(2 * time.Second)

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 5 {
		pub.Send(&packet.Publish{Topic: "w", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
		pub.Expect(packet.TypePuback)
	}
	// stalled: 2 in flight, 3 queued; gone: 5 queued.
	testbroker.Eventually(t, 2*time.Second, func() error {
		st := b.Stats()
		if st.Inflight != 2 || st.Queued != 8 || st.QueuedMax != 5 {
			return fmt.Errorf("inflight %d, queued %d, queued max %d; want 2, 8, 5", st.Inflight, st.Queued, st.QueuedMax)
		}
		return nil
	})
}

// TestStatsStore reports the pebble store's size and times its commits.
func TestStatsStore(t *testing.T) {
	st := tempPebble(t)
	b := testbroker.Start(t, broker.Options{SysInterval: -1, Store: st})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "keeper"})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "s", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	if n := b.Stats().StoreBytes; n <= 0 {
		t.Errorf("StoreBytes %d, want more than 0", n)
	}
	if h := b.Latency().StoreCommit; h.Count == 0 || h.Sum <= 0 {
		t.Errorf("store commit latency: count %d, sum %s", h.Count, h.Sum)
	}
}
