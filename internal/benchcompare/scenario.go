package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/midgemq/midge/bench"
)

// sample holds the figures of one run, by metric key.
type sample map[string]float64

// Metric kinds, which say how a figure is shown.
const (
	kindRate    = "rate"
	kindLatency = "latency"
	kindBytes   = "bytes"
	kindCount   = "count"
	kindPercent = "percent"
)

// metric is one figure of a scenario.
type metric struct {
	key   string
	label string
	kind  string
	// sum shows the sum over the rounds (loss counts) instead of the median.
	sum bool
}

// scenario is one comparison: a run against a broker, repeated alternately for each broker.
type scenario struct {
	// name selects the scenario with -only.
	name  string
	title string
	// how describes the load, for the report.
	how     string
	metrics []metric
	run     func(ctx context.Context, o *options, p *process) (sample, error)
}

// runTimeout bounds one bench run beyond its duration: connecting, draining and closing.
const runTimeout = 3 * time.Minute

// owed is the closed-loop bound of the throughput scenarios.
const owed = 1024

// scenarios returns the scenarios o selects, in the order they run.
func scenarios(o *options) []scenario {
	rate := metric{key: "out", label: "msg/s out", kind: kindRate}
	deliveries := metric{key: "out", label: "deliveries/s", kind: kindRate}
	cpu := metric{key: "cpu", label: "broker CPU per delivery", kind: kindLatency}
	gen := metric{key: "gen", label: "load generator CPU per delivery", kind: kindLatency}
	lost := metric{key: "lost", label: "lost", kind: kindCount, sum: true}
	all := []scenario{
		{name: "fanin-qos0", title: "fan-in QoS 0", metrics: []metric{rate, cpu, lost},
			how: fmt.Sprintf("8 publishers → 1 subscriber of a wildcard filter, closed loop (owed ≤ %d)", owed),
			run: messages(bench.Config{Scenario: bench.ScenarioFanIn, QoS: 0, Publishers: 8, Subscribers: 1,
				Owed: owed}, nil)},
		{name: "fanin-qos1", title: "fan-in QoS 1", metrics: []metric{rate, cpu},
			how: fmt.Sprintf("8 publishers → 1 subscriber of a wildcard filter, closed loop (owed ≤ %d)", owed),
			run: messages(bench.Config{Scenario: bench.ScenarioFanIn, QoS: 1, Publishers: 8, Subscribers: 1,
				Owed: owed}, nil)},
		{name: "fanin-qos2", title: "fan-in QoS 2", metrics: []metric{rate, cpu, lost,
			{key: "dups", label: "duplicates", kind: kindCount, sum: true}},
			how: fmt.Sprintf("8 publishers → 1 subscriber of a wildcard filter, closed loop (owed ≤ %d)", owed),
			run: messages(bench.Config{Scenario: bench.ScenarioFanIn, QoS: 2, Publishers: 8, Subscribers: 1,
				Owed: owed}, nil)},
		{name: "fanout", title: "fan-out QoS 0", metrics: []metric{deliveries, cpu},
			how: fmt.Sprintf("1 publisher → 100 subscribers of one topic, closed loop (owed ≤ %d)", owed),
			run: messages(bench.Config{Scenario: bench.ScenarioFanOut, QoS: 0, Publishers: 1, Subscribers: 100,
				Owed: owed}, nil)},
		{name: "wildcard", title: fmt.Sprintf("%s wildcard subscribers", thousands(o.wildSubs)),
			metrics: []metric{deliveries, cpu, gen},
			how: fmt.Sprintf("`midge bench spread`: %s subscribers, each of its own filter `w/spread/<n>/+`, fed "+
				"by 10 publishers whose every message matches exactly one subscriber; QoS 0, closed loop (owed ≤ %d)",
				thousands(o.wildSubs), owed),
			run: messages(bench.Config{Scenario: bench.ScenarioSpread, QoS: 0, Publishers: 10,
				Subscribers: o.wildSubs, Owed: owed, Topic: "w", Sources: o.sources}, nil)},
		{name: "latency", title: "QoS 1 at 20,000 msg/s", metrics: []metric{
			{key: "p50", label: "latency p50", kind: kindLatency},
			{key: "p99", label: "latency p99", kind: kindLatency},
			{key: "p999", label: "latency p99.9", kind: kindLatency},
			{key: "out", label: "msg/s out", kind: kindRate}},
			how: "4 publishers × 5,000 msg/s on a fixed schedule → 1 subscriber; latency from the scheduled send " +
				"time to the delivery",
			run: messages(bench.Config{Scenario: bench.ScenarioFanIn, QoS: 1, Publishers: 4, Subscribers: 1,
				Rate: 5000}, nil)},
		{name: "flood", title: "QoS 0 flood", metrics: []metric{
			{key: "in", label: "msg/s in", kind: kindRate},
			{key: "out", label: "msg/s out", kind: kindRate},
			{key: "delivered", label: "delivered", kind: kindPercent},
			{key: "dropped", label: "dropped by the broker (its count)", kind: kindCount}},
			how: fmt.Sprintf("8 publishers → 1 subscriber, open loop: no owed bound, no rate limit, for %s",
				floodDuration(o)),
			run: messages(bench.Config{Scenario: bench.ScenarioFanIn, QoS: 0, Publishers: 8, Subscribers: 1,
				Duration: floodDuration(o)}, floodDrops)},
		{name: "conns", title: fmt.Sprintf("%s idle connections", thousands(o.conns)), metrics: []metric{
			{key: "rate", label: "connect + subscribe/s", kind: kindRate},
			{key: "per_conn", label: "broker RSS per connection", kind: kindBytes},
			{key: "rss", label: "broker RSS held", kind: kindBytes},
			{key: "cpu", label: "broker CPU per connection", kind: kindLatency},
			{key: "gen", label: "load generator CPU per connection", kind: kindLatency}},
			how: fmt.Sprintf("%s connections from %d source addresses, each subscribed to its own filter, held "+
				"%s; RSS (VmRSS) before and while held; CPU over the whole run (open, hold, close)",
				thousands(o.conns), len(o.sources), holdTime(o)),
			run: idleConns},
	}
	if len(o.only) == 0 {
		return all
	}
	var out []scenario
	for _, s := range all {
		if o.only[s.name] {
			out = append(out, s)
		}
	}
	return out
}

