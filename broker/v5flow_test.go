package broker_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestConnackCapabilities: a 5.0 CONNACK tells the client the largest
// packet the broker takes [MQTT-3.2.2-15] and how many topic aliases it may
// set.
func TestConnackCapabilities(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxPacketSize: 4096, TopicAliasMaximum: 10})
	_, ack := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "caps", CleanStart: true})
	pr := ack.Properties
	if !pr.HasMaximumPacketSize || pr.MaximumPacketSize != 4096 {
		t.Fatalf("Maximum Packet Size %d (set %v), want 4096", pr.MaximumPacketSize, pr.HasMaximumPacketSize)
	}
	if !pr.HasTopicAliasMaximum || pr.TopicAliasMaximum != 10 {
		t.Fatalf("Topic Alias Maximum %d (set %v), want 10", pr.TopicAliasMaximum, pr.HasTopicAliasMaximum)
	}
}

// TestReceiveMaximum: the broker never has more unacknowledged QoS 1 and 2
// PUBLISH packets out to a client than its Receive Maximum [MQTT-3.3.4-9].
func TestReceiveMaximum(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	con := &packet.Connect{ClientID: "slow", CleanStart: true}
	con.Properties.ReceiveMaximum, con.Properties.HasReceiveMaximum = 2, true
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, con)
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "rm", QoS: 2}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 5 {
		pub.Send(&packet.Publish{Topic: "rm", QoS: byte(1 + i%2), PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
	}
	var got []byte
	var pending []*packet.Publish
	for range 2 {
		p := sub.Expect(packet.TypePublish).(*packet.Publish)
		got = append(got, p.Payload...)
		pending = append(pending, p)
	}
	sub.ExpectNothing(200 * time.Millisecond)
	// Acknowledging one frees one place in the window: every message comes,
	// in order, and never more than two are unacknowledged.
	for len(pending) > 0 {
		p := pending[0]
		pending = pending[1:]
		if p.QoS == 1 {
			sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
		} else {
			// A successful PUBREC keeps a QoS 2 message in the count
			// until PUBCOMP [MQTT-3.3.4-9].
			sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
			sub.Expect(packet.TypePubrel)
			sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
		}
		if len(got) < 5 {
			n := sub.Expect(packet.TypePublish).(*packet.Publish)
			got = append(got, n.Payload...)
			pending = append(pending, n)
			if len(pending) > 2 {
				t.Fatalf("%d unacknowledged PUBLISH packets, Receive Maximum is 2", len(pending))
			}
		}
	}
	if string(got) != "01234" {
		t.Fatalf("delivered %q, want 01234", got)
	}
}

// TestMaximumPacketSizeOfClient: a PUBLISH larger than the client's
// Maximum Packet Size is not sent [MQTT-3.1.2-24], and the broker goes on
// as if it had been delivered [MQTT-3.1.2-25]: the next message follows.
func TestMaximumPacketSizeOfClient(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	con := &packet.Connect{ClientID: "small", CleanStart: true}
	con.Properties.MaximumPacketSize, con.Properties.HasMaximumPacketSize = 100, true
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, con)
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "mp", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "mp", QoS: 1, PacketID: 1, Payload: bytes.Repeat([]byte("x"), 200)})
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "mp", Payload: bytes.Repeat([]byte("y"), 200)})
	pub.Send(&packet.Publish{Topic: "mp", QoS: 1, PacketID: 2, Payload: []byte("fits")})
	pub.Expect(packet.TypePuback)
	if p := sub.Expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "fits" {
		t.Fatalf("got %d bytes, want the message that fits", len(p.Payload))
	}
	if n := b.Stats().Dropped["too_large_for_client"]; n != 2 {
		t.Fatalf("too_large_for_client drops = %d, want 2", n)
	}
}

