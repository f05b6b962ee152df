package broker_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
)

// The tests in this file check statements of MQTT 5.0 that
// docs/mqtt5-conformance.md lists, each named in the test's doc comment,
// with the raw mqtttest client so that every packet the broker sends can be
// asserted. Where a test must show that something is NOT sent, it sends a
// barrier that the broker handles after it, on the same path, and checks
// what came before the barrier; a short ExpectNothing closes the rest.

// subscribeOK subscribes c and fails the test unless every subscription is
// granted the QoS it asks for.
func subscribeOK(t *testing.T, c *mqtttest.Conn, id uint16, subs ...packet.Subscription) {
	t.Helper()
	c.Send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	ack := c.Expect(packet.TypeSuback).(*packet.Suback)
	if ack.PacketID != id || len(ack.ReasonCodes) != len(subs) {
		t.Fatalf("SUBACK %+v for %d subscriptions, id %d", ack, len(subs), id)
	}
	for i, s := range subs {
		if ack.ReasonCodes[i] != packet.ReasonCode(s.QoS) {
			t.Fatalf("SUBACK %v for %q, want granted QoS %d", ack.ReasonCodes[i], s.Filter, s.QoS)
		}
	}
}

// expectPublish reads the next packet of c, which must be a PUBLISH with
// payload want.
func expectPublish(t *testing.T, c *mqtttest.Conn, want string) *packet.Publish {
	t.Helper()
	p := c.Expect(packet.TypePublish).(*packet.Publish)
	if string(p.Payload) != want {
		t.Fatalf("PUBLISH %q on %q, want %q", p.Payload, p.Topic, want)
	}
	return p
}

// expectAck reads the next packet of c, which must be an acknowledgement of
// kind for id with code.
func expectAck(t *testing.T, c *mqtttest.Conn, kind packet.Type, id uint16, code packet.ReasonCode) *packet.Ack {
	t.Helper()
	a := c.Expect(kind).(*packet.Ack)
	if a.PacketID != id || a.ReasonCode != code {
		t.Fatalf("%s id %d %v, want id %d %v", kind, a.PacketID, a.ReasonCode, id, code)
	}
	return a
}

// noProblemInfo fails the test if pr carries a Reason String or a User
// Property.
func noProblemInfo(t *testing.T, what string, pr *packet.Properties) {
	t.Helper()
	if pr.ReasonString != "" || len(pr.UserProperties) > 0 {
		t.Fatalf("%s carries Reason String %q, User Properties %v", what, pr.ReasonString, pr.UserProperties)
	}
}

// flood publishes QoS 0 messages to topic through the broker's router, as
// fast as it can, until the returned stop is called.
func flood(b *testbroker.Broker, topic string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			b.Router().Publish(&broker.Message{Topic: topic, Payload: []byte(fmt.Sprint(i))}, nil)
			runtime.Gosched()
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// lastIsDisconnect checks that the packets a connection got before its
// close end with a DISCONNECT with code, and returns it.
func lastIsDisconnect(t *testing.T, got []packet.Packet, code packet.ReasonCode) *packet.Disconnect {
	t.Helper()
	for i, p := range got {
		d, ok := p.(*packet.Disconnect)
		if !ok {
			continue
		}
		if d.ReasonCode != code {
			t.Fatalf("DISCONNECT %v, want %v", d.ReasonCode, code)
		}
		if i != len(got)-1 {
			t.Fatalf("%d packets after the DISCONNECT, first %s [MQTT-3.14.4-1]", len(got)-1-i, got[i+1].Type())
		}
		return d
	}
	t.Fatalf("closed without DISCONNECT %v (got %d packets)", code, len(got))
	return nil
}

// TestConformanceMatchingIsByteWise: topic names and filters match byte for
// byte, without normalisation: not case, not Unicode composition, not a
// trailing '/' [MQTT-4.7.3-4]; and a U+FEFF (BOM) in a topic is kept, in the
// filter and in the topic forwarded [MQTT-1.5.4-3].
func TestConformanceMatchingIsByteWise(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "bytes", CleanStart: true})
	subscribeOK(t, sub, 1,
		packet.Subscription{Filter: "caf\u00e9/+", QoS: 1},
		packet.Subscription{Filter: "\ufeffbom/t", QoS: 1},
		packet.Subscription{Filter: "Case/t", QoS: 1},
		packet.Subscription{Filter: "slash/t/", QoS: 1})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	// Each topic that must not match comes before one that must: anything
	// delivered for it arrives ahead of the next expected message.
	for i, tc := range []struct {
		topic string
		match bool
	}{
		{"cafe\u0301/x", false}, // decomposed é
		{"caf\u00e9/x", true},
		{"bom/t", false},
		{"\ufeffbom/t", true},
		{"case/t", false},
		{"CASE/t", false},
		{"Case/t", true},
		{"slash/t", false},
		{"slash/t/", true},
	} {
		pub.Send(&packet.Publish{Topic: tc.topic, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(tc.topic)})
		pub.Expect(packet.TypePuback)
		if !tc.match {
			continue
		}
		p := expectPublish(t, sub, tc.topic)
		if p.Topic != tc.topic {
			t.Fatalf("topic % x forwarded as % x", tc.topic, p.Topic)
		}
		sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestConformanceServerPacketIDs: every QoS 1 and 2 PUBLISH the broker
// sends has a non-zero Packet Identifier that no other delivery in flight
// uses [MQTT-2.2.1-4] [MQTT-4.3.2-1] [MQTT-4.3.3-1]. Three deliveries stay in
// flight (a QoS 1 message not acknowledged, a QoS 2 message not received,
// a QoS 2 message released but not completed) while 65,540 more go
// through, so that the identifiers wrap around past them.
func TestConformanceServerPacketIDs(t *testing.T) {
	const bulk = 65535 + 5
	b := testbroker.Start(t, broker.Options{MaxQueued: bulk + 10})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "ids", CleanStart: true})
	subscribeOK(t, sub, 1, packet.Subscription{Filter: "ids/#", QoS: 2})
	publish := func(qos byte, payload string) {
		b.Router().Publish(&broker.Message{Topic: "ids/t", QoS: qos, Payload: []byte(payload)}, nil)
	}
	publish(1, "held-qos1")
	publish(2, "held-qos2")
	publish(2, "held-released")
	held := map[uint16]string{}
	for _, want := range []string{"held-qos1", "held-qos2", "held-released"} {
		p := expectPublish(t, sub, want)
		if p.PacketID == 0 || held[p.PacketID] != "" {
			t.Fatalf("%s has packet id %d, in use by %q", want, p.PacketID, held[p.PacketID])
		}
		held[p.PacketID] = want
	}
	var released uint16
	for id, name := range held {
		if name == "held-released" {
			released = id
		}
	}
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: released})
	expectAck(t, sub, packet.TypePubrel, released, packet.Success)

	for range bulk {
		publish(1, "bulk")
	}
	// Read and acknowledge the bulk, sending the PUBACKs in batches.
	var acks []byte
	seen := 0
	wrapped := false
	var last uint16
	for seen < bulk {
		p, err := sub.Read(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", seen, bulk, err)
		}
		pp, ok := p.(*packet.Publish)
		if !ok || string(pp.Payload) != "bulk" {
			t.Fatalf("after %d messages got %s %+v", seen, p.Type(), p)
		}
		id := pp.PacketID
		if id == 0 || held[id] != "" {
			t.Fatalf("message %d of the bulk has packet id %d, in use by %q", seen, id, held[id])
		}
		if id < last {
			wrapped = true
		}
		last = id
		seen++
		acks, _ = (&packet.Ack{Kind: packet.TypePuback, PacketID: id}).Append(acks, packet.V5)
		if seen%16 == 0 || seen == bulk {
			sub.SendRaw(acks)
			acks = acks[:0]
		}
	}
	if !wrapped {
		t.Fatalf("packet ids never wrapped around (last %d)", last)
	}
	// The held deliveries are still the client's to finish.
	for id, name := range held {
		switch name {
		case "held-qos1":
			sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: id})
		case "held-qos2":
			sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: id})
			expectAck(t, sub, packet.TypePubrel, id, packet.Success)
			sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: id})
		case "held-released":
			sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: id})
		}
	}
	testbroker.Eventually(t, 5*time.Second, func() error {
		if cs, _ := b.Client("ids"); cs.Inflight != 0 || cs.Queued != 0 {
			return fmt.Errorf("%d in flight, %d queued", cs.Inflight, cs.Queued)
		}
		return nil
	})
}