// scenarioNames returns the names -only accepts.
func scenarioNames() []string {
	names := []string{"fanin-qos0", "fanin-qos1", "fanin-qos2", "fanout", "wildcard", "latency", "flood", "conns"}
	return append(names, "large")
}

// floodDuration is the length of the open-loop flood: a few seconds, as the brokers' queues grow all along.
func floodDuration(o *options) time.Duration { return min(o.duration, 5*time.Second) }

// holdTime is how long the idle connections are held.
func holdTime(o *options) time.Duration { return min(max(o.duration/2, time.Second), 5*time.Second) }

// messages returns the run of a message scenario of cfg; extra, when not nil, adds figures once the run is over
// and before the broker stops.
func messages(cfg bench.Config, extra func(p *process, r *bench.Result, s sample) error) func(context.Context,
	*options, *process) (sample, error) {
	return func(ctx context.Context, o *options, p *process) (sample, error) {
		c := cfg
		c.Host = p.addr
		if c.Duration == 0 {
			c.Duration = o.duration
		}
		ctx, cancel := context.WithTimeout(ctx, c.Duration+runTimeout)
		defer cancel()
		cpu0, cerr := p.cpu()
		gen0, gerr := cpuTime(os.Getpid())
		r, err := bench.Run(ctx, c)
		if r.Published == 0 && err != nil {
			return nil, err
		}
		cpu1, cerr1 := p.cpu()
		gen1, gerr1 := cpuTime(os.Getpid())
		s := sample{
			"in":   r.PublishRate,
			"out":  r.ReceiveRate,
			"lost": float64(r.Lost),
			"dups": float64(r.Duplicates),
			"p50":  float64(r.Latency.P50),
			"p99":  float64(r.Latency.P99),
			"p999": float64(r.Latency.P999),
		}
		if delivered := r.Received - r.Duplicates; delivered > 0 {
			if cerr == nil && cerr1 == nil {
				s["cpu"] = float64(cpu1-cpu0) / float64(delivered)
			}
			// The load generator runs in this process.
			if gerr == nil && gerr1 == nil {
				s["gen"] = float64(gen1-gen0) / float64(delivered)
			}
		}
		if r.Published > 0 {
			s["delivered"] = 100 * float64(r.Received-r.Duplicates) / float64(r.Published*max(int64(r.Subscribers), 1))
		}
		if extra != nil {
			if xerr := extra(p, &r, s); xerr != nil {
				err = errors.Join(err, xerr)
			}
		}
		return s, err
	}
}