// TestTopicAliasInbound: a 5.0 client sets an alias with a topic and then
// publishes with the alias alone [MQTT-3.3.2-12]; alias 0 [MQTT-3.3.2-8],
// an alias over the maximum [MQTT-3.3.2-9] and an alias never set close
// the connection.
func TestTopicAliasInbound(t *testing.T) {
	b := testbroker.Start(t, broker.Options{TopicAliasMaximum: 4})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "long/#"}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	aliased := func(topic string, alias uint16, payload string) *packet.Publish {
		p := &packet.Publish{Topic: topic, Payload: []byte(payload)}
		p.Properties.TopicAlias, p.Properties.HasTopicAlias = alias, true
		return p
	}
	pub.Send(aliased("long/topic/name", 3, "one"))
	pub.Send(aliased("", 3, "two"))
	for _, want := range []string{"one", "two"} {
		p := sub.Expect(packet.TypePublish).(*packet.Publish)
		if p.Topic != "long/topic/name" || string(p.Payload) != want {
			t.Fatalf("got %q on %q, want %q on long/topic/name", p.Payload, p.Topic, want)
		}
	}
	// Alias 0, which the codec refuses to encode: PUBLISH "long/x" with the
	// properties 0x23 (Topic Alias) 0x0000.
	zero, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "bad-zero", CleanStart: true})
	zero.SendRaw([]byte{0x30, 13, 0, 6, 'l', 'o', 'n', 'g', '/', 'x', 3, 0x23, 0, 0, 'x'})
	if d := zero.Expect(packet.TypeDisconnect).(*packet.Disconnect); d.ReasonCode != packet.TopicAliasInvalid {
		t.Fatalf("alias 0: DISCONNECT %v, want TopicAliasInvalid", d.ReasonCode)
	}
	for _, tt := range []struct {
		name string
		p    *packet.Publish
		code packet.ReasonCode
	}{
		{"over maximum", aliased("long/x", 5, "x"), packet.TopicAliasInvalid},
		{"never set", aliased("", 2, "x"), packet.ProtocolError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "bad-" + tt.name, CleanStart: true})
			c.Send(tt.p)
			d, ok := c.Expect(packet.TypeDisconnect).(*packet.Disconnect)
			if !ok || d.ReasonCode != tt.code {
				t.Fatalf("DISCONNECT %v, want %v", d.ReasonCode, tt.code)
			}
			c.ExpectClosed(2 * time.Second)
		})
	}
}

// TestPayloadFormatInvalid: a PUBLISH that declares a UTF-8 payload and
// carries something else is refused with Payload Format Invalid.
func TestPayloadFormatInvalid(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "pf", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	p := &packet.Publish{Topic: "pf", QoS: 1, PacketID: 1, Payload: []byte{0xff, 0xfe}}
	p.Properties.PayloadFormatIndicator, p.Properties.HasPayloadFormatIndicator = 1, true
	pub.Send(p)
	if a := pub.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode != packet.PayloadFormatInvalid {
		t.Fatalf("PUBACK %v, want PayloadFormatInvalid", a.ReasonCode)
	}
	p.Payload, p.PacketID = []byte("héllo"), 2
	pub.Send(p)
	pub.Expect(packet.TypePuback)
	got := sub.Expect(packet.TypePublish).(*packet.Publish)
	if string(got.Payload) != "héllo" || got.Properties.PayloadFormatIndicator != 1 {
		t.Fatalf("got %q with format %d", got.Payload, got.Properties.PayloadFormatIndicator)
	}
}

// TestKeepAliveTimeoutV5: a silent 5.0 client is told Keep Alive timeout
// (0x8D) before the connection closes, after 1.5 times its keep-alive
// [MQTT-3.1.2-22].
func TestKeepAliveTimeoutV5(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "quiet", CleanStart: true, KeepAlive: 1})
	p, err := c.Read(5 * time.Second)
	if err != nil {
		t.Fatalf("no DISCONNECT: %v", err)
	}
	if d, ok := p.(*packet.Disconnect); !ok || d.ReasonCode != packet.KeepAliveTimeout {
		t.Fatalf("got %+v, want DISCONNECT Keep Alive timeout", p)
	}
	c.ExpectClosed(2 * time.Second)
}

// TestSharedHandOver: a QoS 1 message that a shared subscription gave to a
// member whose session ends before acknowledging it goes to another member
// of the group (MQTT 5.0 section 4.8.2).
func TestSharedHandOver(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	members := map[string]*mqtttest.Conn{}
	for _, id := range []string{"a", "b"} {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: id, CleanStart: true})
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/jobs", QoS: 1}}})
		c.Expect(packet.TypeSuback)
		members[id] = c
	}
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 2 {
		pub.Send(&packet.Publish{Topic: "jobs", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
		pub.Expect(packet.TypePuback)
	}
	// Round robin: one each. a leaves without acknowledging.
	pa := members["a"].Expect(packet.TypePublish).(*packet.Publish)
	pb := members["b"].Expect(packet.TypePublish).(*packet.Publish)
	members["b"].Send(&packet.Ack{Kind: packet.TypePuback, PacketID: pb.PacketID})
	members["a"].Close()
	got := members["b"].Expect(packet.TypePublish).(*packet.Publish)
	if string(got.Payload) != string(pa.Payload) {
		t.Fatalf("b got %q, want a's unacknowledged %q", got.Payload, pa.Payload)
	}
}

// TestSharedStrategies: every message of a shared subscription goes to
// exactly one member, in turn or at random as configured.
func TestSharedStrategies(t *testing.T) {
	for _, st := range []broker.SharedStrategy{broker.SharedRoundRobin, broker.SharedRandom} {
		t.Run(fmt.Sprint(st), func(t *testing.T) {
			b := testbroker.Start(t, broker.Options{SharedStrategy: st})
			var members []*mqtttest.Conn
			for i := range 2 {
				c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: fmt.Sprint("m", i), CleanStart: true})
				c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/s"}}})
				c.Expect(packet.TypeSuback)
				members = append(members, c)
			}
			pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
			const n = 100
			for i := range n {
				pub.Send(&packet.Publish{Topic: "s", Payload: []byte{byte(i)}})
			}
			pub.Send(&packet.Publish{Topic: "s", QoS: 1, PacketID: 1, Payload: []byte("end")})
			pub.Expect(packet.TypePuback)
			counts := make([]int, 2)
			for i, c := range members {
				for {
					p, err := c.Read(300 * time.Millisecond)
					if err != nil {
						break
					}
					if pp, ok := p.(*packet.Publish); ok {
						counts[i]++
						if pp.QoS == 1 {
							c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: pp.PacketID})
						}
					}
				}
			}
			if counts[0]+counts[1] != n+1 || counts[0] == 0 || counts[1] == 0 {
				t.Fatalf("members got %v of %d", counts, n+1)
			}
			if st == broker.SharedRoundRobin && (counts[0] < n/2 || counts[1] < n/2) {
				t.Fatalf("round robin gave %v", counts)
			}
		})
	}
}

