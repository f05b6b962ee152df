package broker_test

import (
	"context"
	"log/slog"
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

// changingRules is an Authorizer whose rules a test changes: while denyB is
// set, nothing under "b/" may be subscribed to. Publishing is always
// allowed.
type changingRules struct{ denyB atomic.Bool }

func (r *changingRules) Authorize(_ context.Context, _ *broker.ClientInfo, a broker.Action, t string) bool {
	return a == broker.ActionPublish || !r.denyB.Load() || !strings.HasPrefix(t, "b/")
}

// publishQoS1 publishes payload to topic at QoS 1 from pub, and waits for
// the PUBACK.
func publishQoS1(t *testing.T, pub *mqtttest.Conn, id uint16, topic, payload string) {
	t.Helper()
	pub.Send(&packet.Publish{Topic: topic, QoS: 1, PacketID: id, Payload: []byte(payload)})
	expectAck(t, pub, packet.TypePuback, id, packet.Success)
}

// TestReauthorizeRevokesSubscriptions: after a change of the Authorizer's
// rules, Reauthorize takes back the subscriptions they refuse, of a
// connected client and of a persistent session whose client is away, and
// records each in the audit log; the others stay. The session's record
// loses them too: a broker restarted on the store does not restore them.
func TestReauthorizeRevokesSubscriptions(t *testing.T) {
	rules := &changingRules{}
	var audit syncBuffer
	st := memory.New()
	b := testbroker.Start(t, broker.Options{Store: st, Authorizer: rules,
		Audit: slog.New(slog.NewJSONHandler(&audit, nil))})

	online, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "online"})
	subscribeOK(t, online, 1, packet.Subscription{Filter: "a/#", QoS: 1}, packet.Subscription{Filter: "b/#", QoS: 1})
	away, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("away", false, 3600))
	subscribeOK(t, away, 1, packet.Subscription{Filter: "a/#", QoS: 1}, packet.Subscription{Filter: "b/#", QoS: 1})
	away.Send(&packet.Disconnect{})
	away.ExpectClosed(2 * time.Second)

	rules.denyB.Store(true)
	if n := b.Reauthorize(); n != 2 {
		t.Fatalf("Reauthorize took back %d subscriptions, want 2", n)
	}
	if n := b.Reauthorize(); n != 0 {
		t.Fatalf("a second Reauthorize took back %d, want 0", n)
	}

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishQoS1(t, pub, 1, "b/x", "revoked")
	publishQoS1(t, pub, 2, "a/x", "kept")
	p := expectPublish(t, online, "kept")
	online.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	online.ExpectNothing(100 * time.Millisecond)

	away, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("away", false, 3600))
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	p = expectPublish(t, away, "kept")
	away.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	away.ExpectNothing(100 * time.Millisecond)

	revoked := 0
	for _, r := range audit.records(t) {
		if r["msg"] == "revoked" {
			revoked++
			if r["filter"] != "b/#" || (r["client_id"] != "online" && r["client_id"] != "away") {
				t.Errorf("audit record %v", r)
			}
		}
	}
	if revoked != 2 {
		t.Errorf("%d revoked records in the audit log, want 2:\n%s", revoked, audit.String())
	}

	// The session's record holds a/# alone: a broker on the store with
	// rules that allow b/# again delivers nothing under b/.
	online.Close()
	away.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rules.denyB.Store(false)
	b2 := testbroker.Start(t, broker.Options{Store: st, Authorizer: rules})
	online, _ = mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "online"})
	pub, _ = mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishQoS1(t, pub, 1, "b/x", "not subscribed")
	publishQoS1(t, pub, 2, "a/x", "still")
	expectPublish(t, online, "still")
}

// TestReauthorizeOnResume: a session restored from the store is checked
// when its client resumes it, under the rules of the broker that restored
// it, and so is a session whose client was away, with no ClientInfo kept,
// when the rules changed.
func TestReauthorizeOnResume(t *testing.T) {
	st := memory.New()
	b := testbroker.Start(t, broker.Options{Store: st})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub"})
	subscribeOK(t, c, 1, packet.Subscription{Filter: "a/#", QoS: 1}, packet.Subscription{Filter: "b/#", QoS: 1})
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	rules := &changingRules{}
	rules.denyB.Store(true)
	b2 := testbroker.Start(t, broker.Options{Store: st, Authorizer: rules})
	// Restored from the store: no ClientInfo to check the session with
	// until its client comes back.
	if n := b2.Reauthorize(); n != 0 {
		t.Fatalf("Reauthorize took back %d subscriptions of a session not resumed, want 0", n)
	}
	c, ack := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "sub"})
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	pub, _ := mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishQoS1(t, pub, 1, "b/x", "revoked")
	publishQoS1(t, pub, 2, "a/x", "kept")
	p := expectPublish(t, c, "kept")
	c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	c.ExpectNothing(100 * time.Millisecond)
}

// TestSubscribeAfterRulesChange: a subscription the new rules refuse is
// refused with Not authorized; one they allow again is granted.
func TestSubscribeAfterRulesChange(t *testing.T) {
	rules := &changingRules{}
	b := testbroker.Start(t, broker.Options{Authorizer: rules})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("sub", true, 0))
	rules.denyB.Store(true)
	b.Reauthorize()
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "b/#", QoS: 1}}})
	if ack := c.Expect(packet.TypeSuback).(*packet.Suback); ack.ReasonCodes[0] != packet.NotAuthorized {
		t.Fatalf("SUBACK %v, want Not authorized", ack.ReasonCodes)
	}
	rules.denyB.Store(false)
	b.Reauthorize()
	subscribeOK(t, c, 2, packet.Subscription{Filter: "b/#", QoS: 1})
}