// TestConformanceWillNotRetained: a will with Will Retain 0 is published
// as a message that is not retained [MQTT-3.1.2-14], with its User
// Properties in their order [MQTT-3.1.3-10].
func TestConformanceWillNotRetained(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	w, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "watcher", CleanStart: true})
	// Retain As Published: a retained message would arrive with RETAIN 1.
	subscribeOK(t, w, 1, packet.Subscription{Filter: "will/#", QoS: 1, RetainAsPublished: true})
	props := []packet.UserProperty{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}, {Key: "z", Value: "0"}, {Key: "m", Value: ""}}
	will := &packet.Will{Topic: "will/dev", Payload: []byte("gone"), QoS: 1}
	will.Properties.UserProperties = props
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "dev", CleanStart: true, Will: will})
	c.Close()
	p := expectPublish(t, w, "gone")
	if p.Retain {
		t.Fatal("will with Will Retain 0 published with RETAIN 1")
	}
	if fmt.Sprint(p.Properties.UserProperties) != fmt.Sprint(props) {
		t.Fatalf("will User Properties %v, want %v in this order", p.Properties.UserProperties, props)
	}
	w.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	if got := b.RetainedMessages("will/#", 0); len(got) != 0 {
		t.Fatalf("will retained: %+v", got[0])
	}
	late, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "late", CleanStart: true})
	subscribeOK(t, late, 1, packet.Subscription{Filter: "will/#", QoS: 1})
	late.ExpectNothing(200 * time.Millisecond)
}

// TestConformanceBadConnectClosed: a CONNECT whose Will Topic or User Name
// is not a UTF-8 Encoded String [MQTT-3.1.3-11] [MQTT-3.1.3-12], or that
// lacks a will field or the password its flags announce [MQTT-3.1.2-9]
// [MQTT-3.1.2-19], is malformed: the connection closes without CONNACK or
// DISCONNECT [MQTT-3.14.0-1]. A will topic that is UTF-8 but no topic name
// is refused with CONNACK 0x90, then the close.
func TestConformanceBadConnectClosed(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		// The inputs of vectors in packet/testdata/connect.txt.
		{"will topic not UTF-8", []byte("\x10\x15\x00\x04MQTT\x05\x06\x00\x00\x00\x00\x01c\x00\x00\x02\xc3\x28\x00\x00")},
		{"user name not UTF-8", []byte("\x10\x12\x00\x04MQTT\x05\x82\x00\x00\x00\x00\x01c\x00\x02\xc3\x28")},
		{"user name with U+0000", []byte("\x10\x11\x00\x04MQTT\x04\x82\x00\x3c\x00\x01c\x00\x02u\x00")},
		{"will payload missing", []byte("\x10\x12\x00\x04MQTT\x05\x06\x00\x00\x00\x00\x01c\x00\x00\x01w")},
		{"will topic missing", []byte("\x10\x0f\x00\x04MQTT\x05\x06\x00\x00\x00\x00\x01c\x00")},
		{"password missing", []byte("\x10\x11\x00\x04MQTT\x05\xc2\x00\x00\x00\x00\x01c\x00\x01u")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mqtttest.Dial(t, b.Addr, packet.V5)
			c.SendRaw(tc.raw)
			if got := c.ExpectClosed(2 * time.Second); len(got) != 0 {
				t.Fatalf("got %s before the close, want nothing", got[0].Type())
			}
		})
	}
	t.Run("will topic with wildcard", func(t *testing.T) {
		c := mqtttest.Dial(t, b.Addr, packet.V5)
		c.Send(&packet.Connect{Version: packet.V5, ClientID: "w", CleanStart: true, Will: &packet.Will{Topic: "a/+", Payload: []byte("x")}})
		got := c.ExpectClosed(2 * time.Second)
		if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.TopicNameInvalid {
			t.Fatalf("got %v, want only CONNACK TopicNameInvalid", got)
		}
	})
	if n := len(b.Clients()); n != 0 {
		t.Fatalf("%d sessions after refused CONNECTs", n)
	}
}

// TestConformanceNoTopicAliasWithoutMaximum: towards a client that sent no
// Topic Alias Maximum, or 0, the broker sends no Topic Alias
// [MQTT-3.1.2-27].
func TestConformanceNoTopicAliasWithoutMaximum(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	absent := &packet.Connect{ClientID: "absent", CleanStart: true}
	zero := &packet.Connect{ClientID: "zero", CleanStart: true}
	zero.Properties.TopicAliasMaximum, zero.Properties.HasTopicAliasMaximum = 0, true
	var subs []*mqtttest.Conn
	for _, con := range []*packet.Connect{absent, zero} {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V5, con)
		subscribeOK(t, c, 1, packet.Subscription{Filter: "alias/#"})
		subs = append(subs, c)
	}
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	const topic = "alias/a/rather/long/topic/name"
	for i := range 3 {
		pub.Send(&packet.Publish{Topic: topic, Payload: []byte{byte('0' + i)}})
	}
	for _, c := range subs {
		for i := range 3 {
			p := expectPublish(t, c, string(rune('0'+i)))
			if p.Properties.HasTopicAlias || p.Topic != topic {
				t.Fatalf("message %d: topic %q, alias %d (set %v)", i, p.Topic, p.Properties.TopicAlias, p.Properties.HasTopicAlias)
			}
		}
	}
}

