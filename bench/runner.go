package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/midgemq/midge/packet"
)

// maxErrors bounds the errors a run keeps; later ones are only counted.
const maxErrors = 10

// runner is the state of one run.
type runner struct {
	cfg    Config
	dialer *dialer
	start  time.Time
	// pubBase is added to the publisher numbers in payloads, so that the publishers of runs sharing a broker can be
	// told apart by a sub run.
	pubBase uint32

	plan plan
	n    counters
	gate gate

	// stop is closed when publishing must end: Duration passed or the run's context was canceled. stopping is
	// set at the same time, for the check before each message.
	stop     chan struct{}
	stopOnce sync.Once
	stopping atomic.Bool

	// hists are the latency histograms, each shared by a few subscribers.
	hists    []*Histogram
	connHist Histogram

	connAttempted, connEstablished, connFailed, connLost atomic.Int64
	// keepAlive is the shortest keep alive in force, in nanoseconds; 0 means none.
	keepAlive atomic.Int64

	// loops read the connections when the transport allows (see Config.ReadLoops), taken in turn; nextLoop picks
	// the next. readers counts the connections being read, by a loop or a goroutine of their own.
	loops    []*eventLoop
	nextLoop atomic.Uint32
	readers  sync.WaitGroup

	// mu guards conns, errs and errCount.
	mu       sync.Mutex
	conns    []*conn
	errs     []error
	errCount int

	// The scenario goroutine sets what follows; the result is built after it returns.
	pubs         []*publisher
	subs         []*subscriber
	connectTime  time.Duration
	publishStart time.Time
	receiveStart time.Time
	expected     int64
	drainStart   time.Time
}

func newRunner(cfg Config, d *dialer) *runner {
	rn := &runner{cfg: cfg, dialer: d, start: time.Now(), pubBase: rand.Uint32(), stop: make(chan struct{})}
	rn.plan = makePlan(&cfg)
	rn.gate = gate{n: &rn.n, limit: int64(cfg.Owed), fan: rn.plan.fan}
	if cfg.Scenario == ScenarioBacklog {
		// The subscribers are away by design while the backlog builds.
		rn.gate.limit = 0
	}
	shards := min(max(cfg.Subscribers, 1), 4*runtime.GOMAXPROCS(0))
	for range shards {
		rn.hists = append(rn.hists, new(Histogram))
	}
	if cfg.KeepAlive > 0 {
		rn.keepAlive.Store(int64(cfg.KeepAlive))
	}
	return rn
}

// Run performs the run c describes against a broker and returns its figures. It returns when the run is over:
// after Duration or Count (see Config), or soon after ctx is canceled, with every connection closed and every
// goroutine it started finished.
//
// An invalid Config is refused with an error wrapping ErrInvalidConfig or ErrRemoteTarget, and a zero Result.
// Otherwise the Result holds what the run measured, even when the error is not nil: connections that failed to
// open (ErrRefused and others), connections lost during the run (ErrConnectionLost, ErrProtocol), a broker that
// stopped acknowledging (ErrStalled) or a canceled ctx are reported in the error and in Result.Errors.
func Run(ctx context.Context, c Config) (Result, error) {
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return Result{}, err
	}
	d, err := newDialer(&c)
	if err != nil {
		return Result{}, err
	}
	rn := newRunner(c, d)
	if err := rn.startLoops(); err != nil {
		return Result{}, err
	}
	unhook := context.AfterFunc(ctx, rn.halt)
	defer unhook()

	bgDone := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { rn.pinger(bgDone) })
	if c.Progress != nil {
		bg.Go(func() { rn.progress(bgDone) })
	}

	err = rn.run(ctx)
	rn.halt()
	rn.closeAll()
	rn.readers.Wait()
	for _, l := range rn.loops {
		l.close()
	}
	close(bgDone)
	bg.Wait()

	res := rn.result()
	var errs []error
	if err != nil && (ctx.Err() == nil || !errors.Is(err, ctx.Err())) {
		errs = append(errs, err)
	}
	if ferr := rn.failure(); ferr != nil {
		errs = append(errs, ferr)
	}
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("bench: run interrupted: %w", ctx.Err()))
	}
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	for _, e := range rn.errs {
		res.Errors = append(res.Errors, e.Error())
	}
	return res, errors.Join(errs...)
}

// run runs the scenario.
func (rn *runner) run(ctx context.Context) error {
	switch rn.cfg.Scenario {
	case ScenarioConn:
		return rn.runConn(ctx)
	case ScenarioBacklog:
		return rn.runBacklog(ctx)
	}
	return rn.runMessages(ctx)
}

// halt ends the publishing. It may be called more than once.
func (rn *runner) halt() {
	rn.stopOnce.Do(func() {
		rn.stopping.Store(true)
		close(rn.stop)
	})
}

