package broker

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/topic"
)

// handlePublish handles a PUBLISH from the client: it checks the topic and
// the permission, routes the message, and acknowledges it as its QoS asks.
func (c *conn) handlePublish(h packet.FixedHeader, body []byte) error {
	c.throttle(1 + packet.SizeVarint(h.Remaining) + h.Remaining)
	if c.pub == nil {
		// Made on the first PUBLISH: a client that only subscribes never
		// pays for it.
		c.pub = new(packet.Publish)
	}
	p := c.pub
	if err := p.Decode(h, body, c.version); err != nil {
		return err
	}
	if p.Properties.HasTopicAlias {
		if err := c.resolveAlias(p); err != nil {
			return err
		}
	}
	if c.version == packet.V5 {
		if len(p.Properties.SubscriptionIdentifiers) > 0 {
			// [MQTT-3.3.4-6] only the server sends Subscription Identifiers.
			return &packet.ReasonError{Code: packet.ProtocolError, Msg: "subscription identifier in a client's PUBLISH"}
		}
		if rt := p.Properties.ResponseTopic; rt != "" && topic.ValidateName(rt) != nil {
			// [MQTT-3.3.2-13] [MQTT-3.3.2-14] a topic name, without wildcards.
			return &packet.ReasonError{Code: packet.ProtocolError, Msg: "invalid response topic"}
		}
	}
	if err := topic.ValidateName(p.Topic); err != nil {
		// [MQTT-3.3.2-2] A topic name must not contain wildcards.
		return &packet.ReasonError{Code: packet.TopicNameInvalid, Msg: err.Error()}
	}
	if re := c.srv.checkTopic(p.Topic, false); re != nil {
		c.srv.drop(DropTopicLimit, c.info.ClientID)
		c.refusePublish(p, re)
		return nil
	}
	if re := c.srv.checkUserProperties(len(p.Properties.UserProperties)); re != nil {
		c.srv.drop(DropPropertyLimit, c.info.ClientID)
		c.refusePublish(p, re)
		return nil
	}
	if c.version == packet.V5 && p.Properties.HasPayloadFormatIndicator && p.Properties.PayloadFormatIndicator == 1 &&
		!utf8.Valid(p.Payload) {
		// A payload declared UTF-8 that is not: refused with Payload
		// Format Invalid, as section 3.3.2.3.2 allows (in the acknowledgement, or by
		// closing the connection for QoS 0, which has none).
		re := &packet.ReasonError{Code: packet.PayloadFormatInvalid, Msg: "payload is not UTF-8"}
		if p.QoS == 0 {
			return re
		}
		c.refusePublish(p, re)
		return nil
	}
	c.srv.counters.received(p.QoS, h.Remaining+1+packet.SizeVarint(h.Remaining))
	if logDebug(c.srv.log) {
		c.logger().Debug("publish received", "topic", p.Topic, "qos", p.QoS, "retain", p.Retain, "packet_id", p.PacketID)
	}

	if !c.authorize(ActionPublish, p.Topic) {
		c.logger().Info("publish denied", "topic", p.Topic)
		// 3.1.1 has no way to refuse a PUBLISH: it is acknowledged and
		// dropped. 5.0 says why in the acknowledgement.
		c.refusePublish(p, &packet.ReasonError{Code: packet.NotAuthorized, Msg: "publish not authorized"})
		return nil
	}

	if p.QoS > 0 && c.srv.persist.full.Load() {
		// The store is over its limit: a QoS 1 or 2 message could not be
		// kept for the sessions that need it.
		c.srv.drop(DropStoreFull, c.info.ClientID)
		if c.version != packet.V5 {
			return c.closeUnacknowledged(errStoreFull)
		}
		c.refusePublish(p, &packet.ReasonError{Code: packet.QuotaExceeded, Msg: "store full"})
		return nil
	}

	msg := &Message{
		ID:        c.srv.seq.next(),
		Topic:     p.Topic,
		Payload:   p.Payload, // the body buffer is the message's own
		QoS:       p.QoS,
		Retain:    p.Retain,
		Publisher: c.info.ClientID,
	}
	if c.version == packet.V5 {
		msg.Properties = forwardProperties(&p.Properties)
		msg.setExpiry(time.Now())
	}
	id := p.PacketID
	if p.QoS > 0 {
		// The receipt of the message and the entries of the sessions it
		// goes to reach the store together, or not at all.
		c.srv.persist.beginGroup()
		defer c.srv.persist.endGroup()
	}
	switch p.QoS {
	case 0:
		c.srv.router.Publish(msg, nil)
	case 1:
		// [MQTT-4.3.2-2] PUBACK once the message is taken over.
		c.srv.router.Publish(msg, func(err error) {
			c.acknowledge(packet.TypePuback, id, err)
		})
	case 2:
		if !c.sess.receiveQoS2(id) {
			// A re-sent PUBLISH whose PUBREL has not come yet: answer PUBREC
			// again, deliver nothing [MQTT-4.3.3-10].
			c.srv.persist.whenDurable(func(err error) { c.acknowledge(packet.TypePubrec, id, err) })
			return nil
		}
		c.srv.router.Publish(msg, func(err error) {
			c.acknowledge(packet.TypePubrec, id, err)
		})
	}
	c.srv.counters.routedMsg(msg.QoS)
	c.srv.observe(event{kind: eventPublish, msg: msg, info: c.info})
	return nil
}

