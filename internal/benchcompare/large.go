package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/midgemq/midge/bench"
	"github.com/midgemq/midge/packet"
)

// Sizes of the large-state scenario's loading.
const (
	// retainConns publish the retained messages, in parallel.
	retainConns = 8
	// subsPerConn is the subscriptions each loading connection holds: under Midge's default max_subscriptions.
	subsPerConn = 8000
	// filtersPerSubscribe is the topic filters of each SUBSCRIBE packet.
	filtersPerSubscribe = 500
	// subscribeProbes is how many subscriptions the latency probe times, one after the other, in batches of
	// probeBatch with probePause between them: the percentiles then sample about two seconds of the broker's
	// life, not the 50 ms that 2,000 subscriptions take, which one pause of the machine or of a garbage collector
	// can cover whole.
	subscribeProbes = 2000
	probeBatch      = 200
	probePause      = 200 * time.Millisecond
	// loadTimeout bounds each loading step; a broker slower than that is reported as such.
	loadTimeout = 3 * time.Minute
)

// largeMetrics are the figures of the large-state scenario. Each is measured on the empty broker (key suffix
// "_empty") and once the broker holds the retained messages and subscriptions ("_loaded").
var largeMetrics = []metric{
	{key: "sub_p50", label: "subscribe latency p50", kind: kindLatency},
	{key: "sub_p99", label: "subscribe latency p99", kind: kindLatency},
	{key: "pub", label: "fan-in QoS 0 msg/s out", kind: kindRate},
	{key: "rss", label: "broker RSS", kind: kindBytes},
}

// retainedTopic is the topic of retained message i: ret/<i/1000>/<i%1000>.
func retainedTopic(i int) string { return fmt.Sprintf("ret/%d/%d", i/1000, i%1000) }

// subFilter is the k-th filter of loading connection c: half of them exact, half with a wildcard level.
func subFilter(c, k int) string {
	if k%2 == 0 {
		return fmt.Sprintf("sub/%d/%d", c, k)
	}
	return fmt.Sprintf("sub/%d/+/%d", c, k)
}

// runLarge measures one broker empty, then loads it with o.retained retained messages and o.subs subscriptions
// and measures it again. The figures go in s even when an error cuts the run short.
func runLarge(ctx context.Context, o *options, p *process, s sample) error {
	measure := func(suffix string) error {
		rss, err := p.rss()
		if err != nil {
			return err
		}
		s["rss"+suffix] = float64(rss)
		lat, err := probeSubscribe(ctx, p.addr, o.retained)
		if err != nil {
			return fmt.Errorf("subscribe probe: %w", err)
		}
		s["sub_p50"+suffix] = float64(lat[len(lat)/2])
		s["sub_p99"+suffix] = float64(lat[len(lat)*99/100])
		cfg := bench.Config{Scenario: bench.ScenarioFanIn, Host: p.addr, Publishers: 8, Subscribers: 1, Owed: owed,
			Duration: o.duration, Topic: "probe"}
		rctx, cancel := context.WithTimeout(ctx, o.duration+runTimeout)
		defer cancel()
		r, err := bench.Run(rctx, cfg)
		s["pub"+suffix] = r.ReceiveRate
		if err != nil {
			return fmt.Errorf("publish probe: %w", err)
		}
		return nil
	}
	if err := measure("_empty"); err != nil {
		return err
	}

	t0 := time.Now()
	if err := loadRetained(ctx, p.addr, o.retained); err != nil {
		return err
	}
	if p.kind == midge {
		// The broker answered every connection's PINGREQ, so it has read every PUBLISH: check that it kept them.
		n, err := p.metric("midge_retained_messages")
		if err != nil {
			return err
		}
		if int(n) != o.retained {
			return fmt.Errorf("midge holds %d retained messages, not %d", int(n), o.retained)
		}
	}
	s["load_retained"] = float64(o.retained) / time.Since(t0).Seconds()

	t0 = time.Now()
	conns, err := loadSubscriptions(ctx, p.addr, o.subs)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	if err != nil {
		return err
	}
	s["load_subs"] = float64(o.subs) / time.Since(t0).Seconds()
	if p.kind == midge {
		n, err := p.metric("midge_subscriptions")
		if err != nil {
			return err
		}
		if int(n) < o.subs {
			return fmt.Errorf("midge holds %d subscriptions, not %d", int(n), o.subs)
		}
	}
	return measure("_loaded")
}

