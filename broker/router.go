package broker

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/midgemq/midge/topic"
)

// Router moves messages from publishers to subscribers. It is the one seam
// between sessions and the subscription index: a cluster implements it by
// forwarding to other nodes, a single node by matching its local index.
type Router interface {
	// Subscribe adds or replaces sub.
	Subscribe(sub topic.Subscription) error
	// Unsubscribe removes clientID's subscription to filter and reports
	// whether it existed.
	Unsubscribe(clientID, filter string) (bool, error)
	// Publish routes msg to every matching subscription and, when msg.Retain
	// is set, updates the retained messages. It calls done, if not nil, once
	// msg is in every subscriber's session (and stored, where the store is
	// durable); a PUBACK or PUBREC waits for done, not for Publish to return.
	// done gets the error of the store write that failed, if one did, or
	// else ErrQueueFull when a session's full queue refused msg.
	// A message whose ID is zero gets one.
	Publish(msg *Message, done func(error))
	// Retained calls fn for each retained message matching filter until fn
	// returns false.
	Retained(filter string, fn func(*Message) bool)
}

// Outcome is what a Deliverer did with a message.
type Outcome byte

// The outcomes of a delivery.
const (
	// Accepted means the message was written to the client or put in its
	// inflight window.
	Accepted Outcome = iota
	// Queued means the message waits in the session's queue.
	Queued
	// Refused means the session did not take the message: it is unknown,
	// or (for a shared subscription) it cannot send now.
	Refused
	// QueueFull means the session did not take the QoS 1 or 2 message
	// because its queue held MaxQueued messages already: the message is
	// lost to it, unless another member of a shared subscription takes it.
	QueueFull
)

// Delivery says how one session receives one message: the subscription
// options merged over the client's matching subscriptions.
type Delivery struct {
	QoS               byte
	RetainAsPublished bool
	Identifiers       []uint32
	// Shared means the message comes through a shared subscription: a session
	// that cannot send it now refuses it so that another member may.
	Shared bool
	// Group is the shared subscription group the message comes through,
	// nil for a message of the session's own subscriptions. Should the
	// session end before the message is delivered, it goes to another
	// member of the group.
	Group *topic.Group
	// Retained means the message is a retained message sent because of a
	// new subscription; it goes out with RETAIN set [MQTT-3.3.1-8].
	Retained bool
}

// Deliverer hands messages to sessions. Sessions are addressed by client id,
// never by pointer, so that a session may live on another node.
type Deliverer interface {
	Deliver(clientID string, msg *Message, d Delivery) Outcome
}

// localRouter is the Router of a single node.
type localRouter struct {
	index    *topic.Index
	retained *topic.Retained[*Message]
	deliver  Deliverer
	persist  *persister
	// drop counts a drop (Server.drop).
	drop     func(DropReason, string)
	sys      *topic.Retained[*Message]
	seq      *msgSeq
	strategy SharedStrategy
	scratch  sync.Pool // *matchScratch
}

// matchScratch is reused across Publish calls so that matching does not
// allocate.
type matchScratch struct {
	res  topic.Result
	dels []topic.Delivery
}

func newLocalRouter(s *Server, p *persister) *localRouter {
	r := &localRouter{index: s.index, retained: s.retained, deliver: s, persist: p, drop: s.drop, sys: s.sys, seq: &s.seq,
		strategy: s.opts.SharedStrategy}
	r.scratch.New = func() any { return new(matchScratch) }
	return r
}

func (r *localRouter) Subscribe(sub topic.Subscription) error {
	r.index.Add(sub)
	return nil
}

func (r *localRouter) Unsubscribe(clientID, filter string) (bool, error) {
	removed, _ := r.index.Remove(clientID, filter)
	return removed, nil
}