// resolveAlias applies the Topic Alias of a 5.0 PUBLISH: with a topic it
// sets the alias, without one it stands for the topic set before.
func (c *conn) resolveAlias(p *packet.Publish) error {
	a := p.Properties.TopicAlias
	if a == 0 || int(a) > c.srv.opts.TopicAliasMaximum {
		// [MQTT-3.3.2-8] [MQTT-3.3.2-9]
		return &packet.ReasonError{Code: packet.TopicAliasInvalid, Msg: "topic alias out of range"}
	}
	if p.Topic == "" {
		t, ok := c.aliases[a]
		if !ok {
			return &packet.ReasonError{Code: packet.ProtocolError, Msg: "unknown topic alias"}
		}
		p.Topic = t
		return nil
	}
	if c.aliases == nil {
		c.aliases = make(map[uint16]string)
	}
	// [MQTT-3.3.2-12] Every alias up to the maximum is accepted; the
	// mapping lasts as long as this connection.
	c.aliases[a] = p.Topic
	return nil
}

// acknowledge answers the QoS 1 or 2 PUBLISH id with kind (PUBACK or
// PUBREC) once its routing has ended with err (see Router.Publish).
//
// When the store could not write the message, a 5.0 publisher is told so
// with Implementation specific error. 3.1 and 3.1.1 have no negative
// acknowledgement, and acknowledging would say that the broker owns a
// message it may lose (3.1.1's [MQTT-4.3.2-2] [MQTT-4.3.3-2]): the
// connection is closed instead, with no acknowledgement, and the client
// sends the message again when it reconnects [MQTT-4.4.0-1].
//
// When a subscriber's full queue refused the message (ErrQueueFull), a 5.0
// publisher gets Quota exceeded: the other subscribers have the message,
// but the publisher learns that not all do. A 3.1 or 3.1.1 publisher gets
// its PUBACK all the same. The only other answer it could be given is a
// closed connection, and the message would come back to the same full
// queue: one subscriber that does not keep up would disconnect every
// publisher of its topics over and over, stopping the whole fleet for the
// sake of one queue. The drop is counted and logged as queue_full for that
// subscriber, where the fault lies.
func (c *conn) acknowledge(kind packet.Type, id uint16, err error) {
	switch {
	case err == nil:
		c.sendAck(kind, id, packet.Success)
	case errors.Is(err, ErrQueueFull):
		if c.version != packet.V5 {
			c.sendAck(kind, id, packet.Success)
			return
		}
		if kind == packet.TypePubrec {
			// A PUBREC of 0x80 or more ends the QoS 2 exchange: the
			// packet id stands for a new message again [MQTT-4.3.3-9].
			c.sess.release(id)
		}
		c.sendAckWhy(kind, id, packet.QuotaExceeded, "a subscriber's queue is full")
	default:
		c.srv.drop(DropStoreError, c.info.ClientID)
		if kind == packet.TypePubrec {
			// The QoS 2 exchange ends without a PUBREC of success: the
			// packet id stands for a new message again [MQTT-4.3.3-9]. A
			// 3.1.1 client sends the message again under it; subscribers
			// that got the message already may get it twice, rather than
			// the broker answer for a message the store does not hold.
			c.sess.release(id)
		}
		if c.version == packet.V5 {
			c.sendAckWhy(kind, id, packet.ImplementationSpecificError, "store write failed")
			return
		}
		// The drop's count and log, the store's own error and the
		// connection's end (with this reason) tell the operator: no line
		// per message.
		c.abort(packet.ImplementationSpecificError, "store write failed: message not acknowledged")
	}
}