// loadRetained publishes n retained QoS 0 messages with 64-byte payloads, each to its own topic, over
// retainConns connections, and returns once the broker has read them all.
func loadRetained(ctx context.Context, addr string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	payload := make([]byte, 64)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	errs := make([]error, retainConns)
	var wg sync.WaitGroup
	for k := range retainConns {
		wg.Go(func() {
			c, err := dialRaw(ctx, addr, fmt.Sprintf("bc-retain-%d", k))
			if err != nil {
				errs[k] = err
				return
			}
			defer c.close()
			stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
			defer stop()
			pub := packet.Publish{Retain: true, Payload: payload}
			for i := k; i < n; i += retainConns {
				pub.Topic = retainedTopic(i)
				if err := c.send(&pub); err != nil {
					errs[k] = fmt.Errorf("load retained messages: %w", err)
					return
				}
			}
			if err := c.ping(loadTimeout); err != nil {
				errs[k] = fmt.Errorf("load retained messages: %w", err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loadSubscriptions opens connections that hold n subscriptions in all, subsPerConn each, and returns them open:
// the subscriptions last as long as they do.
func loadSubscriptions(ctx context.Context, addr string, n int) ([]*rawConn, error) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	count := (n + subsPerConn - 1) / subsPerConn
	conns := make([]*rawConn, count)
	errs := make([]error, count)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for ci := range count {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := dialRaw(ctx, addr, fmt.Sprintf("bc-subs-%d", ci))
			if err != nil {
				errs[ci] = err
				return
			}
			conns[ci] = c
			stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
			defer stop()
			mine := min(subsPerConn, n-ci*subsPerConn)
			packets := 0
			for first := 0; first < mine; first += filtersPerSubscribe {
				sub := packet.Subscribe{PacketID: uint16(packets + 1)}
				for k := first; k < min(first+filtersPerSubscribe, mine); k++ {
					sub.Subscriptions = append(sub.Subscriptions, packet.Subscription{Filter: subFilter(ci, k)})
				}
				if err := c.send(&sub); err != nil {
					errs[ci] = fmt.Errorf("load subscriptions: %w", err)
					return
				}
				packets++
			}
			if err := c.flush(); err != nil {
				errs[ci] = fmt.Errorf("load subscriptions: %w", err)
				return
			}
			for range packets {
				p, err := c.until(packet.TypeSuback, loadTimeout)
				if err != nil {
					errs[ci] = fmt.Errorf("load subscriptions: %w", err)
					return
				}
				for _, rc := range p.(*packet.Suback).ReasonCodes {
					if rc.IsError() {
						errs[ci] = fmt.Errorf("load subscriptions: refused: %s", rc)
						return
					}
				}
			}
			c.nc.SetReadDeadline(time.Time{})
		})
	}
	wg.Wait()
	var open []*rawConn
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	return open, errors.Join(errs...)
}

// probeSubscribe subscribes one connection, one SUBSCRIBE at a time, to subscribeProbes topics of retained
// messages (which exist once the broker is loaded), pausing probePause after every probeBatch, and returns the
// times from each SUBSCRIBE to its SUBACK, sorted. A retained message sent after a SUBACK is read and discarded
// while waiting for the next SUBACK.
func probeSubscribe(ctx context.Context, addr string, retained int) ([]time.Duration, error) {
	c, err := dialRaw(ctx, addr, "bc-probe")
	if err != nil {
		return nil, err
	}
	defer c.close()
	lat := make([]time.Duration, 0, subscribeProbes)
	for i := range subscribeProbes {
		if i > 0 && i%probeBatch == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(probePause):
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Spread over the tree of topics: 7919 is prime, so with 1,000,000 topics no two probes share one.
		t := retainedTopic(int(uint64(i) * 7919 % uint64(max(retained, 1))))
		t0 := time.Now()
		if err := c.send(&packet.Subscribe{PacketID: uint16(i%65535 + 1),
			Subscriptions: []packet.Subscription{{Filter: t}}}); err != nil {
			return nil, err
		}
		if err := c.flush(); err != nil {
			return nil, err
		}
		if _, err := c.until(packet.TypeSuback, 10*time.Second); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat, nil
}