func (r *localRouter) Publish(msg *Message, done func(error)) {
	// One clock read per message, not per delivery; it is set before the
	// message is shared (as a retained message or with sessions).
	msg.routed = monoNow()
	if msg.ID == (MsgID{}) {
		// The store keeps a message's body under its id: messages that an
		// embedding program publishes need one of their own too.
		msg.ID = r.seq.next()
	}
	if msg.Retain {
		r.retain(msg)
	}
	s := r.scratch.Get().(*matchScratch)
	r.index.Match(msg.Topic, &s.res)
	s.dels = s.res.Deliveries(msg.Publisher, s.dels[:0])
	full := false
	for i := range s.dels {
		d := &s.dels[i]
		if r.deliver.Deliver(d.ClientID, msg, Delivery{QoS: d.QoS, RetainAsPublished: d.RetainAsPublished, Identifiers: d.Identifiers}) == QueueFull {
			full = true
		}
	}
	for _, g := range s.res.Groups {
		if r.deliverShared(g, msg) == QueueFull {
			full = true
		}
	}
	clear(s.dels)
	s.res.Reset()
	r.scratch.Put(s)
	if done == nil {
		return
	}
	// The message is taken over once what it changed in the store is
	// durable (as the Durability option defines it). Only a message that a
	// full queue refused pays for a closure that says so.
	if !full {
		r.persist.whenDurable(done)
		return
	}
	r.persist.whenDurable(func(err error) {
		if err == nil {
			err = ErrQueueFull
		}
		done(err)
	})
}

// retain updates the retained message of msg's topic in the index and the
// store. A retained message with an empty payload clears the topic's
// retained message and is itself not kept [MQTT-3.3.1-10] [MQTT-3.3.1-11].
func (r *localRouter) retain(msg *Message) {
	if len(msg.Payload) == 0 {
		if r.retained.Delete(msg.Topic) {
			r.persist.setRetained(msg.Topic, nil)
		}
		return
	}
	r.retained.Set(msg.Topic, msg)
	r.persist.setRetained(msg.Topic, msg)
}

// SharedStrategy chooses which member of a shared subscription group gets
// a message.
type SharedStrategy int

const (
	// SharedRoundRobin takes the members in turn.
	SharedRoundRobin SharedStrategy = iota
	// SharedRandom takes a member at random.
	SharedRandom
)

// ParseSharedStrategy returns the strategy named s: "round_robin" or
// "random".
func ParseSharedStrategy(s string) (SharedStrategy, error) {
	switch s {
	case "round_robin":
		return SharedRoundRobin, nil
	case "random":
		return SharedRandom, nil
	}
	return 0, fmt.Errorf("unknown shared subscription strategy %q (want round_robin or random)", s)
}

// deliverShared gives msg to one member of g: the next member in round-robin
// order that can send it now, or, if none can, the first that can queue it.
// It reports QueueFull, and counts the drop, when no member took msg and
// one refused it for its full queue; Refused when none took it otherwise.
func (r *localRouter) deliverShared(g *topic.Group, msg *Message) Outcome {
	members := g.Members()
	n := uint64(len(members))
	if n == 0 {
		return Refused
	}
	var start uint64
	if r.strategy == SharedRandom {
		start = rand.Uint64()
	} else {
		start = g.Next()
	}
	for i := range n {
		m := members[(start+i)%n]
		if o := r.deliver.Deliver(m.ClientID, msg, sharedDelivery(m, true, g)); o == Accepted || o == Queued {
			return o
		}
	}
	outcome, fullMember := Refused, ""
	for i := range n {
		m := members[(start+i)%n]
		switch o := r.deliver.Deliver(m.ClientID, msg, sharedDelivery(m, false, g)); o {
		case Accepted, Queued:
			return o
		case QueueFull:
			outcome, fullMember = QueueFull, m.ClientID
		}
	}
	if outcome == QueueFull {
		r.drop(DropQueueFull, fullMember)
	}
	return outcome
}

func sharedDelivery(m *topic.Subscription, shared bool, g *topic.Group) Delivery {
	d := Delivery{QoS: m.QoS, RetainAsPublished: m.RetainAsPublished, Shared: shared, Group: g}
	if m.Identifier != 0 {
		d.Identifiers = []uint32{m.Identifier}
	}
	return d
}

// redeliverShared gives msg, which a member of the shared subscription
// $share/{name}/{filter} did not take before its session ended, to another
// member (MQTT 5.0 section 4.8.2).
func (r *localRouter) redeliverShared(name, filter string, msg *Message) {
	if g := r.index.Group(name, filter); g != nil {
		r.deliverShared(g, msg)
	}
}

func (r *localRouter) Retained(filter string, fn func(*Message) bool) {
	now := time.Now()
	more := true
	r.retained.Match(filter, func(m *Message) bool {
		if m.Expired(now) {
			return true // [MQTT-3.3.2-5] an expired retained message is not sent
		}
		more = fn(m)
		return more
	})
	if more && len(filter) > 0 && filter[0] == '$' {
		// The broker's own figures match only filters that start with '$'.
		r.sys.Match(filter, fn)
	}
}