// fail records an error of the run.
func (rn *runner) fail(err error) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.errCount++
	if len(rn.errs) < maxErrors {
		rn.errs = append(rn.errs, err)
	}
}

// lost records a connection lost during the run.
func (rn *runner) lost(err error) {
	rn.connLost.Add(1)
	rn.fail(err)
}

// failure sums up the errors recorded, or returns nil when there is none.
func (rn *runner) failure() error {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	switch rn.errCount {
	case 0:
		return nil
	case 1:
		return rn.errs[0]
	}
	return fmt.Errorf("%w (and %d more errors)", rn.errs[0], rn.errCount-1)
}

// noteKeepAlive lowers the keep alive the pinger keeps to d, when d is shorter.
func (rn *runner) noteKeepAlive(d time.Duration) {
	for {
		cur := rn.keepAlive.Load()
		if d <= 0 || (cur != 0 && cur <= int64(d)) || rn.keepAlive.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// connect opens a connection for s: it dials, sends CONNECT and reads the CONNACK within ConnectTimeout, then
// calls init (which gives the connection its roles) and starts reading it.
func (rn *runner) connect(ctx context.Context, s connSpec, init func(*conn)) (*conn, error) {
	rn.connAttempted.Add(1)
	c, err := rn.open(ctx, s)
	if err != nil {
		rn.connFailed.Add(1)
		from := ""
		if src := rn.dialer.source(s.index); src != "" {
			from = " from " + src
		}
		return nil, &ClientError{ClientID: s.id, Op: "connect to " + rn.cfg.Host + from, Err: err}
	}
	rn.connEstablished.Add(1)
	if init != nil {
		init(c)
	}
	rn.mu.Lock()
	rn.conns = append(rn.conns, c)
	rn.mu.Unlock()
	rn.startReading(c)
	return c, nil
}

// startLoops starts the event loops Config.ReadLoops asks for, when the transport and the system allow them.
func (rn *runner) startLoops() error {
	n := rn.cfg.ReadLoops
	if n < 0 || !loopsSupported || rn.cfg.Transport != TransportTCP {
		return nil
	}
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	for range n {
		l, err := newEventLoop()
		if err != nil {
			for _, l := range rn.loops {
				l.close()
			}
			rn.loops = nil
			return err
		}
		rn.loops = append(rn.loops, l)
	}
	return nil
}

// startReading has an event loop read c when open took its socket for one, or a goroutine of its own.
func (rn *runner) startReading(c *conn) {
	rn.readers.Add(1)
	if c.socket() == nil {
		go c.readLoop()
		return
	}
	l := rn.loops[int(rn.nextLoop.Add(1))%len(rn.loops)]
	if err := l.add(c); err != nil {
		c.finish(err)
	}
}

// open dials and completes the MQTT handshake, and takes the socket out of the runtime when an event loop is to
// read it.
func (rn *runner) open(ctx context.Context, s connSpec) (*conn, error) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, rn.cfg.ConnectTimeout)
	defer cancel()
	nc, err := rn.dialer.dial(ctx, s.index)
	if err != nil {
		return nil, err
	}
	c := newConn(rn, nc, s)
	// The handshake reads with a deadline that the context's end brings forward.
	nc.SetDeadline(t0.Add(rn.cfg.ConnectTimeout))
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	ack, err := c.handshake(s, &rn.cfg)
	if !stop() {
		// The context ended during the handshake; the deadline may be in the past now, whatever the outcome.
		nc.Close()
		if err == nil || ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("no CONNACK within %s", rn.cfg.ConnectTimeout)
			}
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("clear deadline: %w", err)
	}
	if len(rn.loops) > 0 {
		// Taken now, before anything else can see the connection.
		if f := detach(nc); f != nil {
			c.nc = f
		}
	}
	rn.connHist.Record(time.Since(t0))
	if ack.Properties.HasServerKeepAlive {
		rn.noteKeepAlive(time.Duration(ack.Properties.ServerKeepAlive) * time.Second)
	}
	return c, nil
}

