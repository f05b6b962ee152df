package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func matchingClients(x *Index, name string) []string {
	var res Result
	x.Match(name, &res)
	var ids []string
	for _, s := range res.Subs {
		ids = append(ids, s.ClientID+" "+s.Filter)
	}
	for _, g := range res.Groups {
		for _, m := range g.Members() {
			ids = append(ids, m.ClientID+" "+m.Filter)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestIndexMatchesSpecTable(t *testing.T) {
	for _, tt := range matchTable {
		x := NewIndex()
		x.Add(Subscription{ClientID: "c", Filter: tt.filter})
		got := len(matchingClients(x, tt.name)) == 1
		if got != tt.want {
			t.Errorf("index with %q matches %q = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
	}
}

func TestIndexAddRemove(t *testing.T) {
	x := NewIndex()
	if replaced, first := x.Add(Subscription{ClientID: "a", Filter: "s/+", QoS: 0}); replaced || !first {
		t.Fatalf("first Add = %v, %v", replaced, first)
	}
	if replaced, first := x.Add(Subscription{ClientID: "b", Filter: "s/+"}); replaced || first {
		t.Fatalf("second client Add = %v, %v", replaced, first)
	}
	if replaced, first := x.Add(Subscription{ClientID: "a", Filter: "s/+", QoS: 2}); !replaced || first {
		t.Fatalf("re-subscribe Add = %v, %v", replaced, first)
	}
	if x.Len() != 2 {
		t.Fatalf("Len = %d, want 2", x.Len())
	}
	var res Result
	x.Match("s/x", &res)
	for _, s := range res.Subs {
		if s.ClientID == "a" && s.QoS != 2 {
			t.Fatalf("replaced subscription kept QoS %d", s.QoS)
		}
	}
	if removed, last := x.Remove("a", "s/#"); removed || last {
		t.Fatalf("Remove of an unknown filter = %v, %v", removed, last)
	}
	if removed, last := x.Remove("a", "s/+"); !removed || last {
		t.Fatalf("Remove a = %v, %v", removed, last)
	}
	if removed, _ := x.Remove("a", "s/+"); removed {
		t.Fatal("second Remove reported a removal")
	}
	if removed, last := x.Remove("b", "s/+"); !removed || !last {
		t.Fatalf("Remove b = %v, %v", removed, last)
	}
	if x.Len() != 0 || !x.root.empty() {
		t.Fatalf("index not empty after removing all: len %d, root %+v", x.Len(), x.root)
	}
}

// TestIndexOverlapping: a client whose filters overlap gets one delivery at
// the highest QoS, with every subscription identifier [MQTT-3.3.4-2]
// [MQTT-3.3.4-3].
func TestIndexOverlapping(t *testing.T) {
	x := NewIndex()
	x.Add(Subscription{ClientID: "a", Filter: "s/#", QoS: 0, Identifier: 1})
	x.Add(Subscription{ClientID: "a", Filter: "s/+", QoS: 2, Identifier: 2})
	x.Add(Subscription{ClientID: "a", Filter: "s/x", QoS: 1, RetainAsPublished: true})
	x.Add(Subscription{ClientID: "b", Filter: "s/x", QoS: 1})
	x.Add(Subscription{ClientID: "me", Filter: "s/x", QoS: 1, NoLocal: true})
	var res Result
	x.Match("s/x", &res)
	dels := res.Deliveries("me", nil)
	slices.SortFunc(dels, func(a, b Delivery) int { return strings.Compare(a.ClientID, b.ClientID) })
	if len(dels) != 2 {
		t.Fatalf("deliveries = %+v, want one for a and one for b", dels)
	}
	a := dels[0]
	slices.Sort(a.Identifiers)
	if a.ClientID != "a" || a.QoS != 2 || !a.RetainAsPublished || !slices.Equal(a.Identifiers, []uint32{1, 2}) {
		t.Fatalf("delivery to a = %+v", a)
	}
	if b := dels[1]; b.ClientID != "b" || b.QoS != 1 || b.RetainAsPublished || b.Identifiers != nil {
		t.Fatalf("delivery to b = %+v", b)
	}
	// Without the No Local publisher, "me" receives it.
	if dels := res.Deliveries("other", nil); len(dels) != 3 {
		t.Fatalf("deliveries for another publisher = %+v", dels)
	}
}

func TestIndexShared(t *testing.T) {
	x := NewIndex()
	if _, first := x.Add(Subscription{ClientID: "a", Filter: "$share/g/s/+"}); !first {
		t.Fatal("first member not reported first")
	}
	x.Add(Subscription{ClientID: "b", Filter: "$share/g/s/+"})
	x.Add(Subscription{ClientID: "c", Filter: "$share/h/s/#"})
	x.Add(Subscription{ClientID: "d", Filter: "s/x"})
	var res Result
	x.Match("s/x", &res)
	if len(res.Subs) != 1 || len(res.Groups) != 2 {
		t.Fatalf("match = %d subs, %d groups; want 1, 2", len(res.Subs), len(res.Groups))
	}
	for _, g := range res.Groups {
		switch g.Name {
		case "g":
			if g.Filter != "s/+" || len(g.Members()) != 2 {
				t.Fatalf("group g = %s with %d members", g.Filter, len(g.Members()))
			}
		case "h":
			if len(g.Members()) != 1 {
				t.Fatalf("group h has %d members", len(g.Members()))
			}
		default:
			t.Fatalf("unexpected group %q", g.Name)
		}
	}
	snapshot := res.Groups[0].Members()
	if removed, last := x.Remove("a", "$share/g/s/+"); !removed || last {
		t.Fatalf("Remove a = %v, %v", removed, last)
	}
	if removed, last := x.Remove("b", "$share/g/s/+"); !removed || !last {
		t.Fatalf("Remove b = %v, %v", removed, last)
	}
	if len(snapshot) == 0 || snapshot[0] == nil {
		t.Fatal("a Members snapshot changed after Remove")
	}
	if x.Len() != 2 {
		t.Fatalf("Len = %d, want 2", x.Len())
	}
	g := &Group{}
	if a, b := g.Next(), g.Next(); b != a+1 {
		t.Fatalf("Next = %d then %d", a, b)
	}
}

func randomLevel(r *rand.Rand, wild bool) string {
	levels := []string{"a", "b", "c", "", "$x"}
	if wild {
		levels = append(levels, "+", "+", "#")
	}
	return levels[r.IntN(len(levels))]
}

func randomTopic(r *rand.Rand, wild bool) string {
	n := 1 + r.IntN(4)
	parts := make([]string, 0, n)
	for i := range n {
		l := randomLevel(r, wild)
		if l == "#" && i != n-1 {
			l = "+"
		}
		if l == "$x" && r.IntN(3) == 0 {
			l = "$SYS"
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, "/")
}

// TestIndexAgreesWithMatch checks the trie against the plain Match function
// on random filters and names.
func TestIndexAgreesWithMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := NewIndex()
	var filters []string
	for range 300 {
		f := randomTopic(r, true)
		if ValidateFilter(f) != nil {
			continue
		}
		x.Add(Subscription{ClientID: fmt.Sprint(len(filters)), Filter: f})
		filters = append(filters, f)
	}
	for range 2000 {
		name := randomTopic(r, false)
		if ValidateName(name) != nil {
			continue
		}
		var want []string
		for i, f := range filters {
			if Match(f, name) {
				want = append(want, fmt.Sprint(i)+" "+f)
			}
		}
		sort.Strings(want)
		if got := matchingClients(x, name); !slices.Equal(got, want) {
			t.Fatalf("name %q: index matched %v, Match matched %v", name, got, want)
		}
	}
}

func TestIndexMatchDoesNotAllocate(t *testing.T) {
	x := NewIndex()
	for i := range 100 {
		x.Add(Subscription{ClientID: fmt.Sprint(i), Filter: fmt.Sprintf("sensors/%d/+", i%10)})
	}
	x.Add(Subscription{ClientID: "all", Filter: "sensors/#"})
	x.Add(Subscription{ClientID: "all", Filter: "sensors/3/temp"})
	var res Result
	var dels []Delivery
	run := func() {
		x.Match("sensors/3/temp", &res)
		dels = res.Deliveries("p", dels[:0])
		res.Reset()
	}
	run()
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Fatalf("Match and Deliveries allocate %v times per call", allocs)
	}
}

// TestIndexConcurrent runs adds, removes and matches at once; run it with
// -race.
func TestIndexConcurrent(t *testing.T) {
	x := NewIndex()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				f := fmt.Sprintf("t/%d/+", i%20)
				id := fmt.Sprintf("c%d-%d", w, i%7)
				x.Add(Subscription{ClientID: id, Filter: f})
				if i%2 == 0 {
					x.Add(Subscription{ClientID: id, Filter: "$share/g/" + f})
				}
				if i%3 == 0 {
					x.Remove(id, f)
					x.Remove(id, "$share/g/"+f)
				}
			}
		})
		wg.Go(func() {
			var res Result
			for i := range 500 {
				x.Match(fmt.Sprintf("t/%d/x", i%20), &res)
				res.Deliveries("", nil)
				for _, g := range res.Groups {
					_ = g.Members()
					g.Next()
				}
				res.Reset()
			}
		})
	}
	wg.Wait()
	// Count what is left by walking the trie and compare with Len.
	var count func(n *node) int
	count = func(n *node) int {
		c := 0
		if n.one != nil {
			c++
			if n.more != nil && len(n.more.subs) > 0 {
				t.Errorf("a node holds a lone subscription and %d more", len(n.more.subs))
			}
		}
		if m := n.more; m != nil {
			c += len(m.subs)
			for _, g := range m.groups {
				c += len(g.Members())
			}
			if len(m.subs) == 0 && len(m.groups) == 0 {
				t.Error("a node keeps an empty nodeMore")
			}
		}
		for _, ch := range n.children {
			c += count(ch)
		}
		for _, ch := range []*node{n.plus, n.hash} {
			if ch != nil {
				c += count(ch)
			}
		}
		return c
	}
	if got := count(x.root); got != x.Len() {
		t.Fatalf("trie holds %d subscriptions, Len says %d", got, x.Len())
	}
}