// TestConformanceTopicAliasPerConnection: Topic Alias mappings end with
// their connection, though the session goes on [MQTT-3.3.2-7]: an alias the
// client set is unknown on its next connection, and the broker sets its own
// aliases anew, with the topic.
func TestConformanceTopicAliasPerConnection(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	aliased := func(topic string, alias uint16, payload string) *packet.Publish {
		p := &packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte(payload)}
		p.Properties.TopicAlias, p.Properties.HasTopicAlias = alias, true
		return p
	}

	t.Run("inbound", func(t *testing.T) {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("in", true, 3600))
		c.Send(aliased("in/topic", 1, "sets"))
		c.Expect(packet.TypePuback)
		c.Send(aliased("", 1, "uses"))
		c.Expect(packet.TypePuback)
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(2 * time.Second)
		c, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("in", false, 3600))
		if !ack.SessionPresent {
			t.Fatal("session not present")
		}
		c.Send(aliased("", 1, "stale"))
		expectDisconnect(t, c, packet.ProtocolError)
	})

	t.Run("outbound", func(t *testing.T) {
		con := func(clean bool) *packet.Connect {
			p := v5Connect("out", clean, 3600)
			p.Properties.TopicAliasMaximum, p.Properties.HasTopicAliasMaximum = 5, true
			return p
		}
		sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, con(true))
		subscribeOK(t, sub, 1, packet.Subscription{Filter: "out/#"})
		pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
		const topic = "out/some/topic"
		pub.Send(&packet.Publish{Topic: topic, Payload: []byte("1")})
		pub.Send(&packet.Publish{Topic: topic, Payload: []byte("2")})
		if p := expectPublish(t, sub, "1"); p.Topic != topic || !p.Properties.HasTopicAlias {
			t.Fatalf("first message: topic %q, alias set %v", p.Topic, p.Properties.HasTopicAlias)
		}
		if p := expectPublish(t, sub, "2"); p.Topic != "" {
			t.Fatalf("second message: topic %q sent again, want the alias alone", p.Topic)
		}
		sub.Send(&packet.Disconnect{})
		sub.ExpectClosed(2 * time.Second)
		sub, ack := mqtttest.Connect(t, b.Addr, packet.V5, con(false))
		if !ack.SessionPresent {
			t.Fatal("session not present")
		}
		pub.Send(&packet.Publish{Topic: topic, Payload: []byte("3")})
		if p := expectPublish(t, sub, "3"); p.Topic != topic {
			t.Fatalf("first message on the new connection: topic %q (alias %d), want the topic", p.Topic, p.Properties.TopicAlias)
		}
	})
}

// TestConformanceAcknowledgementsCarryNoProblemInformation: a client that
// sets Request Problem Information to 0 gets no Reason String or User
// Property on any packet but PUBLISH, CONNACK and DISCONNECT
// [MQTT-3.1.2-29]. A client with a small Maximum Packet Size gets every
// CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK, failures
// included, without a Reason String or User Property that would make it
// larger [MQTT-3.2.2-20] [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2]
// [MQTT-3.5.2-3] [MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2] [MQTT-3.7.2-3]
// [MQTT-3.9.2-1] [MQTT-3.9.2-2] [MQTT-3.11.2-1] [MQTT-3.11.2-2]. PUBCOMP
// uses PUBCOMP reason codes: 0x00, and 0x92 for an unknown id
// [MQTT-3.7.2-1].
func TestConformanceAcknowledgementsCarryNoProblemInformation(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, tc := range []struct {
		name, id string
		set      func(*packet.Properties)
	}{
		{"request problem information 0", "rpi0", func(pr *packet.Properties) {
			pr.RequestProblemInformation, pr.HasRequestProblemInformation = 0, true
		}},
		{"maximum packet size 20", "max20", func(pr *packet.Properties) {
			pr.MaximumPacketSize, pr.HasMaximumPacketSize = 20, true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			con := &packet.Connect{ClientID: tc.id, CleanStart: true}
			tc.set(&con.Properties)
			c, ack := mqtttest.Connect(t, b.Addr, packet.V5, con)
			noProblemInfo(t, "CONNACK", &ack.Properties)
			checkAcknowledgements(t, b, c, tc.id)
		})
	}
}

// checkAcknowledgements makes the broker send c every kind of
// acknowledgement, failures included, and checks that none carries a
// Reason String or User Property.
func checkAcknowledgements(t *testing.T, b *testbroker.Broker, c *mqtttest.Conn, id string) {
	t.Helper()
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: id + "/t", QoS: 2}, {Filter: "a/#/bad"}}})
	suback := c.Expect(packet.TypeSuback).(*packet.Suback)
	if fmt.Sprint(suback.ReasonCodes) != fmt.Sprint([]packet.ReasonCode{packet.GrantedQoS2, packet.TopicFilterInvalid}) {
		t.Fatalf("SUBACK %v", suback.ReasonCodes)
	}
	noProblemInfo(t, "SUBACK", &suback.Properties)

	c.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{id + "/none"}})
	unsuback := c.Expect(packet.TypeUnsuback).(*packet.Unsuback)
	if len(unsuback.ReasonCodes) != 1 || unsuback.ReasonCodes[0] != packet.NoSubscriptionExisted {
		t.Fatalf("UNSUBACK %v", unsuback.ReasonCodes)
	}
	noProblemInfo(t, "UNSUBACK", &unsuback.Properties)

	notUTF8 := func(qos byte, pid uint16) *packet.Publish {
		p := &packet.Publish{Topic: id + "/x", QoS: qos, PacketID: pid, Payload: []byte{0xff}}
		p.Properties.PayloadFormatIndicator, p.Properties.HasPayloadFormatIndicator = 1, true
		return p
	}
	c.Send(notUTF8(1, 3))
	noProblemInfo(t, "PUBACK 0x99", &expectAck(t, c, packet.TypePuback, 3, packet.PayloadFormatInvalid).Properties)
	c.Send(notUTF8(2, 4))
	noProblemInfo(t, "PUBREC 0x99", &expectAck(t, c, packet.TypePubrec, 4, packet.PayloadFormatInvalid).Properties)
	c.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: 77})
	noProblemInfo(t, "PUBREL 0x92", &expectAck(t, c, packet.TypePubrel, 77, packet.PacketIdentifierNotFound).Properties)
	c.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 78})
	noProblemInfo(t, "PUBCOMP 0x92", &expectAck(t, c, packet.TypePubcomp, 78, packet.PacketIdentifierNotFound).Properties)

	c.Send(&packet.Publish{Topic: id + "/x", QoS: 1, PacketID: 5, Payload: []byte("ok")})
	noProblemInfo(t, "PUBACK", &expectAck(t, c, packet.TypePuback, 5, packet.Success).Properties)
	c.Send(&packet.Publish{Topic: id + "/x", QoS: 2, PacketID: 6, Payload: []byte("ok")})
	noProblemInfo(t, "PUBREC", &expectAck(t, c, packet.TypePubrec, 6, packet.Success).Properties)
	c.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 6})
	noProblemInfo(t, "PUBCOMP", &expectAck(t, c, packet.TypePubcomp, 6, packet.Success).Properties)

	// The broker's own QoS 2 delivery: PUBREL after the client's PUBREC.
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub-" + id, CleanStart: true})
	pub.Send(&packet.Publish{Topic: id + "/t", QoS: 2, PacketID: 1, Payload: []byte("m")})
	pub.Expect(packet.TypePubrec)
	p := expectPublish(t, c, "m")
	c.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
	noProblemInfo(t, "PUBREL", &expectAck(t, c, packet.TypePubrel, p.PacketID, packet.Success).Properties)
	c.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
	c.Send(&packet.Pingreq{})
	c.Expect(packet.TypePingresp)
}

