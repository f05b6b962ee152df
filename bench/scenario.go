package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// plan says where each publisher publishes and what each subscriber subscribes to.
type plan struct {
	topics  []string
	filters []string
	// fan is the number of deliveries each message owes.
	fan int64
	// rings, for spread only, holds the topics each publisher takes in turn.
	rings [][]string
}

// makePlan lays out the topics of c's scenario; the package documentation describes them.
func makePlan(c *Config) plan {
	var p plan
	t := c.Topic
	pubs := func(f func(i int) string) {
		for i := range c.Publishers {
			p.topics = append(p.topics, f(i))
		}
	}
	subs := func(f func(i int) string) {
		for i := range c.Subscribers {
			p.filters = append(p.filters, f(i))
		}
	}
	switch c.Scenario {
	case ScenarioPub:
		pubs(func(i int) string { return fmt.Sprintf("%s/%d", t, i) })
	case ScenarioSub:
		subs(func(int) string { return t + "/#" })
	case ScenarioFanIn:
		pubs(func(i int) string { return fmt.Sprintf("%s/fanin/%d", t, i) })
		subs(func(int) string { return t + "/fanin/+" })
		p.fan = int64(c.Subscribers)
	case ScenarioFanOut:
		pubs(func(int) string { return t + "/fanout" })
		subs(func(int) string { return t + "/fanout" })
		p.fan = int64(c.Subscribers)
	case ScenarioP2P:
		pubs(func(i int) string { return fmt.Sprintf("%s/p2p/%d", t, i) })
		subs(func(i int) string { return fmt.Sprintf("%s/p2p/%d", t, i) })
		p.fan = 1
	case ScenarioShared:
		pubs(func(i int) string { return fmt.Sprintf("%s/shared/%d", t, i) })
		subs(func(int) string { return fmt.Sprintf("$share/%s/%s/shared/+", c.Group, t) })
		p.fan = 1
	case ScenarioBacklog:
		pubs(func(int) string { return t + "/backlog" })
		subs(func(int) string { return t + "/backlog" })
		p.fan = int64(c.Subscribers)
	case ScenarioSpread:
		spreadPlan(c, &p)
	}
	return p
}

// specs returns the connection specs of n clients of one kind ('p', 's' or 'c'), numbered from first for the
// choice of source address.
func (rn *runner) specs(kind byte, n, first int, cleanStart, persistent bool) []connSpec {
	s := make([]connSpec, n)
	for i := range s {
		s[i] = connSpec{index: first + i, id: fmt.Sprintf("%s-%c%d", rn.cfg.ClientPrefix, kind, i),
			cleanStart: cleanStart, persistent: persistent}
	}
	return s
}

// runConn opens the connections and holds those that opened for Duration.
func (rn *runner) runConn(ctx context.Context) error {
	specs := rn.specs('c', rn.cfg.Connections, 0, true, false)
	if _, err := rn.connectMany(ctx, specs, nil, nil, false); err != nil {
		return err
	}
	if rn.cfg.Duration > 0 && rn.connEstablished.Load() > 0 {
		t := time.NewTimer(rn.cfg.Duration)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// connectSubscribers opens a subscriber for each filter of the plan and, when subscribe is set, subscribes it.
// The new subscribers replace rn.subs.
func (rn *runner) connectSubscribers(ctx context.Context, specs []connSpec, subscribe bool,
	check func(*conn) error) ([]*conn, error) {
	cfg := &rn.cfg
	rn.subs = make([]*subscriber, len(specs))
	return rn.connectMany(ctx, specs,
		func(i int, c *conn) {
			c.sub = newSubscriber(cfg.QoS, rn.hists[i%len(rn.hists)])
			rn.subs[i] = c.sub
		},
		func(ctx context.Context, i int, c *conn) error {
			if check != nil {
				if err := check(c); err != nil {
					return &ClientError{ClientID: c.id, Op: "reconnect", Err: err}
				}
			}
			if !subscribe {
				return nil
			}
			f := rn.plan.filters[i]
			if err := c.subscribe(ctx, f, cfg.QoS, cfg.ConnectTimeout); err != nil {
				return &ClientError{ClientID: c.id, Op: "subscribe " + f, Err: err}
			}
			return nil
		}, true)
}

// connectPublishers opens a publisher for each topic of the plan.
func (rn *runner) connectPublishers(ctx context.Context) ([]*conn, error) {
	cfg := &rn.cfg
	rn.pubs = make([]*publisher, len(rn.plan.topics))
	specs := rn.specs('p', len(rn.plan.topics), len(rn.plan.filters), true, false)
	return rn.connectMany(ctx, specs, func(i int, c *conn) {
		c.pub = newPublisher(c, rn.pubBase+uint32(i), rn.plan.topics[i], cfg)
		if rn.plan.rings != nil {
			c.pub.ring = newTopicRing(rn.plan.rings[i], rn.pubBase, i, len(rn.plan.rings))
		}
		rn.pubs[i] = c.pub
	}, nil, true)
}

// publishAll runs every publisher to its end. With a Rate, the schedules of the publishers are spread over one
// interval rather than all starting at once.
func (rn *runner) publishAll(ctx context.Context) {
	var interval time.Duration
	if rn.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / rn.cfg.Rate)
	}
	start := time.Now()
	rn.publishStart = start
	var wg sync.WaitGroup
	for i, p := range rn.pubs {
		offset := interval * time.Duration(i) / time.Duration(len(rn.pubs))
		wg.Go(func() {
			if err := p.run(ctx, rn, start.Add(offset), interval); err != nil {
				rn.fail(&ClientError{ClientID: p.c.id, Op: "publish", Err: err})
			}
		})
	}
	wg.Wait()
}

