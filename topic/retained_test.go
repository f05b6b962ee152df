package topic

import (
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"unsafe"
)

// retainedNames returns the names of r that filter matches: each value is
// its own name.
func retainedNames(r *Retained[string], filter string) []string {
	var names []string
	r.Match(filter, func(name string) bool {
		names = append(names, name)
		return true
	})
	sort.Strings(names)
	return names
}

func TestRetainedSpecTable(t *testing.T) {
	for _, tt := range matchTable {
		r := NewRetained[string]()
		r.Set(tt.name, tt.name)
		got := len(retainedNames(r, tt.filter)) == 1
		if got != tt.want {
			t.Errorf("retained %q matched by %q = %v, want %v", tt.name, tt.filter, got, tt.want)
		}
	}
}

func TestRetainedSetGetDelete(t *testing.T) {
	r := NewRetained[int]()
	if r.Set("a/b", 1) {
		t.Fatal("first Set reported a replacement")
	}
	if !r.Set("a/b", 2) {
		t.Fatal("second Set reported no replacement")
	}
	r.Set("a", 3)
	if v, ok := r.Get("a/b"); !ok || v != 2 {
		t.Fatalf("Get(a/b) = %d, %v", v, ok)
	}
	if _, ok := r.Get("a/b/c"); ok {
		t.Fatal("Get of an unset name found a value")
	}
	if r.Len() != 2 {
		t.Fatalf("Len = %d", r.Len())
	}
	if r.Delete("a/c") || r.Delete("a/b/c") {
		t.Fatal("Delete of an unset name reported a deletion")
	}
	if !r.Delete("a/b") {
		t.Fatal("Delete(a/b) found nothing")
	}
	if _, ok := r.Get("a/b"); ok {
		t.Fatal("a/b still set after Delete")
	}
	if v, ok := r.Get("a"); !ok || v != 3 {
		t.Fatal("Delete(a/b) removed a")
	}
	r.Delete("a")
	if r.Len() != 0 || len(r.root.children) != 0 {
		t.Fatalf("not empty after deleting everything: len %d, %d children", r.Len(), len(r.root.children))
	}
}

func TestRetainedMatchStops(t *testing.T) {
	r := NewRetained[string]()
	for _, n := range []string{"a/1", "a/2", "a/3"} {
		r.Set(n, n)
	}
	calls := 0
	r.Match("a/+", func(string) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("fn called %d times after returning false", calls)
	}
	// fn may use the map: Match calls it without holding the lock.
	r.Match("a/#", func(name string) bool { r.Delete(name); return true })
	if r.Len() != 0 {
		t.Fatalf("Len = %d after deleting from fn", r.Len())
	}
}

func TestRetainedAgreesWithMatch(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	r := NewRetained[string]()
	var names []string
	for range 300 {
		n := randomTopic(rnd, false)
		if ValidateName(n) != nil || slices.Contains(names, n) {
			continue
		}
		names = append(names, n)
		r.Set(n, n)
	}
	for range 2000 {
		f := randomTopic(rnd, true)
		if ValidateFilter(f) != nil {
			continue
		}
		var want []string
		for _, n := range names {
			if Match(f, n) {
				want = append(want, n)
			}
		}
		sort.Strings(want)
		if got := retainedNames(r, f); !slices.Equal(got, want) {
			t.Fatalf("filter %q: retained matched %v, Match matched %v", f, got, want)
		}
	}
}

func TestRetainedConcurrent(t *testing.T) {
	r := NewRetained[int]()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 1000 {
				n := randomTopic(rnd, false)
				if ValidateName(n) != nil {
					continue
				}
				if i%3 == 0 {
					r.Delete(n)
				} else {
					r.Set(n, i)
				}
			}
		})
		wg.Go(func() {
			for range 300 {
				r.Match("#", func(int) bool { return true })
				r.Get("a/b")
			}
		})
	}
	wg.Wait()
	count := func(filter string) int {
		n := 0
		r.Match(filter, func(int) bool { n++; return true })
		return n
	}
	if got := count("#") + count("$x/#") + count("$SYS/#"); got != r.Len() {
		t.Fatalf("match finds %d names, Len says %d", got, r.Len())
	}
}

// TestRetainedNodeSize keeps a node holding a pointer within the 24-byte
// size class: one is made for every name held.
func TestRetainedNodeSize(t *testing.T) {
	if n := unsafe.Sizeof(rnode[*int]{}); n > 24 {
		t.Errorf("rnode is %d bytes, over 24", n)
	}
}
