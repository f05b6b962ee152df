package broker_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestQoSBothWays publishes at each QoS to subscribers at each QoS, with
// Paho over MQTT 3.1 and 3.1.1, and checks every message arrives once, in
// order, at the lower of the two QoS levels [MQTT-3.8.4-8] [MQTT-4.6.0-6].
func TestQoSBothWays(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, level := range []uint{3, 4} {
		for pubQoS := byte(0); pubQoS <= 2; pubQoS++ {
			for subQoS := byte(0); subQoS <= 2; subQoS++ {
				name := fmt.Sprintf("level=%d/pub=%d/sub=%d", level, pubQoS, subQoS)
				t.Run(name, func(t *testing.T) {
					tp := "qos/" + name
					var r received
					sub := pahoClient(t, b.Addr, "sub-"+name, true, level)
					wait(t, sub.Subscribe(tp, subQoS, r.handler))
					pub := pahoClient(t, b.Addr, "pub-"+name, true, level)
					const n = 20
					for i := range n {
						wait(t, pub.Publish(tp, pubQoS, false, fmt.Sprintf("m%d", i)))
					}
					got := r.waitFor(t, n)
					if !slices.Equal(payloads(got), seqPayloads(n)) {
						t.Fatalf("payloads %v", payloads(got))
					}
					for _, m := range got {
						if want := min(pubQoS, subQoS); m.Qos() != want {
							t.Fatalf("delivered at QoS %d, want %d", m.Qos(), want)
						}
						if m.Retained() {
							t.Fatal("RETAIN set on a live delivery [MQTT-3.3.1-9]")
						}
					}
					time.Sleep(50 * time.Millisecond)
					if extra := r.snapshot(); len(extra) != n {
						t.Fatalf("got %d messages, want exactly %d", len(extra), n)
					}
				})
			}
		}
	}
}

// TestQoS2ExactlyOnce re-sends a QoS 2 PUBLISH with the same packet id
// before releasing it: the subscriber gets it once [MQTT-4.3.3-9].
func TestQoS2ExactlyOnce(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "x/#", QoS: 2}}})
	sub.Expect(packet.TypeSuback)

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	p := &packet.Publish{QoS: 2, Topic: "x/1", PacketID: 7, Payload: []byte("once")}
	pub.Send(p)
	if a := pub.Expect(packet.TypePubrec).(*packet.Ack); a.PacketID != 7 {
		t.Fatalf("PUBREC for %d", a.PacketID)
	}
	p.Dup = true
	pub.Send(p)
	pub.Expect(packet.TypePubrec)
	pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 7})
	if a := pub.Expect(packet.TypePubcomp).(*packet.Ack); a.PacketID != 7 {
		t.Fatalf("PUBCOMP for %d", a.PacketID)
	}

	got := sub.Expect(packet.TypePublish).(*packet.Publish)
	if string(got.Payload) != "once" || got.QoS != 2 {
		t.Fatalf("got %+v", got)
	}
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: got.PacketID})
	if a := sub.Expect(packet.TypePubrel).(*packet.Ack); a.PacketID != got.PacketID {
		t.Fatalf("PUBREL for %d", a.PacketID)
	}
	sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: got.PacketID})
	sub.ExpectNothing(200 * time.Millisecond)

	// After PUBREL the same id starts a new message.
	p.Dup = false
	p.Payload = []byte("again")
	pub.Send(p)
	pub.Expect(packet.TypePubrec)
	if got := sub.Expect(packet.TypePublish).(*packet.Publish); string(got.Payload) != "again" {
		t.Fatalf("got %q", got.Payload)
	}
}

// TestOverlappingSubscriptions delivers a message matching several of one
// client's filters once, at the highest granted QoS [MQTT-3.3.5-1].
func TestOverlappingSubscriptions(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: "a/b", QoS: 0}, {Filter: "a/+", QoS: 2}, {Filter: "#", QoS: 1},
	}})
	ack := sub.Expect(packet.TypeSuback).(*packet.Suback)
	if !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{packet.GrantedQoS0, packet.GrantedQoS2, packet.GrantedQoS1}) {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{QoS: 1, Topic: "a/b", PacketID: 1, Payload: []byte("x")})
	pub.Expect(packet.TypePuback)
	got := sub.Expect(packet.TypePublish).(*packet.Publish)
	if got.QoS != 1 {
		t.Fatalf("QoS %d, want 1 (the message's QoS; highest granted is 2)", got.QoS)
	}
	sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: got.PacketID})
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestDollarTopics checks that wildcard filters at the first level do not
// match topics starting with '$' [MQTT-4.7.2-1].
func TestDollarTopics(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#"}, {Filter: "+/x"}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "$app/x", Payload: []byte("hidden")})
	pub.Send(&packet.Publish{Topic: "app/x", Payload: []byte("seen")})
	if got := sub.Expect(packet.TypePublish).(*packet.Publish); string(got.Payload) != "seen" {
		t.Fatalf("got %q on %q", got.Payload, got.Topic)
	}
	sub.ExpectNothing(100 * time.Millisecond)
}