// TestConformanceDisconnectReasonStringFits: the broker leaves the Reason
// String out of a DISCONNECT that it would make larger than the client's
// Maximum Packet Size [MQTT-3.14.2-3], and sends it otherwise; a DISCONNECT
// never carries a User Property [MQTT-3.14.2-4].
func TestConformanceDisconnectReasonStringFits(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, limit := range []uint32{16, 1000} {
		t.Run(fmt.Sprint("max=", limit), func(t *testing.T) {
			con := &packet.Connect{ClientID: "small", CleanStart: true}
			con.Properties.MaximumPacketSize, con.Properties.HasMaximumPacketSize = limit, true
			con.Properties.RequestProblemInformation, con.Properties.HasRequestProblemInformation = 1, true
			c, _ := mqtttest.Connect(t, b.Addr, packet.V5, con)
			// A Subscription Identifier from a client is a Protocol Error.
			c.Send(&packet.Publish{Topic: "a", Properties: packet.Properties{SubscriptionIdentifiers: []uint32{7}}})
			d := lastIsDisconnect(t, c.ExpectClosed(2*time.Second), packet.ProtocolError)
			if got := d.Properties.ReasonString != ""; got != (limit == 1000) {
				t.Fatalf("Reason String %q with Maximum Packet Size %d", d.Properties.ReasonString, limit)
			}
			if len(d.Properties.UserProperties) != 0 {
				t.Fatalf("DISCONNECT User Properties %v", d.Properties.UserProperties)
			}
		})
	}
}

// TestConformanceRefusedConnectProcessesNothing: after refusing a CONNECT
// the broker processes nothing more the client sent [MQTT-3.1.4-6] (a
// retained PUBLISH and a SUBSCRIBE that came in the same write have no
// effect), and sends no DISCONNECT: the CONNACK is all the client gets
// [MQTT-3.14.0-1].
func TestConformanceRefusedConnectProcessesNothing(t *testing.T) {
	b := testbroker.Start(t, broker.Options{Authenticator: onePassword{}, AuthFailureLimit: -1})
	var raw []byte
	for _, p := range []packet.Packet{
		&packet.Connect{Version: packet.V5, ClientID: "intruder", CleanStart: true,
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("bad")},
		&packet.Publish{Topic: "refused/t", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("planted")},
		&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "refused/#", QoS: 1}}},
		&packet.Pingreq{},
	} {
		var err error
		if raw, err = p.Append(raw, packet.V5); err != nil {
			t.Fatal(err)
		}
	}
	c := mqtttest.Dial(t, b.Addr, packet.V5)
	c.SendRaw(raw)
	got := c.ExpectClosed(2 * time.Second)
	if len(got) != 1 {
		t.Fatalf("got %d packets, want only the CONNACK: %v", len(got), got)
	}
	if ack, ok := got[0].(*packet.Connack); !ok || ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("got %+v, want CONNACK BadUserNameOrPassword", got[0])
	}
	if _, ok := b.Client("intruder"); ok {
		t.Fatal("refused client has a session")
	}
	if n := b.Stats().MessagesReceived; n != 0 {
		t.Fatalf("%d messages received from a refused client", n)
	}
	w, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "w", CleanStart: true,
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("good")})
	subscribeOK(t, w, 1, packet.Subscription{Filter: "refused/#", QoS: 1})
	w.ExpectNothing(200 * time.Millisecond)
}

// TestConformanceConnackFirst: the first packet the broker sends on a
// connection is the CONNACK [MQTT-3.2.0-1]; the messages queued for a
// resumed session, and those in flight to it, follow.
func TestConformanceConnackFirst(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("first", true, 3600))
	subscribeOK(t, c, 1, packet.Subscription{Filter: "first/q", QoS: 1})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "first/q", QoS: 1, PacketID: 1, Payload: []byte("0")})
	pub.Expect(packet.TypePuback)
	expectPublish(t, c, "0") // in flight, not acknowledged
	c.Close()
	testbroker.Eventually(t, 2*time.Second, func() error {
		if cs, _ := b.Client("first"); cs.Connected {
			return errNotYet
		}
		return nil
	})
	for i := 1; i <= 2; i++ {
		pub.Send(&packet.Publish{Topic: "first/q", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
		pub.Expect(packet.TypePuback)
	}
	// mqtttest.Connect fails unless the first packet is the CONNACK.
	c, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("first", false, 3600))
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	for i := range 3 {
		p := expectPublish(t, c, string(rune('0'+i)))
		c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
}

// TestConformanceOneConnack: a second CONNECT gets no second CONNACK
// [MQTT-3.2.0-2]: a 5.0 client is told Protocol Error (0x82) in a
// DISCONNECT and the connection closes [MQTT-3.1.0-2]; a 3.1.1 client's
// connection closes with nothing sent.
func TestConformanceOneConnack(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		t.Run(v.String(), func(t *testing.T) {
			c, _ := mqtttest.Connect(t, b.Addr, v, &packet.Connect{ClientID: "twice", CleanStart: true})
			c.Send(&packet.Connect{Version: v, ClientID: "twice", CleanStart: true})
			got := c.ExpectClosed(2 * time.Second)
			if v == packet.V311 {
				if len(got) != 0 {
					t.Fatalf("got %s after the second CONNECT", got[0].Type())
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d packets after the second CONNECT: %v", len(got), got)
			}
			lastIsDisconnect(t, got, packet.ProtocolError)
		})
	}
}

// TestConformanceFullCapabilities: Midge supports QoS 1 and 2, retained
// messages and every Will QoS, so the statements about a server that lacks
// them never apply. Its CONNACK carries no Maximum QoS and no Retain
// Available [MQTT-3.2.2-9]; SUBSCRIBE is granted QoS 0, 1 and 2 as asked
// [MQTT-3.2.2-10]; a will at QoS 2 with Will Retain 1 is accepted
// [MQTT-3.2.2-12] [MQTT-3.2.2-13], and published as such.
func TestConformanceFullCapabilities(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, ack := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "sub", CleanStart: true})
	if pr := ack.Properties; pr.HasMaximumQoS || pr.HasRetainAvailable {
		t.Fatalf("CONNACK Maximum QoS %d (set %v), Retain Available %d (set %v)", pr.MaximumQoS, pr.HasMaximumQoS,
			pr.RetainAvailable, pr.HasRetainAvailable)
	}
	subscribeOK(t, sub, 1,
		packet.Subscription{Filter: "cap/0"},
		packet.Subscription{Filter: "cap/1", QoS: 1},
		packet.Subscription{Filter: "cap/#", QoS: 2, RetainAsPublished: true})
	will := &packet.Will{Topic: "cap/will", Payload: []byte("gone"), QoS: 2, Retain: true}
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "dev", CleanStart: true, Will: will})
	c.Close()
	p := expectPublish(t, sub, "gone")
	if p.QoS != 2 || !p.Retain {
		t.Fatalf("will delivered at QoS %d, RETAIN %v; want QoS 2, retained", p.QoS, p.Retain)
	}
	if got := b.RetainedMessages("cap/will", 0); len(got) != 1 || got[0].QoS != 2 {
		t.Fatalf("retained will %+v", got)
	}
}