// TestServerKeepAliveAndResponseInformation: a 5.0 client that asks for a
// longer keep-alive than the broker allows is told the broker's
// [MQTT-3.2.2-21]; one that requests response information gets a topic base.
func TestServerKeepAliveAndResponseInformation(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxKeepAlive: 30})
	con := &packet.Connect{ClientID: "k", CleanStart: true, KeepAlive: 600}
	con.Properties.RequestResponseInformation, con.Properties.HasRequestResponseInformation = 1, true
	_, ack := mqtttest.Connect(t, b.Addr, packet.V5, con)
	if !ack.Properties.HasServerKeepAlive || ack.Properties.ServerKeepAlive != 30 {
		t.Fatalf("Server Keep Alive %d (set %v), want 30", ack.Properties.ServerKeepAlive, ack.Properties.HasServerKeepAlive)
	}
	if ack.Properties.ResponseInformation != "response/k/" {
		t.Fatalf("Response Information %q", ack.Properties.ResponseInformation)
	}
	_, ack = mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "k2", CleanStart: true, KeepAlive: 10})
	if ack.Properties.HasServerKeepAlive || ack.Properties.ResponseInformation != "" {
		t.Fatalf("unasked properties in CONNACK: %+v", ack.Properties)
	}
}

// TestTopicAliasOutbound: towards a 5.0 client with a Topic Alias Maximum
// the broker sets aliases, at most that many [MQTT-3.3.2-11], and then
// sends the alias without the topic.
func TestTopicAliasOutbound(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	con := &packet.Connect{ClientID: "sub", CleanStart: true}
	con.Properties.TopicAliasMaximum, con.Properties.HasTopicAliasMaximum = 2, true
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, con)
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "sensors/#"}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	topics := []string{"sensors/a", "sensors/b", "sensors/c", "sensors/a", "sensors/b", "sensors/c"}
	for _, tp := range topics {
		pub.Send(&packet.Publish{Topic: tp, Payload: []byte(tp)})
	}
	aliases := map[uint16]string{}
	for i, want := range topics {
		p := sub.Expect(packet.TypePublish).(*packet.Publish)
		topic := p.Topic
		if p.Properties.HasTopicAlias {
			a := p.Properties.TopicAlias
			if a == 0 || a > 2 {
				t.Fatalf("alias %d beyond the client's maximum 2", a)
			}
			if topic != "" {
				aliases[a] = topic
			} else {
				topic = aliases[a]
			}
		}
		if topic != want {
			t.Fatalf("message %d: topic %q (alias %d), want %q", i, topic, p.Properties.TopicAlias, want)
		}
		if i >= 3 && want != "sensors/c" && p.Topic != "" {
			t.Fatalf("message %d: topic sent again though it has an alias", i)
		}
	}
	if len(aliases) != 2 {
		t.Fatalf("%d aliases set, want 2", len(aliases))
	}
}

// TestUnsupportedAuthenticationMethod: a 5.0 client that asks for an
// enhanced authentication method the broker lacks is refused with Bad
// authentication method and the connection is closed [MQTT-4.12.0-1].
func TestUnsupportedAuthenticationMethod(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c := mqtttest.Dial(t, b.Addr, packet.V5)
	con := &packet.Connect{Version: packet.V5, ClientID: "scram", CleanStart: true}
	con.Properties.AuthenticationMethod = "SCRAM-SHA-256"
	c.Send(con)
	if ack := c.Expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("CONNACK %v, want BadAuthenticationMethod", ack.ReasonCode)
	}
	c.ExpectClosed(2 * time.Second)
}

