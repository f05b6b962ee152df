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

// TestDupAfterTwoCrashes: queued QoS 2 messages sent before a crash keep
// DUP through a second crash, after a restart that rewrote the session's
// record while its client was away; once they have gone out again and the
// client leaves, the record no longer says they may have been sent.
func TestDupAfterTwoCrashes(t *testing.T) {
	st := newStuckStore()
	b1 := testbroker.Start(t, broker.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { close(st.release) })
	connect := &packet.Connect{ClientID: "q2twice"}
	connect.Properties.SessionExpiryInterval, connect.Properties.HasSessionExpiryInterval = 300, true

	sub, _ := mqtttest.Connect(t, b1.Addr, packet.V5, connect)
	subscribeOK(t, sub, 1, packet.Subscription{Filter: "twice/#", QoS: 2})
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(2 * time.Second)
	pub, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "q2twice-pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "twice/a", QoS: 2, PacketID: 1, Payload: []byte("a")})
	pub.Expect(packet.TypePubrec)

	st.stickOnQueue.Store(true)
	back, _ := mqtttest.Connect(t, b1.Addr, packet.V5, connect)
	first := back.Expect(packet.TypePublish).(*packet.Publish)
	if first.Dup {
		t.Fatal("first delivery has DUP set")
	}
	select {
	case <-st.hung:
	case <-time.After(5 * time.Second):
		t.Fatal("no commit of the sent entry")
	}

	// First crash. The next broker writes the session's record at once,
	// with the time it expires, while its client is away.
	testbroker.Start(t, broker.Options{Store: st.Store, Logger: slog.New(slog.DiscardHandler)})
	testbroker.Eventually(t, 5*time.Second, func() error {
		rec, err := sessionRecord(st.Store, "q2twice")
		if err != nil {
			return err
		}
		if rec.ExpiresAt == 0 {
			return errNotYet
		}
		if !rec.Online {
			t.Fatal("the record rewritten after the crash no longer says the queue may have been sent")
		}
		return nil
	})

	// Second crash.
	b3 := testbroker.Start(t, broker.Options{Store: st.Store})
	again, ack := mqtttest.Connect(t, b3.Addr, packet.V5, connect)
	if !ack.SessionPresent {
		t.Fatal("session not present after two crashes")
	}
	p := again.Expect(packet.TypePublish).(*packet.Publish)
	if string(p.Payload) != "a" || p.PacketID != first.PacketID || !p.Dup {
		t.Fatalf("after two crashes got %q id %d DUP %t, want %q again with id %d and DUP", p.Payload, p.PacketID,
			p.Dup, "a", first.PacketID)
	}
	again.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
	expectAck(t, again, packet.TypePubrel, p.PacketID, packet.Success)
	again.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
	again.Send(&packet.Disconnect{})
	again.ExpectClosed(2 * time.Second)
	testbroker.Eventually(t, 5*time.Second, func() error {
		rec, err := sessionRecord(st.Store, "q2twice")
		if err != nil {
			return err
		}
		if rec.Online {
			return fmt.Errorf("record of the session, its queue sent again and its client gone, says online")
		}
		return nil
	})
}