// TestConformanceNoServerTopicAliases: a broker configured to accept no
// Topic Alias sends no Topic Alias Maximum, and a client that sends an
// alias anyway is disconnected with Topic Alias invalid [MQTT-3.2.2-18].
func TestConformanceNoServerTopicAliases(t *testing.T) {
	b := testbroker.Start(t, broker.Options{TopicAliasMaximum: -1})
	c, ack := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "c", CleanStart: true})
	if ack.Properties.HasTopicAliasMaximum {
		t.Fatalf("CONNACK Topic Alias Maximum %d", ack.Properties.TopicAliasMaximum)
	}
	p := &packet.Publish{Topic: "a/b", Payload: []byte("x")}
	p.Properties.TopicAlias, p.Properties.HasTopicAlias = 1, true
	c.Send(p)
	expectDisconnect(t, c, packet.TopicAliasInvalid)
}

// TestConformanceUnsubscribeStopsDelivery: once the broker has answered
// UNSUBSCRIBE it adds no message of that filter for the client
// [MQTT-3.10.4-2]; a barrier published after the message shows it.
func TestConformanceUnsubscribeStopsDelivery(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "sub", CleanStart: true})
	subscribeOK(t, sub, 1, packet.Subscription{Filter: "us/+", QoS: 1}, packet.Subscription{Filter: "barrier", QoS: 1})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "us/a", QoS: 1, PacketID: 1, Payload: []byte("before")})
	pub.Expect(packet.TypePuback)
	sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: expectPublish(t, sub, "before").PacketID})

	sub.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"us/+"}})
	if ack := sub.Expect(packet.TypeUnsuback).(*packet.Unsuback); ack.ReasonCodes[0] != packet.Success {
		t.Fatalf("UNSUBACK %v", ack.ReasonCodes)
	}
	pub.Send(&packet.Publish{Topic: "us/a", QoS: 1, PacketID: 2, Payload: []byte("after")})
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "us/b", Payload: []byte("after, QoS 0")})
	pub.Send(&packet.Publish{Topic: "barrier", QoS: 1, PacketID: 3, Payload: []byte("barrier")})
	pub.Expect(packet.TypePuback)
	sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: expectPublish(t, sub, "barrier").PacketID})
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestConformanceUnsubscribeCompletesInflight: QoS 1 and 2 deliveries that
// had begun when the client unsubscribed are completed [MQTT-3.10.4-3]:
// on reconnection the broker sends them again, and a PUBREL for the one
// already received.
func TestConformanceUnsubscribeCompletesInflight(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("uc", true, 3600))
	subscribeOK(t, sub, 1, packet.Subscription{Filter: "uc/#", QoS: 2})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "uc/1", QoS: 1, PacketID: 1, Payload: []byte("one")})
	pub.Expect(packet.TypePuback)
	for i, payload := range []string{"two", "three"} {
		pub.Send(&packet.Publish{Topic: "uc/2", QoS: 2, PacketID: uint16(2 + i), Payload: []byte(payload)})
		pub.Expect(packet.TypePubrec)
		pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: uint16(2 + i)})
		pub.Expect(packet.TypePubcomp)
	}
	one := expectPublish(t, sub, "one")
	two := expectPublish(t, sub, "two")
	three := expectPublish(t, sub, "three")
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: three.PacketID})
	expectAck(t, sub, packet.TypePubrel, three.PacketID, packet.Success)

	sub.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"uc/#"}})
	if ack := sub.Expect(packet.TypeUnsuback).(*packet.Unsuback); ack.ReasonCodes[0] != packet.Success {
		t.Fatalf("UNSUBACK %v", ack.ReasonCodes)
	}
	sub.Close()
	sub, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("uc", false, 3600))
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	for _, want := range []*packet.Publish{one, two} {
		p := expectPublish(t, sub, string(want.Payload))
		if !p.Dup || p.PacketID != want.PacketID {
			t.Fatalf("%q re-sent with DUP %v, id %d; want DUP, id %d", p.Payload, p.Dup, p.PacketID, want.PacketID)
		}
	}
	expectAck(t, sub, packet.TypePubrel, three.PacketID, packet.Success)
	sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: one.PacketID})
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: two.PacketID})
	expectAck(t, sub, packet.TypePubrel, two.PacketID, packet.Success)
	sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: two.PacketID})
	sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: three.PacketID})
	testbroker.Eventually(t, 2*time.Second, func() error {
		if cs, _ := b.Client("uc"); cs.Inflight != 0 || len(cs.Subscriptions) != 0 {
			return fmt.Errorf("%d in flight, subscriptions %v", cs.Inflight, cs.Subscriptions)
		}
		return nil
	})
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestConformanceServerDisconnect: no DISCONNECT the broker sends carries a
// Session Expiry Interval [MQTT-3.14.2-2], whatever the reason: a Protocol
// Error, a packet over the broker's Maximum Packet Size (0x95)
// [MQTT-3.2.2-15], a session taken over (0x8E) [MQTT-3.1.4-3], an operator's
// Disconnect (0x98), a keep-alive timeout (0x8D), the server shutting down
// (0x8B). Each DISCONNECT is the last packet before the close
// [MQTT-3.14.4-1] [MQTT-3.14.4-2].
func TestConformanceServerDisconnect(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxPacketSize: 1024})
	connect := func(t *testing.T, addr string, keepAlive uint16) *mqtttest.Conn {
		t.Helper()
		con := v5Connect("d-"+t.Name(), true, 3600)
		con.KeepAlive = keepAlive
		c, _ := mqtttest.Connect(t, addr, packet.V5, con)
		return c
	}
	for _, tc := range []struct {
		name      string
		keepAlive uint16
		act       func(t *testing.T, c *mqtttest.Conn)
		code      packet.ReasonCode
	}{
		{"protocol error", 0, func(t *testing.T, c *mqtttest.Conn) {
			c.Send(&packet.Publish{Topic: "a", Properties: packet.Properties{SubscriptionIdentifiers: []uint32{7}}})
		}, packet.ProtocolError},
		{"packet too large", 0, func(t *testing.T, c *mqtttest.Conn) {
			c.SendRaw([]byte{0x30, 0x80, 0x10}) // PUBLISH, Remaining Length 2048
		}, packet.PacketTooLarge},
		{"takeover", 0, func(t *testing.T, c *mqtttest.Conn) {
			mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("d-"+t.Name(), false, 3600))
		}, packet.SessionTakenOver},
		{"operator", 0, func(t *testing.T, c *mqtttest.Conn) {
			if !b.Disconnect("d-" + t.Name()) {
				t.Fatal("Disconnect found no connection")
			}
		}, packet.AdministrativeAction},
		{"keep-alive", 1, func(*testing.T, *mqtttest.Conn) {}, packet.KeepAliveTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, b.Addr, tc.keepAlive)
			tc.act(t, c)
			d := lastIsDisconnect(t, c.ExpectClosed(5*time.Second), tc.code)
			if d.Properties.HasSessionExpiryInterval {
				t.Fatalf("DISCONNECT carries Session Expiry Interval %d", d.Properties.SessionExpiryInterval)
			}
		})
	}
	t.Run("shutdown", func(t *testing.T) {
		b2 := testbroker.Start(t, broker.Options{})
		c := connect(t, b2.Addr, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b2.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		d := lastIsDisconnect(t, c.ExpectClosed(2*time.Second), packet.ServerShuttingDown)
		if d.Properties.HasSessionExpiryInterval {
			t.Fatalf("DISCONNECT carries Session Expiry Interval %d", d.Properties.SessionExpiryInterval)
		}
	})
}

