package broker

import (
	"iter"
	"slices"

	"github.com/midgemq/midge/topic"
)

// subSetSmall is how many subscriptions a subSet keeps in its slice before
// it moves them to a map.
const subSetSmall = 16

// subSet is a session's subscriptions, by filter. Most sessions hold one or
// a few, which a slice keeps in 48 bytes each where a map would take half a
// kilobyte; past subSetSmall a map keeps lookups short.
type subSet struct {
	list     []topic.Subscription
	byFilter map[string]topic.Subscription
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
		sub, ok := s.byFilter[filter]
		return sub, ok
	}
	for _, sub := range s.list {
		if sub.Filter == filter {
			return sub, true
		}
	}
	return topic.Subscription{}, false
}

// put adds sub, or replaces the subscription to the same filter.
func (s *subSet) put(sub topic.Subscription) {
	if s.byFilter != nil {
		s.byFilter[sub.Filter] = sub
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
	s.byFilter = make(map[string]topic.Subscription, 2*subSetSmall)
	for _, old := range s.list {
		s.byFilter[old.Filter] = old
	}
	s.byFilter[sub.Filter] = sub
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
			for _, sub := range s.byFilter {
				if !yield(sub) {
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
	s.list, s.byFilter = nil, nil
}