// TestReasonStringLeftOutWhenTooLarge: a Reason String that would make a
// CONNACK larger than the client's Maximum Packet Size is left out
// [MQTT-3.2.2-19].
func TestReasonStringLeftOutWhenTooLarge(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, max := range []uint32{16, 1000} {
		c := mqtttest.Dial(t, b.Addr, packet.V5)
		con := &packet.Connect{Version: packet.V5, ClientID: "small", CleanStart: true}
		con.Properties.AuthenticationMethod = "unknown"
		con.Properties.MaximumPacketSize, con.Properties.HasMaximumPacketSize = max, true
		c.Send(con)
		ack := c.Expect(packet.TypeConnack).(*packet.Connack)
		if ack.ReasonCode != packet.BadAuthenticationMethod {
			t.Fatalf("max %d: CONNACK %v", max, ack.ReasonCode)
		}
		if got := ack.Properties.ReasonString != ""; got != (max == 1000) {
			t.Fatalf("max %d: reason string %q", max, ack.Properties.ReasonString)
		}
		c.Close()
	}
}

// TestPublishClientRules: a 5.0 client's PUBLISH with a Subscription
// Identifier [MQTT-3.3.4-6] or a Response Topic with wildcards
// [MQTT-3.3.2-14] is a protocol error.
func TestPublishClientRules(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for name, p := range map[string]*packet.Publish{
		"subscription identifier": {Topic: "a", Properties: packet.Properties{SubscriptionIdentifiers: []uint32{7}}},
		"wildcard response topic": {Topic: "a", Properties: packet.Properties{ResponseTopic: "reply/#"}},
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "rules", CleanStart: true})
			c.Send(p)
			if d := c.Expect(packet.TypeDisconnect).(*packet.Disconnect); d.ReasonCode != packet.ProtocolError {
				t.Fatalf("DISCONNECT %v, want ProtocolError", d.ReasonCode)
			}
			c.ExpectClosed(2 * time.Second)
		})
	}
}

// TestCleanStartDiscards: Clean Start 1 discards the existing session — its
// subscriptions and queued messages — and starts a new one [MQTT-3.1.2-4]
// [MQTT-3.1.4-4].
func TestCleanStartDiscards(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("cs", false, 3600))
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "cs/t", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("pub", true, 0))
	pub.Send(&packet.Publish{Topic: "cs/t", QoS: 1, PacketID: 1, Payload: []byte("queued")})
	pub.Expect(packet.TypePuback)

	c, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("cs", true, 3600))
	if ack.SessionPresent {
		t.Fatal("Session Present with Clean Start")
	}
	c.ExpectNothing(200 * time.Millisecond) // the queued message went with the old session
	pub.Send(&packet.Publish{Topic: "cs/t", QoS: 1, PacketID: 2, Payload: []byte("live")})
	pub.Expect(packet.TypePuback)
	c.ExpectNothing(200 * time.Millisecond) // and so did the subscription
	if cs, _ := b.Client("cs"); len(cs.Subscriptions) != 0 || cs.Queued != 0 {
		t.Fatalf("new session holds %+v", cs)
	}
}

// TestRetainZeroLeavesRetained: a PUBLISH with RETAIN 0 neither stores,
// replaces nor removes the retained message of its topic [MQTT-3.3.1-8].
func TestRetainZeroLeavesRetained(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("pub", true, 0))
	pub.Send(&packet.Publish{Topic: "r0/t", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("kept")})
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "r0/t", QoS: 1, PacketID: 2, Payload: []byte("not kept")})
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "r0/t", QoS: 1, PacketID: 3}) // empty, RETAIN 0: removes nothing
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "r0/other", QoS: 1, PacketID: 4, Payload: []byte("x")})
	pub.Expect(packet.TypePuback)
	got := b.RetainedMessages("r0/#", 0)
	if len(got) != 1 || string(got[0].Payload) != "kept" {
		t.Fatalf("retained %+v, want only r0/t = kept", got)
	}
}

// TestAssignedClientIdentifier: a 5.0 client with an empty client id gets a
// new one in CONNACK [MQTT-3.2.2-16], and the session goes by it
// [MQTT-3.1.3-7].
func TestAssignedClientIdentifier(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	seen := map[string]bool{}
	for range 3 {
		c, ack := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{CleanStart: true})
		id := ack.Properties.AssignedClientIdentifier
		if id == "" || seen[id] {
			t.Fatalf("assigned client identifier %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
		if _, ok := b.Client(id); !ok {
			t.Fatalf("no session under the assigned id %q", id)
		}
		c.Close()
	}
}