// runMessages runs pub, sub, fanin, fanout, p2p, shared and spread: subscribers first, then publishers, then the
// publishing, then the wait for the deliveries still owed.
func (rn *runner) runMessages(ctx context.Context) error {
	cfg := &rn.cfg
	specs := rn.specs('s', len(rn.plan.filters), 0, true, false)
	if _, err := rn.connectSubscribers(ctx, specs, true, nil); err != nil {
		return err
	}
	if _, err := rn.connectPublishers(ctx); err != nil {
		return err
	}
	var stop *time.Timer
	if cfg.Duration > 0 {
		stop = time.AfterFunc(cfg.Duration, rn.halt)
		defer stop.Stop()
	}
	if cfg.Scenario == ScenarioSub {
		rn.receiveStart = time.Now()
		if cfg.Count > 0 {
			rn.expected = int64(cfg.Count) * int64(cfg.Subscribers)
		}
		rn.listen(ctx)
		return nil
	}
	rn.publishAll(ctx)
	rn.receiveStart = rn.publishStart
	rn.expected = (rn.n.sent.Load() - rn.n.refused.Load()) * rn.plan.fan
	rn.waitDeliveries(ctx, rn.expected)
	return nil
}

// listen waits, for the sub scenario, until the run stops or the expected messages have arrived.
func (rn *runner) listen(ctx context.Context) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for rn.expected == 0 || rn.n.received.Load()-rn.n.duplicates.Load() < rn.expected {
		select {
		case <-rn.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// waitDeliveries waits until want deliveries (duplicates aside) have arrived, none has arrived for IdleTimeout,
// or ctx is canceled.
func (rn *runner) waitDeliveries(ctx context.Context, want int64) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	last, lastChange := rn.n.received.Load(), time.Now()
	for {
		got := rn.n.received.Load()
		if got-rn.n.duplicates.Load() >= want {
			return
		}
		if now := time.Now(); got != last {
			last, lastChange = got, now
		} else if now.Sub(lastChange) > rn.cfg.IdleTimeout {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runBacklog builds a backlog for offline persistent subscribers and times its delivery: the subscribers
// subscribe and disconnect, the publishers send Count messages each, the subscribers reconnect and receive what
// the broker queued. The sessions are ended at the end, so that the broker does not keep them.
func (rn *runner) runBacklog(ctx context.Context) error {
	specs := rn.specs('s', len(rn.plan.filters), 0, false, true)
	subs, err := rn.connectSubscribers(ctx, specs, true, nil)
	rn.closeConns(subs)
	if err != nil {
		return err
	}
	pubs, err := rn.connectPublishers(ctx)
	if err != nil {
		return err
	}
	rn.publishAll(ctx)
	rn.closeConns(pubs)
	rn.expected = (rn.n.sent.Load() - rn.n.refused.Load()) * rn.plan.fan
	if ctx.Err() != nil {
		return ctx.Err()
	}

	rn.drainStart = time.Now()
	rn.receiveStart = rn.drainStart
	subs, err = rn.connectSubscribers(ctx, specs, false, func(c *conn) error {
		if !c.sessionPresent {
			return ErrNoSession
		}
		return nil
	})
	if err == nil {
		rn.waitDeliveries(ctx, rn.expected)
	}
	rn.closeConns(subs)

	// End the sessions: a clean connection replaces each one and is closed at once.
	clean := rn.specs('s', len(specs), 0, true, false)
	ended, cerr := rn.connectMany(context.WithoutCancel(ctx), clean, nil, nil, false)
	rn.closeConns(ended)
	if err == nil {
		err = cerr
	}
	return err
}