// floodDrops adds the messages Midge counts as dropped; Mosquitto has no such figure outside $SYS.
func floodDrops(p *process, _ *bench.Result, s sample) error {
	if p.kind != midge {
		return nil
	}
	drops, err := p.metrics("midge_dropped_total")
	if err != nil {
		// No series yet: nothing was dropped.
		s["dropped"] = 0
		return nil
	}
	var n float64
	for labels, v := range drops {
		if labels == `reason="output_full"` || labels == `reason="queue_full"` {
			n += v
		}
	}
	s["dropped"] = n
	return nil
}

// idleConns opens o.conns connections that subscribe and stay idle, and measures the connect rate and the
// broker's resident memory per connection: VmRSS before the run, and while every connection is open (the last
// sample, taken every 100ms, at the highest count of open files).
func idleConns(ctx context.Context, o *options, p *process) (sample, error) {
	before, err := p.rss()
	if err != nil {
		return nil, err
	}
	filesBefore, err := openFiles(p.pid())
	if err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		files int
		held  int64
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	// Listing the files of a broker with 19,000 sockets takes 15 ms of CPU:
	// every 100 ms, that would be 15 % of a core taken from the brokers while
	// the connections open, which is when the rate is measured. So the
	// sampler lists them once a second until nearly all are open, and every
	// 100 ms only then, for the readings while they are held.
	nearlyAll := filesBefore + o.conns*99/100
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var next time.Time // of the next listing
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if now.Before(next) {
					continue
				}
			}
			n, ferr := openFiles(p.pid())
			if n < nearlyAll {
				next = time.Now().Add(time.Second)
			}
			rss, rerr := p.rss()
			if ferr != nil || rerr != nil {
				continue
			}
			mu.Lock()
			if n >= files {
				files, held = n, rss
			}
			mu.Unlock()
		}
	})
	hold := holdTime(o)
	// One publisher sends one message when every subscriber is in, then waits for the end of the hold: the
	// spread scenario gives each connection a filter of its own.
	c := bench.Config{Scenario: bench.ScenarioSpread, Host: p.addr, Publishers: 1, Subscribers: o.conns - 1,
		Rate: 1 / (10 * hold.Seconds()), Duration: hold, Topic: "idle", Sources: o.sources}
	rctx, cancel := context.WithTimeout(ctx, hold+runTimeout)
	defer cancel()
	cpu0, cerr := p.cpu()
	gen0, gerr := cpuTime(os.Getpid())
	r, err := bench.Run(rctx, c)
	cpu1, cerr1 := p.cpu()
	gen1, gerr1 := cpuTime(os.Getpid())
	close(done)
	wg.Wait()
	if r.Connect.Established == 0 {
		return nil, err
	}
	s := sample{
		"rate":  r.Connect.Rate,
		"conns": float64(r.Connect.Established),
		"files": float64(files - filesBefore),
	}
	if cerr == nil && cerr1 == nil {
		s["cpu"] = float64(cpu1-cpu0) / float64(r.Connect.Established)
	}
	// The load generator runs in this process, the RSS sampler with it.
	if gerr == nil && gerr1 == nil {
		s["gen"] = float64(gen1-gen0) / float64(r.Connect.Established)
	}
	if held > 0 {
		s["rss"] = float64(held)
		s["per_conn"] = float64(held-before) / float64(r.Connect.Established)
	}
	return s, err
}
