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

// TestManyRetainedOnSubscribe subscribes to a filter that matches four times
// MaxOutputBytes of retained QoS 0 messages: they all reach a subscriber
// that reads, none dropped for want of room in its output, which may hold
// RetainedOutputFactor times MaxOutputBytes of retained messages.
func TestManyRetainedOnSubscribe(t *testing.T) {
	const n, size = 1000, 1024
	b := testbroker.Start(t, broker.Options{MaxOutputBytes: n * size / 4})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	payload := make([]byte, size)
	for i := range n {
		pub.Send(&packet.Publish{Topic: fmt.Sprintf("many/%d", i), Retain: true, Payload: payload})
	}
	testbroker.Eventually(t, 5*time.Second, func() error {
		if got := b.Stats().Retained; got != n {
			return fmt.Errorf("%d retained, want %d", got, n)
		}
		return nil
	})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "many/#"}}})
	sub.Expect(packet.TypeSuback)
	for i := range n {
		p, err := sub.Read(5 * time.Second)
		if err != nil {
			t.Fatalf("retained message %d of %d: %v", i, n, err)
		}
		if pp, ok := p.(*packet.Publish); !ok || !pp.Retain {
			t.Fatalf("retained message %d of %d: got %v", i, n, p)
		}
	}
	if d := b.Stats().Dropped["output_full"]; d != 0 {
		t.Fatalf("%d retained messages dropped", d)
	}
}
