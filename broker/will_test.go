package broker_test

import (
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

func willSubscriber(t *testing.T, addr string) *mqtttest.Conn {
	t.Helper()
	c, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "watcher", CleanStart: true})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "status/#", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	return c
}

func willConnect(t *testing.T, addr, id string, v packet.Version, keepAlive uint16, retain bool) *mqtttest.Conn {
	t.Helper()
	c, _ := mqtttest.Connect(t, addr, v, &packet.Connect{
		ClientID: id, CleanStart: true, KeepAlive: keepAlive,
		Will: &packet.Will{Topic: "status/" + id, Payload: []byte("gone"), QoS: 1, Retain: retain},
	})
	return c
}

// TestWillOnKilledConnection closes a client's socket without DISCONNECT:
// its will is published [MQTT-3.1.2-8].
func TestWillOnKilledConnection(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	w := willSubscriber(t, b.Addr)
	for _, v := range []packet.Version{packet.V31, packet.V311} {
		c := willConnect(t, b.Addr, "dev-"+v.String(), v, 0, false)
		c.Close()
		got := w.Expect(packet.TypePublish).(*packet.Publish)
		if got.Topic != "status/dev-"+v.String() || string(got.Payload) != "gone" || got.QoS != 1 {
			t.Fatalf("will %+v", got)
		}
		w.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: got.PacketID})
	}
}

// TestNoWillAfterDisconnect ends with DISCONNECT: the will is discarded
// [MQTT-3.14.4-3].
func TestNoWillAfterDisconnect(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	w := willSubscriber(t, b.Addr)
	c := willConnect(t, b.Addr, "polite", packet.V311, 0, false)
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	w.ExpectNothing(300 * time.Millisecond)
}

// TestWillOnKeepAliveTimeout lets a client with a 1 s keep-alive go silent:
// the broker closes it after 1.5 s and publishes its will [MQTT-3.1.2-24].
func TestWillOnKeepAliveTimeout(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	w := willSubscriber(t, b.Addr)
	start := time.Now()
	c := willConnect(t, b.Addr, "silent", packet.V311, 1, false)
	c.ExpectClosed(5 * time.Second)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed after %s, before the keep-alive period", d)
	}
	if got := w.Expect(packet.TypePublish).(*packet.Publish); got.Topic != "status/silent" {
		t.Fatalf("will %+v", got)
	}
}

// TestKeepAliveKeptByPing keeps a 1 s keep-alive connection open for 3 s
// with PINGREQ [MQTT-3.12.4-1].
func TestKeepAliveKeptByPing(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pinger", CleanStart: true, KeepAlive: 1})
	for range 6 {
		time.Sleep(500 * time.Millisecond)
		c.Send(&packet.Pingreq{})
		c.Expect(packet.TypePingresp)
	}
}

// TestRetainedWill publishes a will with RETAIN set: later subscribers get
// it as a retained message [MQTT-3.1.2-17].
func TestRetainedWill(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c := willConnect(t, b.Addr, "kept", packet.V311, 0, true)
	c.Close()
	testbroker.Eventually(t, 5*time.Second, func() error {
		if b.Stats().Retained != 1 {
			return errNotYet
		}
		return nil
	})
	w := willSubscriber(t, b.Addr)
	if got := w.Expect(packet.TypePublish).(*packet.Publish); !got.Retain || string(got.Payload) != "gone" {
		t.Fatalf("retained will %+v", got)
	}
}
