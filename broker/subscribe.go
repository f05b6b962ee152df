package broker

import (
	"slices"

	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/topic"
)

// maxQoS is the highest QoS the broker grants.
const maxQoS = 2

// retainedFor is a new subscription whose retained messages go out after
// SUBACK.
type retainedFor struct {
	filter string // without a $share prefix
	sub    topic.Subscription
	stored bool // the subscription's record was written
}

// addedSub is a subscription a SUBSCRIBE added to the session, the i-th of
// the packet.
type addedSub struct {
	i   int
	sub topic.Subscription
	// prev is the subscription sub replaced, if existed; stored is set
	// when the session's record was written with sub.
	prev            topic.Subscription
	existed, stored bool
}

// subscribeOnStack is how many filters of a SUBSCRIBE are decided without
// allocating: almost every SUBSCRIBE has one.
const subscribeOnStack = 4

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
	// The answer and the lists below live on this stack unless the store
	// makes SUBACK wait (see the end).
	var (
		codesBuf    [subscribeOnStack]packet.ReasonCode
		addedBuf    [subscribeOnStack]addedSub
		retainedBuf [subscribeOnStack]retainedFor
	)
	ack := packet.Suback{PacketID: p.PacketID, ReasonCodes: codesBuf[:0]}
	if len(p.Subscriptions) > len(codesBuf) {
		ack.ReasonCodes = make([]packet.ReasonCode, 0, len(p.Subscriptions))
	}
	ack.ReasonCodes = ack.ReasonCodes[:len(p.Subscriptions)]
	sendRetained, added := retainedBuf[:0], addedBuf[:0]
	// The number of the Authorizer's rules these subscriptions are decided
	// under (see reauthorize.go).
	authGen := c.srv.authGen.Load()
	from := c.srv.persist.mark() // the session's records are written after it
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
		prev, existed, stored, ok := c.sess.subscribe(sub, c.srv.opts.MaxSubscriptions)
		if !ok {
			c.srv.drop(DropSubscriptionLimit, c.info.ClientID)
			ack.ReasonCodes[i] = packet.QuotaExceeded
			continue
		}
		added = append(added, addedSub{i: i, sub: sub, prev: prev, existed: existed, stored: stored})
		ack.ReasonCodes[i] = packet.ReasonCode(sub.QoS) // GrantedQoS0..2
		// Retained messages go to a new subscription, not through a shared
		// one [MQTT-3.3.1-6]; a 5.0 client may ask for them only on a new
		// subscription or never (Retain Handling 1 or 2).
		if !shared && (req.RetainHandling == 0 || (req.RetainHandling == 1 && !existed)) {
			sendRetained = append(sendRetained, retainedFor{filter: filter, sub: sub, stored: stored})
		}
		if logDebug(c.srv.log) {
			c.logger().Debug("subscribed", "filter", req.Filter, "qos", sub.QoS)
		}
	}
	if revoked := c.recheckSubscribe(authGen); revoked != nil {
		for _, a := range added {
			if slices.Contains(revoked, a.sub.Filter) {
				ack.ReasonCodes[a.i] = packet.NotAuthorized
			}
		}
		sendRetained = slices.DeleteFunc(sendRetained, func(r retainedFor) bool {
			return slices.Contains(revoked, r.sub.Filter)
		})
	}
	// Once the session's record with the subscriptions is durable, so that
	// a broker crash after SUBACK cannot lose them, the subscriptions go
	// into the router, SUBACK goes out, and the retained messages follow:
	// in this order, so that none is sent twice or after a newer one.
	// A client that has just subscribed mostly waits for messages.
	c.parkNext = true
	if now, err := c.srv.persist.settled(from); now {
		c.subscribed(&ack, added, sendRetained, err)
		return nil
	}
	// The wait takes copies to the heap; the arrays above stay here.
	later := &pendingSubscribe{
		ack:          packet.Suback{PacketID: ack.PacketID, ReasonCodes: slices.Clone(ack.ReasonCodes)},
		added:        slices.Clone(added),
		sendRetained: slices.Clone(sendRetained),
	}
	c.srv.persist.whenWritten(from, func(err error) {
		c.subscribed(&later.ack, later.added, later.sendRetained, err)
	})
	return nil
}