// connectMany opens the connections of specs, ConnectConcurrency at a time and at ConnectRate, giving each its
// roles with init(i, c) and then calling setup(i, c) when setup is not nil. With failFast the first failure
// cancels the rest and is returned; otherwise failures are recorded and the slots of the failed connections are
// nil.
func (rn *runner) connectMany(ctx context.Context, specs []connSpec, init func(int, *conn),
	setup func(context.Context, int, *conn) error, failFast bool) ([]*conn, error) {
	conns := make([]*conn, len(specs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		first     error
		firstOnce sync.Once
		next      atomic.Int64
		wg        sync.WaitGroup
	)
	t0 := time.Now()
	defer func() { rn.connectTime += time.Since(t0) }()
	rate := rn.cfg.ConnectRate
	for range min(len(specs), rn.cfg.ConnectConcurrency) {
		wg.Go(func() {
			t := time.NewTimer(time.Hour)
			defer t.Stop()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(specs) || ctx.Err() != nil {
					return
				}
				if rate > 0 {
					due := t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						t.Reset(wait)
						select {
						case <-t.C:
						case <-ctx.Done():
							return
						}
					}
				}
				var roles func(*conn)
				if init != nil {
					roles = func(c *conn) { init(i, c) }
				}
				c, err := rn.connect(ctx, specs[i], roles)
				if err == nil && setup != nil {
					err = setup(ctx, i, c)
				}
				if err != nil {
					if failFast {
						firstOnce.Do(func() {
							first = err
							cancel()
						})
					} else {
						rn.fail(err)
					}
					continue
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	return conns, first
}

// closeAll closes every connection of the run.
func (rn *runner) closeAll() {
	rn.mu.Lock()
	conns := rn.conns
	rn.conns = nil
	rn.mu.Unlock()
	rn.closeConns(conns)
}

// closeConns closes conns, ConnectConcurrency at a time. Nil entries are skipped.
func (rn *runner) closeConns(conns []*conn) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(conns), rn.cfg.ConnectConcurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				if c := conns[i]; c != nil {
					c.close()
				}
			}
		})
	}
	wg.Wait()
}

// pinger sends PINGREQ on every connection that has written nothing for half the keep alive, until done closes.
// It checks every half keep alive, so no connection stays silent for more than the keep alive.
func (rn *runner) pinger(done <-chan struct{}) {
	ping, _ := (&packet.Pingreq{}).Append(nil, rn.cfg.Version)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		ka := time.Duration(rn.keepAlive.Load())
		interval := ka / 2
		if ka <= 0 {
			interval = time.Second
		}
		t.Reset(interval)
		select {
		case <-done:
			return
		case <-t.C:
		}
		if ka <= 0 {
			continue
		}
		rn.mu.Lock()
		conns := append([]*conn(nil), rn.conns...)
		rn.mu.Unlock()
		for _, c := range conns {
			if !c.closing.Load() && !c.wrote.Swap(false) {
				// A failure shows in the reading goroutine.
				_ = c.writeDirect(ping)
			}
		}
	}
}

// latencySince returns the latency figures of the deliveries counted since seen was last brought up to date, as
// "  p50 1.2ms  p99 3.4ms  max 5ms" ("" when there are none), and brings seen up to date.
func (rn *runner) latencySince(seen *Histogram) string {
	now := new(Histogram)
	for _, h := range rn.hists {
		now.Merge(h)
	}
	win := now.Since(seen)
	*seen = Histogram{}
	seen.Merge(now)
	if win.Count() == 0 {
		return ""
	}
	return fmt.Sprintf("  p50 %v  p99 %v  max %v", roundLatency(win.Quantile(0.50)), roundLatency(win.Quantile(0.99)),
		roundLatency(win.Max()))
}

// roundLatency rounds d to three significant digits for a progress line.
func roundLatency(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}

// progress writes a progress line to Config.Progress every second until done closes.
func (rn *runner) progress(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastSent, lastAcked, lastRecv, lastConns int64
	last := time.Now()
	// seen holds the latencies counted up to the last line, so that each line gives those of its second.
	seen := new(Histogram)
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		now := time.Now()
		secs := now.Sub(last).Seconds()
		last = now
		conns := rn.connEstablished.Load()
		rate := func(cur int64, prev *int64) float64 {
			r := float64(cur-*prev) / secs
			*prev = cur
			return r
		}
		elapsed := now.Sub(rn.start).Seconds()
		if rn.cfg.Scenario == ScenarioConn {
			fmt.Fprintf(rn.cfg.Progress, "%6.1fs  conns %d/%d  %.0f conn/s  failed %d  lost %d\n", elapsed,
				conns, rn.cfg.Connections, rate(conns, &lastConns), rn.connFailed.Load(), rn.connLost.Load())
			continue
		}
		sent, acked, recv := rn.n.sent.Load(), rn.n.acked.Load(), rn.n.received.Load()
		fmt.Fprintf(rn.cfg.Progress, "%6.1fs  conns %d  pub %.0f/s  acked %.0f/s  recv %.0f/s%s  owed %d  lost conns %d\n",
			elapsed, conns, rate(sent, &lastSent), rate(acked, &lastAcked), rate(recv, &lastRecv),
			rn.latencySince(seen), max(rn.gate.owed(), 0), rn.connLost.Load())
	}
}