// TestIndexManySubscribersOneFilter adds and removes subscriptions of one
// filter past the point where a node indexes them by client id, checking
// Match and the reports of Add and Remove at every step.
func TestIndexManySubscribersOneFilter(t *testing.T) {
	x := NewIndex()
	want := map[string]byte{}
	check := func(step string) {
		t.Helper()
		var res Result
		x.Match("many/x", &res)
		got := map[string]byte{}
		for _, s := range res.Subs {
			if _, dup := got[s.ClientID]; dup {
				t.Fatalf("%s: %s matched twice", step, s.ClientID)
			}
			got[s.ClientID] = s.QoS
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d matches, want %d", step, len(got), len(want))
		}
		for id, q := range want {
			if got[id] != q {
				t.Fatalf("%s: %s has QoS %d, want %d", step, id, got[id], q)
			}
		}
		if x.Len() != len(want) {
			t.Fatalf("%s: Len %d, want %d", step, x.Len(), len(want))
		}
	}
	for i := range 20 {
		id := fmt.Sprint("c", i)
		replaced, first := x.Add(Subscription{ClientID: id, Filter: "many/+", QoS: 0})
		if replaced || first != (i == 0) {
			t.Fatalf("add %s: replaced %v first %v", id, replaced, first)
		}
		want[id] = 0
		check("add " + id)
	}
	// Replacing keeps one subscription per client.
	for _, i := range []int{3, 12, 19} {
		id := fmt.Sprint("c", i)
		if replaced, _ := x.Add(Subscription{ClientID: id, Filter: "many/+", QoS: 2}); !replaced {
			t.Fatalf("re-add %s: not replaced", id)
		}
		want[id] = 2
		check("re-add " + id)
	}
	for _, i := range []int{0, 19, 7, 8, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18} {
		id := fmt.Sprint("c", i)
		removed, last := x.Remove(id, "many/+")
		delete(want, id)
		if !removed || last != (len(want) == 0) {
			t.Fatalf("remove %s: removed %v last %v", id, removed, last)
		}
		if removed, _ := x.Remove(id, "many/+"); removed {
			t.Fatalf("remove %s twice", id)
		}
		check("remove " + id)
	}
}

// TestIndexNodeSize keeps a node within the 48-byte size class: one is made
// for every level of every filter.
func TestIndexNodeSize(t *testing.T) {
	if n := unsafe.Sizeof(node{}); n > 48 {
		t.Errorf("node is %d bytes, over 48", n)
	}
}
