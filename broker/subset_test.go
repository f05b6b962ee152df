package broker

import (
	"fmt"
	"testing"

	"github.com/midgemq/midge/topic"
)

// TestSubSet keeps a set of subscriptions through growth past the slice
// into the map, replacement and removal, and checks it against a map.
func TestSubSet(t *testing.T) {
	var s subSet
	want := map[string]topic.Subscription{}
	check := func(step string) {
		t.Helper()
		if s.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, s.len(), len(want))
		}
		seen := 0
		for sub := range s.all() {
			if w, ok := want[sub.Filter]; !ok || w != sub {
				t.Fatalf("%s: all yields %+v, want %+v (present %v)", step, sub, w, ok)
			}
			seen++
		}
		if seen != len(want) {
			t.Fatalf("%s: all yields %d, want %d", step, seen, len(want))
		}
		for f, w := range want {
			if got, ok := s.get(f); !ok || got != w {
				t.Fatalf("%s: get %q = %+v %v, want %+v", step, f, got, ok, w)
			}
		}
		if _, ok := s.get("absent"); ok {
			t.Fatalf("%s: get of an absent filter found one", step)
		}
	}
	for i := range 3 * subSetSmall {
		sub := topic.Subscription{ClientID: "c", Filter: fmt.Sprintf("f/%d", i), QoS: byte(i % 3)}
		if i%4 == 1 { // the options of 5.0
			sub.NoLocal, sub.RetainAsPublished, sub.RetainHandling, sub.Identifier = true, true, 2, uint32(i)<<20
		}
		s.put(sub)
		want[sub.Filter] = sub
		check(fmt.Sprintf("put %d", i))
		if i%5 == 0 {
			sub.QoS = 2 - sub.QoS
			s.put(sub)
			want[sub.Filter] = sub
			check(fmt.Sprintf("replace %d", i))
		}
	}
	for i := 0; i < 3*subSetSmall; i += 2 {
		f := fmt.Sprintf("f/%d", i)
		if !s.remove(f) {
			t.Fatalf("remove %q: not there", f)
		}
		delete(want, f)
		check("remove " + f)
		if s.remove(f) {
			t.Fatalf("remove %q twice: there", f)
		}
	}
	s.clear()
	clear(want)
	check("clear")
	// Small again: the slice.
	s.put(topic.Subscription{Filter: "a"})
	s.put(topic.Subscription{Filter: "b"})
	if !s.remove("a") || s.len() != 1 || s.byFilter != nil {
		t.Fatalf("small set after clear: len %d, map %v", s.len(), s.byFilter != nil)
	}
}