// TestConformanceNothingAfterDisconnect: once the broker has sent a
// DISCONNECT it sends nothing more on the connection [MQTT-3.14.4-1], though
// a stream of messages for the client goes on: after a Protocol Error,
// a takeover and an operator's Disconnect.
func TestConformanceNothingAfterDisconnect(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	stop := flood(b, "nd/flood")
	defer stop()
	for _, tc := range []struct {
		name string
		act  func(t *testing.T, id string, c *mqtttest.Conn)
		code packet.ReasonCode
	}{
		{"protocol error", func(t *testing.T, _ string, c *mqtttest.Conn) {
			c.Send(&packet.Publish{Topic: "a", Properties: packet.Properties{SubscriptionIdentifiers: []uint32{7}}})
		}, packet.ProtocolError},
		{"takeover", func(t *testing.T, id string, _ *mqtttest.Conn) {
			mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: id})
		}, packet.SessionTakenOver},
		{"operator", func(t *testing.T, id string, _ *mqtttest.Conn) {
			b.Disconnect(id)
		}, packet.AdministrativeAction},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "nd-" + tc.name
			c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: id})
			c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "nd/flood"}}})
			// Wait for the SUBACK and for the stream to reach the client;
			// messages may come before the SUBACK.
			var acked, streaming bool
			for !acked || !streaming {
				p, err := c.Read(mqtttest.DefaultTimeout)
				if err != nil {
					t.Fatal(err)
				}
				switch p.Type() {
				case packet.TypeSuback:
					acked = true
				case packet.TypePublish:
					streaming = true
				default:
					t.Fatalf("got %s %+v", p.Type(), p)
				}
			}
			tc.act(t, id, c)
			lastIsDisconnect(t, c.ExpectClosed(5*time.Second), tc.code)
		})
	}
}

// TestConformanceReservedFlags: a DISCONNECT [MQTT-3.14.1-1] or AUTH
// [MQTT-3.15.1-1] whose reserved fixed-header flags are not 0 is a
// Malformed Packet: a 5.0 client is told 0x81 and the connection closes.
// Such a DISCONNECT is no normal disconnection: the will is published. Such
// an AUTH starts no re-authentication.
func TestConformanceReservedFlags(t *testing.T) {
	m := &challengeMethod{secrets: map[string]string{"alice": "a-secret"}}
	b := testbroker.Start(t, broker.Options{EnhancedAuth: []broker.EnhancedAuthenticator{m}})
	w, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "watcher", CleanStart: true})
	subscribeOK(t, w, 1, packet.Subscription{Filter: "rf/#"})

	t.Run("DISCONNECT", func(t *testing.T) {
		for _, v := range []packet.Version{packet.V5, packet.V311} {
			id := "rf-" + v.String()
			c, _ := mqtttest.Connect(t, b.Addr, v, &packet.Connect{ClientID: id, CleanStart: true,
				Will: &packet.Will{Topic: "rf/" + id, Payload: []byte(id)}})
			c.SendRaw([]byte{0xe1, 0x00})
			got := c.ExpectClosed(2 * time.Second)
			if v == packet.V5 {
				lastIsDisconnect(t, got, packet.MalformedPacket)
			} else if len(got) != 0 {
				t.Fatalf("%s: got %s before the close", v, got[0].Type())
			}
			expectPublish(t, w, id)
		}
	})

	t.Run("AUTH", func(t *testing.T) {
		c := challengeLogin(t, b.Addr, "alice", "a-secret")
		// AUTH 0x19 with the method and data of a re-authentication, with
		// flags 0b0001.
		raw, err := authPacket(packet.ReAuthenticate, "TEST-CHALLENGE", "alice").Append(nil, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		raw[0] |= 0x01
		c.SendRaw(raw)
		expectDisconnect(t, c, packet.MalformedPacket)
	})
}

// TestConformanceAuthCarriesNoProblemInformation: the AUTH packets the
// broker sends, in the exchange before CONNACK and in a re-authentication,
// carry no Reason String or User Property, so none can take them beyond the
// client's Maximum Packet Size [MQTT-3.15.2-2] [MQTT-3.15.2-3]; the client
// also set Request Problem Information to 0 [MQTT-3.1.2-29].
func TestConformanceAuthCarriesNoProblemInformation(t *testing.T) {
	m := &challengeMethod{secrets: map[string]string{"alice": "a-secret"}}
	b := testbroker.Start(t, broker.Options{EnhancedAuth: []broker.EnhancedAuthenticator{m}})
	c := mqtttest.Dial(t, b.Addr, packet.V5)
	con := &packet.Connect{Version: packet.V5, ClientID: "auth-rpi", CleanStart: true}
	con.Properties.AuthenticationMethod, con.Properties.AuthenticationData = "TEST-CHALLENGE", []byte("alice")
	con.Properties.RequestProblemInformation, con.Properties.HasRequestProblemInformation = 0, true
	con.Properties.MaximumPacketSize, con.Properties.HasMaximumPacketSize = 64, true
	c.Send(con)
	a := c.Expect(packet.TypeAuth).(*packet.Auth)
	noProblemInfo(t, "AUTH 0x18", &a.Properties)
	c.Send(authPacket(packet.ContinueAuthentication, "TEST-CHALLENGE", "a-secret:"+string(a.Properties.AuthenticationData)))
	ack := c.Expect(packet.TypeConnack).(*packet.Connack)
	if ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	c.Send(authPacket(packet.ReAuthenticate, "TEST-CHALLENGE", "alice"))
	a = c.Expect(packet.TypeAuth).(*packet.Auth)
	if a.ReasonCode != packet.ContinueAuthentication {
		t.Fatalf("AUTH %v, want ContinueAuthentication", a.ReasonCode)
	}
	noProblemInfo(t, "AUTH 0x18 (re-authentication)", &a.Properties)
	c.Send(authPacket(packet.ContinueAuthentication, "TEST-CHALLENGE", "a-secret:"+string(a.Properties.AuthenticationData)))
	a = c.Expect(packet.TypeAuth).(*packet.Auth)
	if a.ReasonCode != packet.Success {
		t.Fatalf("AUTH %v, want Success", a.ReasonCode)
	}
	noProblemInfo(t, "AUTH 0x00", &a.Properties)
}

