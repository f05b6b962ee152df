package broker_test

import (
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestRetained sets, replaces and clears a retained message and checks what
// a new subscriber receives each time.
func TestRetained(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	publish := func(payload string, qos byte) {
		pub.Send(&packet.Publish{Topic: "house/temp", QoS: qos, PacketID: 1, Retain: true, Payload: []byte(payload)})
		if qos == 1 {
			pub.Expect(packet.TypePuback)
		}
	}
	subscribe := func(id, filter string) *mqtttest.Conn {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: id, CleanStart: true})
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: 1}}})
		c.Expect(packet.TypeSuback)
		return c
	}

	publish("20", 1)
	s1 := subscribe("s1", "house/+")
	// [MQTT-3.3.1-6] [MQTT-3.3.1-8] A new subscription gets the retained
	// message, with RETAIN set.
	got := s1.Expect(packet.TypePublish).(*packet.Publish)
	if string(got.Payload) != "20" || !got.Retain || got.QoS != 1 {
		t.Fatalf("got %+v", got)
	}
	s1.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: got.PacketID})

	// [MQTT-3.3.1-5] A new retained message replaces the old one; the live
	// subscriber gets it without RETAIN [MQTT-3.3.1-9].
	publish("21", 0)
	if got := s1.Expect(packet.TypePublish).(*packet.Publish); string(got.Payload) != "21" || got.Retain {
		t.Fatalf("live delivery %+v", got)
	}
	s2 := subscribe("s2", "#")
	if got := s2.Expect(packet.TypePublish).(*packet.Publish); string(got.Payload) != "21" || !got.Retain || got.QoS != 0 {
		t.Fatalf("replaced retained %+v", got)
	}
	if n := b.Stats().Retained; n != 1 {
		t.Fatalf("Stats().Retained = %d", n)
	}

	// [MQTT-3.3.1-10] [MQTT-3.3.1-11] An empty retained message clears it; it
	// is still delivered to current subscribers.
	publish("", 1)
	if got := s1.Expect(packet.TypePublish).(*packet.Publish); len(got.Payload) != 0 {
		t.Fatalf("clear delivery %+v", got)
	}
	s3 := subscribe("s3", "house/temp")
	s3.ExpectNothing(200 * time.Millisecond)
	if n := b.Stats().Retained; n != 0 {
		t.Fatalf("Stats().Retained = %d after clear", n)
	}
}

// TestRetainedQoSDowngrade sends a retained QoS 2 message to a QoS 0
// subscription at QoS 0.
func TestRetainedQoSDowngrade(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "t", QoS: 2, PacketID: 3, Retain: true, Payload: []byte("r")})
	pub.Expect(packet.TypePubrec)
	pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 3})
	pub.Expect(packet.TypePubcomp)
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 0}}})
	sub.Expect(packet.TypeSuback)
	if got := sub.Expect(packet.TypePublish).(*packet.Publish); got.QoS != 0 || !got.Retain {
		t.Fatalf("got %+v", got)
	}
}