// closeUnacknowledged ends the connection of a 3.1 or 3.1.1 client instead
// of acknowledging a QoS 1 or 2 PUBLISH that the broker cannot keep (see
// acknowledge): it returns why, which serve ends the connection with. The
// acknowledgements of the messages before it go out first: it waits for
// them, whatever their store writes came to (a failure closes the
// connection by itself).
func (c *conn) closeUnacknowledged(why error) error {
	_ = c.srv.persist.wait()
	return why
}

// sendAckWhy is sendAck with a Reason String, unless the 5.0 client asked
// for none [MQTT-3.1.2-29].
func (c *conn) sendAckWhy(kind packet.Type, id uint16, code packet.ReasonCode, why string) {
	if c.noProblemInfo {
		c.sendAck(kind, id, code)
		return
	}
	a := &packet.Ack{Kind: kind, PacketID: id, ReasonCode: code}
	a.Properties.ReasonString = why
	c.send(a)
}

// handleAck handles PUBACK, PUBREC, PUBREL and PUBCOMP from the client.
func (c *conn) handleAck(h packet.FixedHeader, body []byte) error {
	var a packet.Ack
	if err := a.Decode(h, body, c.version); err != nil {
		return err
	}
	switch a.Kind {
	case packet.TypePuback:
		c.sess.puback(a.PacketID)
	case packet.TypePubrec:
		if a.ReasonCode.IsError() {
			// A 5.0 client that refuses a QoS 2 message in PUBREC ends its
			// delivery there: no PUBREL follows.
			c.sess.forget(a.PacketID)
			return nil
		}
		code := packet.Success
		from := c.srv.persist.mark() // the entry's new state is written after it
		known, stored := c.sess.pubrec(a.PacketID)
		if !known {
			code = packet.PacketIdentifierNotFound
		}
		// PUBREL once the store knows the message was received: after a
		// crash the broker must not send it again as new [MQTT-4.3.3-6].
		id, sess := a.PacketID, c.sess
		c.srv.persist.whenWritten(from, func(err error) { c.pubrelWhenStored(sess, id, code, stored, err) })
	case packet.TypePubrel:
		code := packet.Success
		from := c.srv.persist.mark() // the id's deletion is written after it
		known, stored := c.sess.release(a.PacketID)
		if !known {
			code = packet.PacketIdentifierNotFound
		}
		// [MQTT-4.3.3-11] Answer PUBREL with PUBCOMP, known id or not,
		// once the store has forgotten the id. If it could not, the id
		// stays received and there is no PUBCOMP: the connection closes
		// (5.0 says why), and the client sends PUBREL again when it
		// reconnects [MQTT-4.4.0-1].
		id := a.PacketID
		c.srv.persist.whenWritten(from, func(err error) {
			if err != nil && stored {
				c.sess.unrelease(id)
				c.abort(packet.ImplementationSpecificError, "store write failed: PUBREL not completed")
				return
			}
			c.sendAck(packet.TypePubcomp, id, code)
		})
	case packet.TypePubcomp:
		c.sess.pubcomp(a.PacketID)
	}
	return nil
}

// pubrelWhenStored sends the PUBREL of id with code once the store write
// of the message's received state has ended with err. When that write
// failed (stored: there was one), no PUBREL goes out: a client that had it
// would answer PUBCOMP and forget id, while a broker restarted on the
// store would send the message again, a new one to the client
// [MQTT-4.3.3-6]. The entry is written again and the connection ends
// (5.0 says why); the next connection gets PUBREL once the store holds it.
func (c *conn) pubrelWhenStored(sess *session, id uint16, code packet.ReasonCode, stored bool, err error) {
	if err != nil && stored {
		sess.rewriteReleased(id)
		c.abort(packet.ImplementationSpecificError, "store write failed: PUBREC not recorded")
		return
	}
	c.sendAck(packet.TypePubrel, id, code)
}

// refusePublish answers a PUBLISH the broker will not route: a 5.0 client
// learns why from the acknowledgement's reason code and Reason String; a
// 3.1.1 client, which cannot be told, gets a plain acknowledgement, as
// [MQTT-3.3.5-2] allows for a message it may not publish. (A message the
// store cannot take is not acknowledged to it: see acknowledge.) A QoS 0
// message has no answer.
func (c *conn) refusePublish(p *packet.Publish, re *packet.ReasonError) {
	kind := packet.TypePuback
	switch p.QoS {
	case 0:
		return
	case 2:
		kind = packet.TypePubrec
	}
	a := &packet.Ack{Kind: kind, PacketID: p.PacketID, ReasonCode: re.Code}
	if c.version != packet.V5 {
		a.ReasonCode = packet.Success
	} else if !c.noProblemInfo {
		a.Properties.ReasonString = re.Msg
	}
	c.send(a)
}