// TestConformanceSessionKeptWhileConnected: a session is kept as long as
// its connection is open, however short its Session Expiry Interval
// [MQTT-4.1.0-1]; the interval counts from the close.
func TestConformanceSessionKeptWhileConnected(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("kept", true, 1))
	subscribeOK(t, c, 1, packet.Subscription{Filter: "kept/t", QoS: 1})
	time.Sleep(1500 * time.Millisecond) // past the interval, connected all the while
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "kept/t", QoS: 1, PacketID: 1, Payload: []byte("still here")})
	pub.Expect(packet.TypePuback)
	c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: expectPublish(t, c, "still here").PacketID})
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	if _, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("kept", false, 1)); !ack.SessionPresent {
		t.Fatal("session gone at once after a connection longer than its expiry interval")
	}
}

// TestConformanceQoS2AndMessageExpiry: the Message Expiry Interval ends no
// QoS 2 exchange once begun. As sender, the broker sends a QoS 2 message
// again after its expiry once it has sent it, and the PUBREL of one it has
// released [MQTT-4.3.3-7]; a message of the same expiry still queued is
// dropped. As receiver, it completes with PUBCOMP an exchange whose message
// expired meanwhile [MQTT-4.3.3-13].
func TestConformanceQoS2AndMessageExpiry(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("q2e", true, 3600))
	subscribeOK(t, sub, 1, packet.Subscription{Filter: "q2e/#", QoS: 2})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	publish := func(id uint16, payload string) {
		t.Helper()
		p := &packet.Publish{Topic: "q2e/t", QoS: 2, PacketID: id, Payload: []byte(payload)}
		p.Properties.MessageExpiryInterval, p.Properties.HasMessageExpiryInterval = 1, true
		pub.Send(p)
		expectAck(t, pub, packet.TypePubrec, id, packet.Success)
	}
	publish(1, "sent")
	publish(2, "released")
	sent := expectPublish(t, sub, "sent")
	released := expectPublish(t, sub, "released")
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: released.PacketID})
	expectAck(t, sub, packet.TypePubrel, released.PacketID, packet.Success)
	sub.Close()
	testbroker.Eventually(t, 2*time.Second, func() error {
		if cs, _ := b.Client("q2e"); cs.Connected {
			return errNotYet
		}
		return nil
	})
	publish(3, "queued") // waits in the offline session's queue, and expires there

	time.Sleep(1500 * time.Millisecond) // past every message's expiry
	// The publisher's exchanges of expired messages complete.
	for id := range uint16(3) {
		pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: id + 1})
		expectAck(t, pub, packet.TypePubcomp, id+1, packet.Success)
	}

	sub, _ = mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("q2e", false, 3600))
	p := expectPublish(t, sub, "sent")
	if !p.Dup || p.PacketID != sent.PacketID {
		t.Fatalf("re-sent with DUP %v, id %d; want DUP, id %d", p.Dup, p.PacketID, sent.PacketID)
	}
	expectAck(t, sub, packet.TypePubrel, released.PacketID, packet.Success)
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: sent.PacketID})
	expectAck(t, sub, packet.TypePubrel, sent.PacketID, packet.Success)
	sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: sent.PacketID})
	sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: released.PacketID})
	sub.ExpectNothing(200 * time.Millisecond) // not the queued message: it expired
	if n := b.Stats().Dropped["expired"]; n != 1 {
		t.Fatalf("expired drops = %d, want 1", n)
	}
}

// publishDenied is an Authorizer that lets clients publish to every topic
// but one.
type publishDenied string

func (d publishDenied) Authorize(_ context.Context, _ *broker.ClientInfo, a broker.Action, topic string) bool {
	return a != broker.ActionPublish || topic != string(d)
}

// TestConformanceQoS2RefusedIDIsNew: after a PUBREC with a failure code the
// broker takes a QoS 2 PUBLISH with the same Packet Identifier as a new
// message [MQTT-4.3.3-9]: refused for a payload that is not the UTF-8 it
// claims (0x99) or a topic not authorized (0x87), then accepted and
// delivered.
func TestConformanceQoS2RefusedIDIsNew(t *testing.T) {
	b := testbroker.Start(t, broker.Options{Authorizer: publishDenied("q2r/denied")})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "sub", CleanStart: true})
	subscribeOK(t, sub, 1, packet.Subscription{Filter: "q2r/#", QoS: 2})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	notUTF8 := &packet.Publish{Topic: "q2r/t", QoS: 2, PacketID: 7, Payload: []byte{0xff}}
	notUTF8.Properties.PayloadFormatIndicator, notUTF8.Properties.HasPayloadFormatIndicator = 1, true
	for _, tc := range []struct {
		refused *packet.Publish
		code    packet.ReasonCode
	}{
		{notUTF8, packet.PayloadFormatInvalid},
		{&packet.Publish{Topic: "q2r/denied", QoS: 2, PacketID: 7, Payload: []byte("denied")}, packet.NotAuthorized},
	} {
		pub.Send(tc.refused)
		expectAck(t, pub, packet.TypePubrec, 7, tc.code)
		pub.Send(&packet.Publish{Topic: "q2r/t", QoS: 2, PacketID: 7, Payload: []byte("new")})
		expectAck(t, pub, packet.TypePubrec, 7, packet.Success)
		pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 7})
		expectAck(t, pub, packet.TypePubcomp, 7, packet.Success)
		p := expectPublish(t, sub, "new")
		sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
		expectAck(t, sub, packet.TypePubrel, p.PacketID, packet.Success)
		sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
	}
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestConformanceRefusedAckEndsDelivery: a PUBACK or PUBREC with a failure
// code ends the delivery: no PUBREL follows, and nothing is sent again, not
// even when the session resumes [MQTT-4.4.0-2].
func TestConformanceRefusedAckEndsDelivery(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("ra", true, 3600))
	subscribeOK(t, sub, 1, packet.Subscription{Filter: "ra/#", QoS: 2})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "ra/1", QoS: 1, PacketID: 1, Payload: []byte("one")})
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "ra/2", QoS: 2, PacketID: 2, Payload: []byte("two")})
	pub.Expect(packet.TypePubrec)
	sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: expectPublish(t, sub, "one").PacketID, ReasonCode: packet.UnspecifiedError})
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: expectPublish(t, sub, "two").PacketID, ReasonCode: packet.ImplementationSpecificError})
	// A PUBREL for "two" would come before the answer to PINGREQ.
	sub.Send(&packet.Pingreq{})
	sub.Expect(packet.TypePingresp)
	if cs, _ := b.Client("ra"); cs.Inflight != 0 {
		t.Fatalf("%d deliveries still in flight", cs.Inflight)
	}
	sub.Close()
	sub, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("ra", false, 3600))
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	sub.ExpectNothing(300 * time.Millisecond)
}

