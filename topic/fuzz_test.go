package topic

import (
	"strings"
	"testing"
)

// FuzzTopicFilter checks that validation never panics, that a valid filter
// and name agree between Match, Index and Retained, and that a valid name is
// also a valid filter.
func FuzzTopicFilter(f *testing.F) {
	for _, tt := range matchTable {
		f.Add(tt.filter, tt.name)
	}
	f.Add("$share/g/a/#", "a/b")
	f.Add("a/\x00", "a")
	f.Fuzz(func(t *testing.T, filter, name string) {
		ferr := ValidateFilter(filter)
		nerr := ValidateName(name)
		if nerr == nil && ValidateFilter(name) != nil {
			t.Fatalf("name %q is valid but not as a filter", name)
		}
		if ferr != nil || nerr != nil {
			return
		}
		if _, inner, ok := ParseShared(filter); ok {
			filter = inner
		}
		want := Match(filter, name)
		x := NewIndex()
		x.Add(Subscription{ClientID: "c", Filter: filter})
		var res Result
		x.Match(name, &res)
		if got := len(res.Subs) == 1; got != want {
			t.Fatalf("Index(%q) matches %q = %v, Match = %v", filter, name, got, want)
		}
		r := NewRetained[bool]()
		r.Set(name, true)
		got := false
		r.Match(filter, func(bool) bool { got = true; return true })
		if got != want {
			t.Fatalf("Retained(%q) matched by %q = %v, Match = %v", name, filter, got, want)
		}
		if removed, last := x.Remove("c", filter); !removed || !last || x.Len() != 0 {
			t.Fatalf("Remove(%q) = %v, %v, Len %d", filter, removed, last, x.Len())
		}
		if !strings.Contains(filter, "+") && !strings.Contains(filter, "#") && want != (filter == name) {
			t.Fatalf("plain filter %q and name %q: Match = %v", filter, name, want)
		}
	})
}
