package bench

import (
	"context"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/topic"
)

func TestSpreadPlan(t *testing.T) {
	c := Config{Scenario: ScenarioSpread, Publishers: 3, Subscribers: 10}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := makePlan(&c)
	if len(p.filters) != 10 || len(p.topics) != 3 || len(p.rings) != 3 || p.fan != 1 {
		t.Fatalf("plan: %d filters, %d topics, %d rings, fan %d", len(p.filters), len(p.topics), len(p.rings), p.fan)
	}
	reached := make([]int, len(p.filters))
	for k, ring := range p.rings {
		r := newTopicRing(ring, 100, k, len(p.rings))
		for i := range 2 * len(ring) {
			name, num, seq := r.take()
			if want := uint32(i / len(ring)); seq != want {
				t.Errorf("publisher %d, message %d: sequence %d, want %d", k, i, seq, want)
			}
			var matched []int
			for n, f := range p.filters {
				if topic.Match(f, name) {
					matched = append(matched, n)
				}
			}
			if len(matched) != 1 {
				t.Fatalf("topic %s matches filters %v, want exactly one", name, matched)
			}
			if n := matched[0]; num != 100+uint32(n) || n%len(p.rings) != k {
				t.Errorf("topic %s of publisher %d: number %d for subscriber %d", name, k, num, n)
			}
			reached[matched[0]]++
		}
	}
	for n, got := range reached {
		if got != 2 {
			t.Errorf("subscriber %d reached %d times, want 2", n, got)
		}
	}
}

func TestSpreadValidate(t *testing.T) {
	c := Config{Scenario: ScenarioSpread, Publishers: 4, Subscribers: 3}
	c.EnsureDefaults()
	if err := c.Validate(); err == nil {
		t.Error("fewer subscribers than publishers accepted")
	}
	d := Config{Scenario: ScenarioSpread}
	d.EnsureDefaults()
	if d.Publishers != 10 || d.Subscribers != 1000 {
		t.Errorf("defaults: %d publishers, %d subscribers", d.Publishers, d.Subscribers)
	}
}

func TestSpreadRun(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{name: "qos1", cfg: Config{QoS: 1, Publishers: 3, Subscribers: 20, Count: 60}},
		{name: "qos0 closed loop", cfg: Config{Publishers: 2, Subscribers: 9, Count: 90, Owed: 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Scenario, c.Host = ScenarioSpread, b.Addr
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Run(ctx, c)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			want := int64(c.Publishers * c.Count)
			// Every message reached one subscriber, once: more would be deliveries beyond those expected.
			if res.Published != want || res.Expected != want || res.Received != want || res.Duplicates != 0 ||
				res.Lost != 0 {
				t.Errorf("published %d, expected %d, received %d (%d duplicates, %d lost); want %d each",
					res.Published, res.Expected, res.Received, res.Duplicates, res.Lost, want)
			}
			if res.Subscribers != c.Subscribers || res.Connect.Established != int64(c.Publishers+c.Subscribers) {
				t.Errorf("%d subscribers, %d connections", res.Subscribers, res.Connect.Established)
			}
		})
	}
}