// TestConformanceSharedQoS2: a QoS 2 message of a shared subscription stays
// with the member it was sent to. When that member's connection breaks, it
// gets the message again when it reconnects, and no other member does
// [MQTT-4.8.2-4]; when its session ends instead, no other member gets it
// [MQTT-4.8.2-5], though a QoS 1 message not yet acknowledged goes to
// another member.
func TestConformanceSharedQoS2(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	var pubID uint16
	publish := func(topic string, qos byte, payload string) {
		t.Helper()
		pubID++
		pub.Send(&packet.Publish{Topic: topic, QoS: qos, PacketID: pubID, Payload: []byte(payload)})
		if qos == 1 {
			pub.Expect(packet.TypePuback)
			return
		}
		pub.Expect(packet.TypePubrec)
		pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: pubID})
		pub.Expect(packet.TypePubcomp)
	}

	t.Run("reconnect", func(t *testing.T) {
		share := packet.Subscription{Filter: "$share/g1/sq/#", QoS: 2}
		a, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("a1", true, 3600))
		subscribeOK(t, a, 1, share)
		publish("sq/x", 2, "x")
		x := expectPublish(t, a, "x")
		m, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("b1", true, 0))
		subscribeOK(t, m, 1, share)
		a.Close()
		testbroker.Eventually(t, 2*time.Second, func() error {
			if cs, _ := b.Client("a1"); cs.Connected {
				return errNotYet
			}
			return nil
		})
		publish("sq/y", 2, "y")
		y := expectPublish(t, m, "y") // the only member online; not x
		m.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: y.PacketID})
		m.Expect(packet.TypePubrel)
		m.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: y.PacketID})

		a, _ = mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("a1", false, 3600))
		p := expectPublish(t, a, "x")
		if !p.Dup || p.PacketID != x.PacketID {
			t.Fatalf("re-sent with DUP %v, id %d; want DUP, id %d", p.Dup, p.PacketID, x.PacketID)
		}
		a.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
		expectAck(t, a, packet.TypePubrel, p.PacketID, packet.Success)
		a.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
		m.ExpectNothing(200 * time.Millisecond)
	})

	t.Run("session ends", func(t *testing.T) {
		share := packet.Subscription{Filter: "$share/g2/se/#", QoS: 2}
		a, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("a2", true, 0))
		subscribeOK(t, a, 1, share)
		publish("se/x", 2, "x")
		publish("se/z", 1, "z")
		expectPublish(t, a, "x")
		expectPublish(t, a, "z")
		m, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("b2", true, 0))
		subscribeOK(t, m, 1, share)
		a.Close() // its session ends with the connection
		p := expectPublish(t, m, "z")
		m.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
		publish("se/y", 2, "y")
		expectPublish(t, m, "y") // not x
		m.ExpectNothing(200 * time.Millisecond)
	})
}

// TestConformanceSharedRefusedAck: a member of a shared subscription that
// answers PUBACK or PUBREC with a failure code ends the delivery: the
// message goes to no other member [MQTT-4.8.2-6], not even when the
// member's session ends afterwards (which would hand over a QoS 1 message
// still unacknowledged).
func TestConformanceSharedRefusedAck(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	share := packet.Subscription{Filter: "$share/g/sr/#", QoS: 2}
	a, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("a", true, 0))
	subscribeOK(t, a, 1, share)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "sr/1", QoS: 1, PacketID: 1, Payload: []byte("one")})
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "sr/2", QoS: 2, PacketID: 2, Payload: []byte("two")})
	pub.Expect(packet.TypePubrec)
	one := expectPublish(t, a, "one")
	two := expectPublish(t, a, "two")
	m, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("b", true, 0))
	subscribeOK(t, m, 1, share)

	a.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: one.PacketID, ReasonCode: packet.UnspecifiedError})
	a.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: two.PacketID, ReasonCode: packet.QuotaExceeded})
	a.Send(&packet.Pingreq{})
	a.Expect(packet.TypePingresp) // no PUBREL before it
	a.Send(&packet.Disconnect{})
	a.ExpectClosed(2 * time.Second)

	pub.Send(&packet.Publish{Topic: "sr/3", QoS: 1, PacketID: 3, Payload: []byte("three")})
	pub.Expect(packet.TypePuback)
	m.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: expectPublish(t, m, "three").PacketID})
	m.ExpectNothing(200 * time.Millisecond)
}

// gateStore is a memory store whose writes can be held back: while the
// gate is shut, Apply waits for it to open.
type gateStore struct {
	*memory.Store
	mu   sync.Mutex
	gate chan struct{} // nil while open
}

func (s *gateStore) Apply(b *store.Batch, sync bool) error {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g != nil {
		<-g
	}
	return s.Store.Apply(b, sync)
}

func (s *gateStore) shut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

func (s *gateStore) open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// TestConformanceDeferredSendNotRepeated: a persistent session sends a
// QoS 2 message, and a QoS 1 message behind it, once their store entries
// are written. When the client
// reconnects before that, the message goes out once on the new
// connection, with DUP 0, since it was never sent before [MQTT-3.3.1-3]
// [MQTT-4.4.0-1]; it used to go out twice, re-sent with DUP 1 at once and
// then sent with DUP 0 when the write was done.
func TestConformanceDeferredSendNotRepeated(t *testing.T) {
	st := &gateStore{Store: memory.New()}
	b := testbroker.Start(t, broker.Options{Store: st})
	t.Cleanup(st.open) // before the broker's shutdown, which writes
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("deferred", true, 3600))
	subscribeOK(t, sub, 1, packet.Subscription{Filter: "deferred/#", QoS: 2})
	st.shut()
	for _, qos := range []byte{2, 1} {
		b.Router().Publish(&broker.Message{Topic: "deferred/t", QoS: qos, Payload: []byte{'0' + qos}}, nil)
	}
	testbroker.Eventually(t, 2*time.Second, func() error {
		if cs, _ := b.Client("deferred"); cs.Inflight != 2 {
			return fmt.Errorf("%d in flight", cs.Inflight)
		}
		return nil
	})
	sub.Close()
	testbroker.Eventually(t, 2*time.Second, func() error {
		if cs, _ := b.Client("deferred"); cs.Connected {
			return errNotYet
		}
		return nil
	})
	// The CONNACK of a persistent session waits for the store too.
	sub = mqtttest.Dial(t, b.Addr, packet.V5)
	c := v5Connect("deferred", false, 3600)
	c.Version = packet.V5
	sub.Send(c)
	st.open()
	if ack := sub.Expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	seen := map[uint16]bool{}
	for {
		p, err := sub.Read(300 * time.Millisecond)
		if err != nil {
			break
		}
		if a, ok := p.(*packet.Ack); ok && a.Kind == packet.TypePubrel {
			sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: a.PacketID})
			continue
		}
		pp, ok := p.(*packet.Publish)
		if !ok {
			t.Fatalf("got %s %+v", p.Type(), p)
		}
		if seen[pp.PacketID] {
			t.Fatalf("%q (packet id %d) sent twice", pp.Payload, pp.PacketID)
		}
		if pp.Dup {
			t.Fatalf("%q sent with DUP 1, though never sent before", pp.Payload)
		}
		seen[pp.PacketID] = true
		if pp.QoS == 1 {
			sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: pp.PacketID})
		} else {
			sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: pp.PacketID})
		}
	}
	if len(seen) != 2 {
		t.Fatalf("%d of 2 messages arrived", len(seen))
	}
}