// pendingSubscribe is what a SUBSCRIBE waiting for the store answers with.
type pendingSubscribe struct {
	ack          packet.Suback
	added        []addedSub
	sendRetained []retainedFor
}

// subscribed ends a SUBSCRIBE once the session's records are durable, or
// failed with err: the subscriptions go into the router, ack goes out, and
// the retained messages follow.
func (c *conn) subscribed(ack *packet.Suback, added []addedSub, sendRetained []retainedFor, err error) {
	if err != nil {
		// The store may not hold the subscriptions: each is taken back,
		// answered with a failure code (0x80 Failure in 3.1.1) and gets no
		// retained messages.
		failed := false
		for _, a := range added {
			if a.stored {
				c.sess.undoSubscribe(a.sub, a.prev, a.existed)
				ack.ReasonCodes[a.i] = packet.ImplementationSpecificError
				failed = true
			}
		}
		if failed {
			c.logger().Warn("subscriptions not stored; refused", "err", err)
			sendRetained = slices.DeleteFunc(sendRetained, func(r retainedFor) bool { return r.stored })
		}
	}
	// A message published while this runs may reach the session live and
	// be the retained message of its topic too: the watch keeps it from
	// being sent twice, or its older retained value after it. Without
	// retained messages to send there is nothing to watch.
	if len(sendRetained) > 0 {
		c.sess.beginWatch()
		defer c.sess.endWatch()
	}
	for _, a := range added {
		if ack.ReasonCodes[a.i].IsError() || !c.sess.holds(a.sub) {
			continue // not stored; or unsubscribed, replaced or ended meanwhile
		}
		if err := c.srv.router.Subscribe(a.sub); err != nil {
			c.logger().Error("subscribe failed", "filter", a.sub.Filter, "err", err)
			ack.ReasonCodes[a.i] = packet.UnspecifiedError
		}
	}
	c.sendSuback(ack)
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
}

// handleUnsubscribe handles UNSUBSCRIBE and answers UNSUBACK [MQTT-3.10.4-4].
func (c *conn) handleUnsubscribe(h packet.FixedHeader, body []byte) error {
	var p packet.Unsubscribe
	if err := p.Decode(h, body, c.version); err != nil {
		return err
	}
	ack := packet.Unsuback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Filters))}
	from := c.srv.persist.mark() // the session's records are written after it
	type removedSub struct {
		i   int
		sub topic.Subscription
	}
	var removed []removedSub // those whose removal the store was to write
	for i, f := range p.Filters {
		if err := topic.ValidateFilter(f); err != nil {
			ack.ReasonCodes[i] = packet.TopicFilterInvalid
			continue
		}
		prev, ok, stored := c.sess.unsubscribe(f)
		if !ok {
			ack.ReasonCodes[i] = packet.NoSubscriptionExisted
		} else if stored {
			removed = append(removed, removedSub{i, prev})
		}
	}
	// The router lets go in turn with the SUBSCRIBE packets before it,
	// whose subscriptions reach it once durable.
	filters := p.Filters
	c.srv.persist.whenWritten(from, func(err error) {
		if err != nil && len(removed) > 0 {
			// The store still holds the subscriptions: so does the
			// session. A 5.0 client is told in UNSUBACK; a 3.1.1 client,
			// whose UNSUBACK has no reason codes, loses its connection
			// without one.
			for _, r := range removed {
				c.sess.undoUnsubscribe(r.sub)
				ack.ReasonCodes[r.i] = packet.ImplementationSpecificError
			}
			c.logger().Warn("unsubscribe not stored; subscriptions kept", "err", err)
			if c.version != packet.V5 {
				c.abort(packet.ImplementationSpecificError, "store write failed: UNSUBSCRIBE not done")
				return
			}
		}
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
