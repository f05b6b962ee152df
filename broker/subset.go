package broker

import (
	"iter"
	"slices"

	"github.com/midgemq/midge/topic"
)

// subSetSmall is how many subscriptions a subSet keeps in its slice before
// it moves them to a map.
const subSetSmall = 16

// subSet is a session's subscriptions, by filter; all of them are one
// client's. Most sessions hold one or a few, which a slice keeps in 48 bytes
// each where a map would take half a kilobyte; past subSetSmall a map keeps
// lookups short. The map keeps only each subscription's options under its
// filter, and the client id once: a map's slots are about half full, and a
// whole Subscription in each took 130 bytes a subscription, against 50.
type subSet struct {
	list     []topic.Subscription
	client   string
	byFilter map[string]subOptions
}

// subOptions are the options of a subscription, without its client and
// filter.
type subOptions struct {
	identifier        uint32
	qos               byte
	retainHandling    byte
	noLocal           bool
	retainAsPublished bool
}

func optionsOf(sub *topic.Subscription) subOptions {
	return subOptions{identifier: sub.Identifier, qos: sub.QoS, retainHandling: sub.RetainHandling,
		noLocal: sub.NoLocal, retainAsPublished: sub.RetainAsPublished}
}

// subscription returns the subscription of client to filter with options o.
func (o subOptions) subscription(client, filter string) topic.Subscription {
	return topic.Subscription{ClientID: client, Filter: filter, QoS: o.qos, NoLocal: o.noLocal,
		RetainAsPublished: o.retainAsPublished, RetainHandling: o.retainHandling, Identifier: o.identifier}
}

// len returns the number of subscriptions.
func (s *subSet) len() int {
	if s.byFilter != nil {
		return len(s.byFilter)
	}
	return len(s.list)
}

// get returns the subscription to filter.
func (s *subSet) get(filter string) (topic.Subscription, bool) {
	if s.byFilter != nil {
		o, ok := s.byFilter[filter]
		if !ok {
			return topic.Subscription{}, false
		}
		return o.subscription(s.client, filter), true
	}
	for _, sub := range s.list {
		if sub.Filter == filter {
			return sub, true
		}
	}
	return topic.Subscription{}, false
}

// put adds sub, or replaces the subscription to the same filter. sub is
// the client's whose subscriptions the set holds already.
func (s *subSet) put(sub topic.Subscription) {
	if s.byFilter != nil {
		s.byFilter[sub.Filter] = optionsOf(&sub)
		return
	}
	for i := range s.list {
		if s.list[i].Filter == sub.Filter {
			s.list[i] = sub
			return
		}
	}
	if len(s.list) < subSetSmall {
		s.list = append(s.list, sub)
		return
	}
	s.byFilter = make(map[string]subOptions, 2*subSetSmall)
	s.client = sub.ClientID
	for i := range s.list {
		s.byFilter[s.list[i].Filter] = optionsOf(&s.list[i])
	}
	s.byFilter[sub.Filter] = optionsOf(&sub)
	s.list = nil
}

// remove drops the subscription to filter and reports whether there was one.
func (s *subSet) remove(filter string) bool {
	if s.byFilter != nil {
		_, ok := s.byFilter[filter]
		delete(s.byFilter, filter)
		return ok
	}
	for i := range s.list {
		if s.list[i].Filter == filter {
			s.list = slices.Delete(s.list, i, i+1)
			return true
		}
	}
	return false
}

// all yields every subscription, in no particular order.
func (s *subSet) all() iter.Seq[topic.Subscription] {
	return func(yield func(topic.Subscription) bool) {
		if s.byFilter != nil {
			for filter, o := range s.byFilter {
				if !yield(o.subscription(s.client, filter)) {
					return
				}
			}
			return
		}
		for _, sub := range s.list {
			if !yield(sub) {
				return
			}
		}
	}
}

// clear drops every subscription.
func (s *subSet) clear() {
	s.list, s.client, s.byFilter = nil, "", nil
}
