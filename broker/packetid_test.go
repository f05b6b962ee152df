package broker_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestQueuedQoS2GoesBeforeItsCommit: QoS 2 messages queued in the store
// for an offline session go out when its client returns without waiting
// for the commit that records them as sent. The broker is then killed
// before that commit: the one that takes over sends them again under the
// same packet ids, which the client still holds [MQTT-4.3.3-10], and with
// DUP set, since they may have been sent before [MQTT-3.3.1-1].
func TestQueuedQoS2GoesBeforeItsCommit(t *testing.T) {
	st := newStuckStore()
	b1 := testbroker.Start(t, broker.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { close(st.release) }) // before b1 shuts down, its commits failing

	sub, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "q2back"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "back/#", QoS: 2}}})
	sub.Expect(packet.TypeSuback)
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(2 * time.Second)

	pub, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "q2pub", CleanStart: true})
	const n = 3
	for i := range n {
		pub.Send(&packet.Publish{Topic: fmt.Sprintf("back/%d", i), QoS: 2, PacketID: uint16(i + 1),
			Payload: fmt.Appendf(nil, "m%d", i)})
		pub.Expect(packet.TypePubrec) // once the message and its entry are durable
	}

	// From the first commit that writes a queue entry on, nothing more
	// reaches the store: the session's record (CONNACK waits for it) does,
	// the entries that record the messages as sent do not.
	st.stickOnQueue.Store(true)
	back, ack := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "q2back"})
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	ids := make([]uint16, n)
	for i := range n {
		p := back.Expect(packet.TypePublish).(*packet.Publish)
		if want := fmt.Sprintf("m%d", i); string(p.Payload) != want || p.QoS != 2 || p.Dup {
			t.Fatalf("got %q QoS %d DUP %t, want %q at QoS 2 without DUP", p.Payload, p.QoS, p.Dup, want)
		}
		ids[i] = p.PacketID
	}
	select {
	case <-st.hung:
	case <-time.After(5 * time.Second):
		t.Fatal("no commit of the sent entries")
	}
	// PUBREL waits for the store to know of the PUBREC.
	back.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: ids[0]})
	back.ExpectNothing(200 * time.Millisecond)

	// The broker is killed now.
	b2 := testbroker.Start(t, broker.Options{Store: st.Store})
	again, ack := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "q2back"})
	if !ack.SessionPresent {
		t.Fatal("session not present after the crash")
	}
	for i := range n {
		p := again.Expect(packet.TypePublish).(*packet.Publish)
		if want := fmt.Sprintf("m%d", i); string(p.Payload) != want || p.PacketID != ids[i] || !p.Dup {
			t.Fatalf("after the crash got %q id %d DUP %t, want %q again with id %d and DUP", p.Payload, p.PacketID,
				p.Dup, want, ids[i])
		}
	}
	for _, id := range ids {
		again.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: id})
		expectAck(t, again, packet.TypePubrel, id, packet.Success)
		again.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: id})
	}
	again.ExpectNothing(300 * time.Millisecond)
}
