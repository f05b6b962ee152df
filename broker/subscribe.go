package broker

import (
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/topic"
)

// maxQoS is the highest QoS the broker grants.
const maxQoS = 2

// handleSubscribe handles SUBSCRIBE: each filter is checked, authorized and
// added; SUBACK answers every filter in order [MQTT-3.8.4-5]; then the
// retained messages matching the new subscriptions are sent.
func (c *conn) handleSubscribe(h packet.FixedHeader, body []byte) error {
	var p packet.Subscribe
	if err := p.Decode(h, body, c.version); err != nil {
		return err
	}
	id := uint32(0)
	if ids := p.Properties.SubscriptionIdentifiers; len(ids) > 0 {
		id = ids[0]
	}
	ack := packet.Suback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Subscriptions))}
	type retainedFor struct {
		filter string
		sub    topic.Subscription
	}
	var sendRetained []retainedFor
	type addedSub struct {
		i   int
		sub topic.Subscription
	}
	var added []addedSub
	for i, req := range p.Subscriptions {
		if err := topic.ValidateFilter(req.Filter); err != nil {
			ack.ReasonCodes[i] = packet.TopicFilterInvalid
			continue
		}
		if re := c.srv.checkTopic(req.Filter, true); re != nil {
			c.srv.drop(DropTopicLimit, c.info.ClientID)
			ack.ReasonCodes[i] = re.Code
			continue
		}
		filter, shared := req.Filter, false
		if _, f, ok := topic.ParseShared(req.Filter); ok {
			filter, shared = f, true
		}
		if shared && req.NoLocal && c.version == packet.V5 {
			// [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
			return &packet.ReasonError{Code: packet.ProtocolError, Msg: "no local on a shared subscription"}
		}
		if !c.authorize(ActionSubscribe, req.Filter) {
			c.logger().Info("subscribe denied", "filter", req.Filter)
			ack.ReasonCodes[i] = packet.NotAuthorized
			continue
		}
		sub := topic.Subscription{
			ClientID:          c.info.ClientID,
			Filter:            req.Filter,
			QoS:               min(req.QoS, maxQoS),
			NoLocal:           req.NoLocal,
			RetainAsPublished: req.RetainAsPublished,
			RetainHandling:    req.RetainHandling,
			Identifier:        id,
		}
		existed, ok := c.sess.subscribe(sub, c.srv.opts.MaxSubscriptions)
		if !ok {
			c.srv.drop(DropSubscriptionLimit, c.info.ClientID)
			ack.ReasonCodes[i] = packet.QuotaExceeded
			continue
		}
		added = append(added, addedSub{i, sub})
		ack.ReasonCodes[i] = packet.ReasonCode(sub.QoS) // GrantedQoS0..2
		// Retained messages go to a new subscription, not through a shared
		// one [MQTT-3.3.1-6]; a 5.0 client may ask for them only on a new
		// subscription or never (Retain Handling 1 or 2).
		if !shared && (req.RetainHandling == 0 || (req.RetainHandling == 1 && !existed)) {
			sendRetained = append(sendRetained, retainedFor{filter: filter, sub: sub})
		}
		if logDebug(c.srv.log) {
			c.logger().Debug("subscribed", "filter", req.Filter, "qos", sub.QoS)
		}
	}
	// Once the session's record with the subscriptions is durable, so that
	// a broker crash after SUBACK cannot lose them, the subscriptions go
	// into the router, SUBACK goes out, and the retained messages follow:
	// in this order, so that none is sent twice or after a newer one.
	c.srv.persist.whenDurable(func(error) {
		// A message published while this runs may reach the session live
		// and be the retained message of its topic too: the watch keeps
		// it from being sent twice, or its older retained value after it.
		// Without retained messages to send there is nothing to watch.
		if len(sendRetained) > 0 {
			c.sess.beginWatch()
			defer c.sess.endWatch()
		}
		for _, a := range added {
			if !c.sess.holds(a.sub) {
				continue // unsubscribed, replaced or ended meanwhile
			}
			if err := c.srv.router.Subscribe(a.sub); err != nil {
				c.logger().Error("subscribe failed", "filter", a.sub.Filter, "err", err)
				ack.ReasonCodes[a.i] = packet.UnspecifiedError
			}
		}
		c.send(&ack)
		for _, r := range sendRetained {
			d := Delivery{QoS: r.sub.QoS, Retained: true}
			if r.sub.Identifier != 0 {
				d.Identifiers = []uint32{r.sub.Identifier}
			}
			c.srv.router.Retained(r.filter, func(m *Message) bool {
				// Not sent if a live message of its topic came first (see
				// session.deliverLocked).
				c.sess.deliver(m, d)
				return true
			})
		}
	})
	return nil
}

// handleUnsubscribe handles UNSUBSCRIBE and answers UNSUBACK [MQTT-3.10.4-4].
func (c *conn) handleUnsubscribe(h packet.FixedHeader, body []byte) error {
	var p packet.Unsubscribe
	if err := p.Decode(h, body, c.version); err != nil {
		return err
	}
	ack := packet.Unsuback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Filters))}
	for i, f := range p.Filters {
		if err := topic.ValidateFilter(f); err != nil {
			ack.ReasonCodes[i] = packet.TopicFilterInvalid
			continue
		}
		if !c.sess.unsubscribe(f) {
			ack.ReasonCodes[i] = packet.NoSubscriptionExisted
		}
	}
	// The router lets go in turn with the SUBSCRIBE packets before it,
	// whose subscriptions reach it once durable.
	filters := p.Filters
	c.srv.persist.whenDurable(func(error) {
		for i, f := range filters {
			if ack.ReasonCodes[i] != packet.Success || c.sess.holdsFilter(f) {
				continue // nothing to remove, or subscribed again meanwhile
			}
			if _, err := c.srv.router.Unsubscribe(c.info.ClientID, f); err != nil {
				c.logger().Error("unsubscribe failed", "filter", f, "err", err)
				ack.ReasonCodes[i] = packet.UnspecifiedError
			}
		}
		c.send(&ack)
	})
	return nil
}
