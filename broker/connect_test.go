package broker_test

import (
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestClientIDRules covers empty client identifiers in each version.
func TestClientIDRules(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	tests := []struct {
		name  string
		v     packet.Version
		clean bool
		want  packet.ReasonCode
		raw   byte // the return code on the wire
	}{
		// [MQTT-3.1.3-6] An empty id with Clean Session gets an assigned one.
		{name: "v311 empty clean", v: packet.V311, clean: true, want: packet.Success, raw: 0},
		// [MQTT-3.1.3-8] An empty id without Clean Session is refused with 0x02.
		{name: "v311 empty persistent", v: packet.V311, clean: false, want: packet.ClientIdentifierNotValid, raw: 2},
		{name: "v31 empty clean", v: packet.V31, clean: true, want: packet.Success, raw: 0},
		{name: "v31 empty persistent", v: packet.V31, clean: false, want: packet.ClientIdentifierNotValid, raw: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mqtttest.Dial(t, b.Addr, tc.v)
			c.Send(&packet.Connect{Version: tc.v, CleanStart: tc.clean})
			ack := c.Expect(packet.TypeConnack).(*packet.Connack)
			if ack.ReasonCode != tc.want {
				t.Fatalf("CONNACK %s, want %s", ack.ReasonCode, tc.want)
			}
			if tc.want != packet.Success {
				// [MQTT-3.2.2-5] A refused connection is closed.
				c.ExpectClosed(2 * time.Second)
			} else {
				c.Send(&packet.Pingreq{})
				c.Expect(packet.TypePingresp)
			}
		})
	}
}

// TestRawConnackBytes checks the exact bytes of refusals in 3.1.1.
func TestRawConnackBytes(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c := mqtttest.Dial(t, b.Addr, packet.V311)
	// CONNECT, level 4, Clean Session 0, keep-alive 60, empty client id.
	c.SendRaw([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 60, 0, 0})
	buf := make([]byte, 4)
	got := readN(t, c, buf)
	if want := []byte{0x20, 0x02, 0x00, 0x02}; string(got) != string(want) {
		t.Fatalf("CONNACK bytes % x, want % x", got, want)
	}
}

// TestUnsupportedProtocolLevel answers level 6 with CONNACK 0x01 and closes
// [MQTT-3.1.2-2].
func TestUnsupportedProtocolLevel(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c := mqtttest.Dial(t, b.Addr, packet.V311)
	c.SendRaw([]byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 1, 'x'})
	if got := readN(t, c, make([]byte, 4)); string(got) != string([]byte{0x20, 2, 0, 1}) {
		t.Fatalf("CONNACK bytes % x", got)
	}
	c.ExpectClosed(2 * time.Second)
}

// TestFirstPacketMustBeConnect sends PINGREQ first: the connection is
// closed [MQTT-3.1.0-1].
func TestFirstPacketMustBeConnect(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c := mqtttest.Dial(t, b.Addr, packet.V311)
	c.Send(&packet.Pingreq{})
	if got := c.ExpectClosed(2 * time.Second); len(got) != 0 {
		t.Fatalf("got %v before close", got)
	}
}

// TestSecondConnect closes a connection that sends CONNECT twice
// [MQTT-3.1.0-2].
func TestSecondConnect(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "twice", CleanStart: true})
	c.Send(&packet.Connect{Version: packet.V311, ClientID: "twice", CleanStart: true})
	c.ExpectClosed(2 * time.Second)
}

// TestConnectTimeout closes a connection that sends nothing within
// ConnectTimeout, and counts it.
func TestConnectTimeout(t *testing.T) {
	b := testbroker.Start(t, broker.Options{ConnectTimeout: 200 * time.Millisecond})
	c := mqtttest.Dial(t, b.Addr, packet.V311)
	c.ExpectClosed(3 * time.Second)
	testbroker.Eventually(t, 2*time.Second, func() error {
		if b.Stats().Dropped["connect_timeout"] != 1 {
			return errNotYet
		}
		return nil
	})
}

// TestSlowConnect: a CONNECT that comes, or comes whole, only after the
// connection would have parked is still taken within ConnectTimeout.
func TestSlowConnect(t *testing.T) {
	b := testbroker.Start(t, broker.Options{ConnectTimeout: 5 * time.Second, IdleAfter: 10 * time.Millisecond})
	raw, err := (&packet.Connect{Version: packet.V311, ClientID: "slow", CleanStart: true}).Append(nil, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range []int{0, 3} {
		c := mqtttest.Dial(t, b.Addr, packet.V311)
		if split > 0 {
			c.SendRaw(raw[:split])
		}
		time.Sleep(100 * time.Millisecond) // ten times IdleAfter
		c.SendRaw(raw[split:])
		if ack := c.Expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode != packet.Success {
			t.Fatalf("CONNECT sent after %d bytes and a pause: CONNACK %v", split, ack.ReasonCode)
		}
		c.Send(&packet.Pingreq{})
		c.Expect(packet.TypePingresp)
		c.Close()
	}
}

// TestMalformedPacketClosesOnlyThatConnection sends a SUBSCRIBE with a
// reserved flag bit set [MQTT-3.8.1-1]: that connection closes, another
// stays up.
func TestMalformedPacketClosesOnlyThatConnection(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	good, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "good", CleanStart: true})
	bad, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "bad", CleanStart: true})
	bad.SendRaw([]byte{0x80, 0x06, 0, 1, 0, 1, 'a', 0})
	bad.ExpectClosed(2 * time.Second)
	good.Send(&packet.Pingreq{})
	good.Expect(packet.TypePingresp)
}

// TestWildcardInTopicName closes a connection that publishes to a topic
// name with a wildcard [MQTT-3.3.2-2].
func TestWildcardInTopicName(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "c", CleanStart: true})
	c.Send(&packet.Publish{Topic: "a/+", Payload: []byte("x")})
	c.ExpectClosed(2 * time.Second)
}

// TestInvalidFilterRefused answers an invalid filter with 0x80 in SUBACK
// and keeps the connection [MQTT-3.8.4-5].
func TestInvalidFilterRefused(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "c", CleanStart: true})
	c.Send(&packet.Subscribe{PacketID: 9, Subscriptions: []packet.Subscription{{Filter: "a/#/b"}, {Filter: "ok", QoS: 1}}})
	ack := c.Expect(packet.TypeSuback).(*packet.Suback)
	if ack.PacketID != 9 || len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] < 0x80 || ack.ReasonCodes[1] != packet.GrantedQoS1 {
		t.Fatalf("SUBACK %+v", ack)
	}
	c.Send(&packet.Unsubscribe{PacketID: 10, Filters: []string{"ok"}})
	if got := c.Expect(packet.TypeUnsuback).(*packet.Unsuback); got.PacketID != 10 {
		t.Fatalf("UNSUBACK %+v", got)
	}
}

func readN(t *testing.T, c *mqtttest.Conn, buf []byte) []byte {
	t.Helper()
	b, err := c.ReadRaw(len(buf), 2*time.Second)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}
