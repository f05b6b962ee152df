package topic

import "sync/atomic"

// Subscription is one client's subscription to one filter, with the options
// it was granted.
type Subscription struct {
	// ClientID is the subscriber.
	ClientID string `json:"client_id"`
	// Filter is the filter as subscribed, with its $share/{group}/ prefix
	// when the subscription is shared.
	Filter string `json:"filter"`
	// QoS is the granted maximum QoS of deliveries.
	QoS byte `json:"qos"`
	// NoLocal asks that the client's own publishes are not delivered to it
	// through this subscription (5.0).
	NoLocal bool `json:"no_local,omitempty"`
	// RetainAsPublished keeps the RETAIN flag of forwarded messages (5.0).
	RetainAsPublished bool `json:"retain_as_published,omitempty"`
	// RetainHandling is 0 (send retained messages on subscribe), 1 (only on
	// a new subscription) or 2 (never) (5.0).
	RetainHandling byte `json:"retain_handling,omitempty"`
	// Identifier is the Subscription Identifier, 0 for none (5.0).
	Identifier uint32 `json:"identifier,omitempty"`
}

// Group is the set of subscriptions that share one $share/{Name}/{Filter}.
// Each message that matches Filter goes to one member.
type Group struct {
	// Name is the share name.
	Name string
	// Filter is the topic filter, without the $share/{Name}/ prefix.
	Filter  string
	members atomic.Pointer[[]*Subscription]
	next    atomic.Uint64
}

// Members returns the group's current members. The slice is a snapshot
// that later changes of the group do not touch; callers must not modify it.
func (g *Group) Members() []*Subscription {
	if p := g.members.Load(); p != nil {
		return *p
	}
	return nil
}

// Next returns a counter that grows by one on every call, for round-robin
// choice among Members.
func (g *Group) Next() uint64 { return g.next.Add(1) - 1 }

// Delivery is what one client receives for one message: the highest QoS of
// its matching subscriptions, whether any of them keeps RETAIN, and the
// identifiers of all of them.
type Delivery struct {
	ClientID          string
	QoS               byte
	RetainAsPublished bool
	Identifiers       []uint32
}
