package topic

import (
	"fmt"
	"testing"
)

// BenchmarkIndexMatch matches one topic name against an index of 100,000
// subscriptions: one per device on an exact topic, one per site with '+',
// and a few '#' monitors. Ten subscriptions match.
func BenchmarkIndexMatch(b *testing.B) {
	x := NewIndex()
	for i := range 100_000 {
		x.Add(Subscription{ClientID: fmt.Sprintf("dev-%d", i), Filter: fmt.Sprintf("site/%d/dev/%d/temp", i%100, i)})
	}
	for i := range 8 {
		x.Add(Subscription{ClientID: fmt.Sprintf("site-%d", i), Filter: "site/42/dev/+/temp"})
	}
	x.Add(Subscription{ClientID: "monitor", Filter: "site/#"})
	var res Result
	var dels []Delivery
	b.ReportAllocs()
	for b.Loop() {
		x.Match("site/42/dev/4242/temp", &res)
		dels = res.Deliveries("", dels[:0])
		res.Reset()
	}
	if len(dels) != 10 {
		b.Fatalf("%d deliveries, want 10", len(dels))
	}
}

// BenchmarkIndexMatchParallel is BenchmarkIndexMatch from every core.
func BenchmarkIndexMatchParallel(b *testing.B) {
	x := NewIndex()
	for i := range 100_000 {
		x.Add(Subscription{ClientID: fmt.Sprintf("dev-%d", i), Filter: fmt.Sprintf("site/%d/dev/%d/temp", i%100, i)})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var res Result
		for pb.Next() {
			x.Match("site/42/dev/4242/temp", &res)
			res.Reset()
		}
	})
}

// BenchmarkIndexAdd adds subscriptions to distinct filters.
func BenchmarkIndexAdd(b *testing.B) {
	x := NewIndex()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x.Add(Subscription{ClientID: "c", Filter: fmt.Sprintf("site/%d/dev/%d/temp", i%100, i)})
		i++
	}
}

// BenchmarkRetainedMatch answers a wildcard filter over 1,000,000 retained
// topics, 100 of which match.
func BenchmarkRetainedMatch(b *testing.B) {
	r := NewRetained[int]()
	for i := range 1_000_000 {
		r.Set(fmt.Sprintf("site/%d/dev/%d/temp", i%10_000, i), i)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		r.Match("site/42/dev/+/temp", func(int) bool { n++; return true })
		if n != 100 {
			b.Fatalf("%d matches, want 100", n)
		}
	}
}
