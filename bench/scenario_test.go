package bench_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/bench"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/syncbuf"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// runBench runs c against addr, bounded by a generous timeout, and fails the test on an error.
func runBench(t *testing.T, addr string, c bench.Config) bench.Result {
	t.Helper()
	c.Host = addr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := bench.Run(ctx, c)
	if err != nil {
		t.Fatalf("Run: %v\nresult: %+v", err, res)
	}
	return res
}

// checkFigures checks what every message run must show: messages in, every expected delivery out at QoS 1 and
// 2, no duplicate at QoS 2, and ordered latency percentiles.
func checkFigures(t *testing.T, res bench.Result) {
	t.Helper()
	if res.Published == 0 {
		t.Fatalf("published nothing: %+v", res)
	}
	if res.PublishRate <= 0 {
		t.Errorf("publish rate %g", res.PublishRate)
	}
	if res.QoS > 0 && (res.Acked != res.Published || res.Refused != 0) {
		t.Errorf("acked %d and refused %d of %d published", res.Acked, res.Refused, res.Published)
	}
	if res.Subscribers == 0 {
		return
	}
	unique := res.Received - res.Duplicates
	if res.QoS > 0 {
		if res.Lost != 0 || unique != res.Expected {
			t.Errorf("qos %d: received %d (%d duplicates) of %d expected, lost %d", res.QoS, res.Received,
				res.Duplicates, res.Expected, res.Lost)
		}
	} else if res.Received == 0 {
		t.Errorf("qos 0: received nothing of %d expected", res.Expected)
	}
	if res.QoS == 2 && res.Duplicates != 0 {
		t.Errorf("qos 2: %d duplicates", res.Duplicates)
	}
	if res.ReceiveRate <= 0 {
		t.Errorf("receive rate %g", res.ReceiveRate)
	}
	checkLatency(t, "latency", res.Latency, res.Received)
	if len(res.Errors) != 0 {
		t.Errorf("errors: %q", res.Errors)
	}
}

func checkLatency(t *testing.T, what string, l bench.Latency, count int64) {
	t.Helper()
	if l.Count != count {
		t.Errorf("%s: %d values, want %d", what, l.Count, count)
	}
	if l.Count == 0 {
		return
	}
	if !(l.Min <= l.P50 && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) || l.Max <= 0 {
		t.Errorf("%s: percentiles out of order: %+v", what, l)
	}
}

func TestScenarios(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	tests := []struct {
		name string
		cfg  bench.Config
	}{
		{name: "fanin qos1", cfg: bench.Config{Scenario: bench.ScenarioFanIn, QoS: 1, Publishers: 4, Subscribers: 2,
			Count: 100}},
		{name: "fanin qos2 v5", cfg: bench.Config{Scenario: bench.ScenarioFanIn, QoS: 2, Publishers: 3,
			Subscribers: 2, Count: 100, Version: packet.V5}},
		{name: "fanin qos2 closed loop", cfg: bench.Config{Scenario: bench.ScenarioFanIn, QoS: 2, Publishers: 4,
			Subscribers: 1, Count: 100, Owed: 8, Inflight: 4}},
		{name: "fanin qos0 closed loop", cfg: bench.Config{Scenario: bench.ScenarioFanIn, Publishers: 4,
			Subscribers: 1, Count: 200, Owed: 32}},
		{name: "fanin qos1 duration", cfg: bench.Config{Scenario: bench.ScenarioFanIn, QoS: 1, Publishers: 2,
			Subscribers: 1, Duration: 200 * time.Millisecond, Owed: 64}},
		{name: "fanout qos0", cfg: bench.Config{Scenario: bench.ScenarioFanOut, Publishers: 1, Subscribers: 5,
			Count: 100, PayloadSize: 16}},
		{name: "fanout qos1 v3.1", cfg: bench.Config{Scenario: bench.ScenarioFanOut, QoS: 1, Publishers: 2,
			Subscribers: 4, Count: 50, Version: packet.V31, PayloadSize: 1000}},
		{name: "fanin large payloads", cfg: bench.Config{Scenario: bench.ScenarioFanIn, QoS: 1, Publishers: 2,
			Subscribers: 1, Count: 10, PayloadSize: 300 << 10}},
		{name: "p2p qos2 fixed rate", cfg: bench.Config{Scenario: bench.ScenarioP2P, QoS: 2, Publishers: 4,
			Count: 40, Rate: 400}},
		{name: "p2p qos1 v5", cfg: bench.Config{Scenario: bench.ScenarioP2P, QoS: 1, Publishers: 3, Count: 100,
			Version: packet.V5}},
		{name: "shared qos1", cfg: bench.Config{Scenario: bench.ScenarioShared, QoS: 1, Publishers: 3,
			Subscribers: 3, Count: 100}},
		{name: "shared qos2 v5", cfg: bench.Config{Scenario: bench.ScenarioShared, QoS: 2, Publishers: 2,
			Subscribers: 2, Count: 100, Version: packet.V5}},
		{name: "pub qos1", cfg: bench.Config{Scenario: bench.ScenarioPub, QoS: 1, Publishers: 2, Count: 100}},
		{name: "pub qos2", cfg: bench.Config{Scenario: bench.ScenarioPub, QoS: 2, Publishers: 1, Count: 100}},
		{name: "backlog qos1", cfg: bench.Config{Scenario: bench.ScenarioBacklog, QoS: 1, Publishers: 1,
			Subscribers: 2, Count: 200}},
		{name: "backlog qos2 v5", cfg: bench.Config{Scenario: bench.ScenarioBacklog, QoS: 2, Publishers: 2,
			Subscribers: 1, Count: 100, Version: packet.V5}},
	}
	for _, tc := range tests {
		for _, m := range readModes {
			tc.cfg.ReadLoops = m.loops
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				testScenario(t, b.Addr, tc.cfg)
			})
		}
	}
	// Every run closed its connections and ended its sessions.
	testbroker.Eventually(t, 5*time.Second, func() error {
		if st := b.Stats(); st.ConnectionsCurrent != 0 || st.SessionsCurrent != 0 {
			return fmt.Errorf("%d connections and %d sessions left", st.ConnectionsCurrent, st.SessionsCurrent)
		}
		return nil
	})
}

// readModes are the two ways a run reads its connections over tcp: event loops (the default, on Linux) and a
// goroutine per connection.
var readModes = []struct {
	name  string
	loops int
}{{"loops", 0}, {"goroutines", -1}}

// testScenario runs cfg against addr and checks its figures.
func testScenario(t *testing.T, addr string, cfg bench.Config) {
	t.Helper()
	res := runBench(t, addr, cfg)
	checkFigures(t, res)
	if want := int64(res.Publishers + res.Subscribers); res.Connect.Failed != 0 || res.Connect.Lost != 0 ||
		res.Connect.Established < want {
		t.Errorf("connections: %+v, want at least %d", res.Connect, want)
	}
	if cfg.Count > 0 && res.Published != int64(cfg.Count*res.Publishers) {
		t.Errorf("published %d, want %d", res.Published, cfg.Count*res.Publishers)
	}
	if cfg.Scenario == bench.ScenarioBacklog {
		if res.Drain == nil || res.Drain.Messages != res.Expected || res.Drain.Elapsed <= 0 {
			t.Errorf("drain %+v, want %d messages", res.Drain, res.Expected)
		}
	}
}

// TestProgress checks the progress lines of a message run: one a second, with the rates, and the latency of the
// deliveries of that second where it had any.
func TestProgress(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	var out syncbuf.Buffer
	res := runBench(t, b.Addr, bench.Config{Scenario: bench.ScenarioP2P, QoS: 1, Publishers: 2, Rate: 200,
		Duration: 2500 * time.Millisecond, Progress: &out})
	checkFigures(t, res)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("%d progress lines, want at least 2:\n%s", len(lines), out.String())
	}
	withLatency := 0
	for _, l := range lines {
		for _, want := range []string{"pub ", "recv ", "owed "} {
			if !strings.Contains(l, want) {
				t.Errorf("progress line %q has no %q", l, want)
			}
		}
		// A second without deliveries (connecting, under load) has no latency to show.
		if strings.Contains(l, " p50 ") && strings.Contains(l, " p99 ") && strings.Contains(l, " max ") {
			withLatency++
		}
	}
	if withLatency == 0 {
		t.Errorf("no progress line shows latency:\n%s", out.String())
	}
}

func TestConn(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	res := runBench(t, b.Addr, bench.Config{Scenario: bench.ScenarioConn, Connections: 30, ConnectRate: 300,
		ConnectConcurrency: 4, Duration: 100 * time.Millisecond, KeepAlive: time.Second})
	cn := res.Connect
	if cn.Attempted != 30 || cn.Established != 30 || cn.Failed != 0 || cn.Lost != 0 {
		t.Errorf("connect: %+v", cn)
	}
	if cn.Rate <= 0 || cn.Elapsed <= 0 {
		t.Errorf("connect rate %g over %s", cn.Rate, cn.Elapsed)
	}
	checkLatency(t, "connect latency", cn.Latency, 30)
	if res.Published != 0 || res.Received != 0 {
		t.Errorf("conn run moved messages: %+v", res)
	}
}

// TestKeepAlive holds idle connections for longer than their keep alive: the pings keep them open.
func TestKeepAlive(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	res := runBench(t, b.Addr, bench.Config{Scenario: bench.ScenarioConn, Connections: 3, Duration: 2500 * time.Millisecond,
		KeepAlive: time.Second})
	if res.Connect.Established != 3 || res.Connect.Lost != 0 {
		t.Errorf("connect: %+v", res.Connect)
	}
}

// TestSub feeds a sub run from a pub run, as two processes would.
func TestSub(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	type outcome struct {
		res bench.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioSub, Host: b.Addr, QoS: 1,
			Count: 150, Duration: 20 * time.Second, Topic: "feed"})
		done <- outcome{res, err}
	}()
	testbroker.Eventually(t, 10*time.Second, func() error {
		if n := b.Stats().Subscriptions; n != 1 {
			return fmt.Errorf("%d subscriptions", n)
		}
		return nil
	})
	pub := runBench(t, b.Addr, bench.Config{Scenario: bench.ScenarioPub, QoS: 1, Publishers: 3, Count: 50,
		Topic: "feed"})
	checkFigures(t, pub)
	o := <-done
	if o.err != nil {
		t.Fatalf("sub run: %v", o.err)
	}
	if o.res.Received != 150 || o.res.Expected != 150 || o.res.Lost != 0 || o.res.Duplicates != 0 {
		t.Errorf("sub run: received %d of %d, lost %d, %d duplicates", o.res.Received, o.res.Expected, o.res.Lost,
			o.res.Duplicates)
	}
	checkLatency(t, "sub latency", o.res.Latency, 150)
}

func TestRefusesRemoteTargets(t *testing.T) {
	for _, host := range []string{"192.0.2.1:1883", "example.com:1883", "[2001:db8::1]:1883", "0.0.0.0:1883"} {
		_, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioConn, Host: host})
		if !errors.Is(err, bench.ErrRemoteTarget) || !strings.Contains(err.Error(), "allow-remote") {
			t.Errorf("host %s: err %v, want ErrRemoteTarget naming -allow-remote", host, err)
		}
	}
	_, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioConn,
		Sources: mustSources(t, "10.0.0.1")})
	if !errors.Is(err, bench.ErrRemoteTarget) {
		t.Errorf("remote source: err %v, want ErrRemoteTarget", err)
	}
}

// TestAllowRemoteChecksNothingElse shows that AllowRemote lifts the loopback check only: the run then fails to
// connect to the closed port, rather than being refused.
func TestAllowRemote(t *testing.T) {
	_, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioPub, Host: closedPort(t),
		AllowRemote: true, Count: 1})
	if err == nil || errors.Is(err, bench.ErrRemoteTarget) {
		t.Errorf("err %v, want a connection error", err)
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		addr := closedPort(t)
		res, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioFanIn, Host: addr,
			Publishers: 1, Subscribers: 1, Count: 1})
		if err == nil || !strings.Contains(err.Error(), "connect") || !strings.Contains(err.Error(), addr) {
			t.Errorf("err %v, want a connect error naming %s", err, addr)
		}
		if res.Connect.Failed == 0 || len(res.Errors) == 0 {
			t.Errorf("result %+v, want the failure counted", res.Connect)
		}
	})
	t.Run("connack refused", func(t *testing.T) {
		b := testbroker.Start(t, broker.Options{Authenticator: refuseAll{}})
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			_, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioConn, Host: b.Addr,
				Connections: 2, Version: v, Duration: time.Millisecond})
			if !errors.Is(err, bench.ErrRefused) || !strings.Contains(err.Error(), "CONNACK") {
				t.Errorf("%s: err %v, want ErrRefused with the CONNACK code", v, err)
			}
		}
	})
	t.Run("subscription refused", func(t *testing.T) {
		b := testbroker.Start(t, broker.Options{Authorizer: noSubscribe{}})
		_, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioFanOut, Host: b.Addr,
			QoS: 1, Subscribers: 2, Count: 1})
		if !errors.Is(err, bench.ErrRefused) || !strings.Contains(err.Error(), "SUBACK") {
			t.Errorf("err %v, want ErrRefused for the SUBACK", err)
		}
	})
}

type refuseAll struct{}

func (refuseAll) Authenticate(context.Context, *broker.ClientInfo, []byte) error {
	return errors.New("no")
}

type noSubscribe struct{}

func (noSubscribe) Authorize(_ context.Context, _ *broker.ClientInfo, a broker.Action, _ string) bool {
	return a != broker.ActionSubscribe
}

// TestCancel cancels a run that would last a minute: it stops, closes its connections and reports what it
// measured.
func TestCancel(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res, err := bench.Run(ctx, bench.Config{Scenario: bench.ScenarioFanIn, Host: b.Addr, QoS: 1, Publishers: 2,
		Subscribers: 1, Duration: time.Minute, Rate: 1000})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if res.Published == 0 {
		t.Errorf("published nothing before the cancel")
	}
	testbroker.Eventually(t, 5*time.Second, func() error {
		if n := b.Stats().ConnectionsCurrent; n != 0 {
			return fmt.Errorf("%d connections left", n)
		}
		return nil
	})
}

// TestBacklogOverQueueLimit fills offline sessions beyond the broker's queue limit: a 5.0 publisher is refused
// what does not fit, while a 3.1.1 one cannot be, so its report counts the messages dropped as lost and says why.
func TestBacklogOverQueueLimit(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxQueued: 20})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			res := runBench(t, b.Addr, bench.Config{Scenario: bench.ScenarioBacklog, QoS: 1, Publishers: 1,
				Subscribers: 1, Count: 50, Version: v})
			if res.Received-res.Duplicates != 20 {
				t.Errorf("%d deliveries (%d duplicates), want the 20 queued", res.Received, res.Duplicates)
			}
			if v == packet.V5 {
				if res.Refused != 30 || res.Lost != 0 || len(res.Notes) != 0 {
					t.Errorf("5.0: %d refused, %d lost, notes %q; want 30, 0, none", res.Refused, res.Lost, res.Notes)
				}
				return
			}
			if res.Lost != 30 || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "max_queued_messages") {
				t.Errorf("3.1.1: %d lost, notes %q; want 30 and the note on the queue limit", res.Lost, res.Notes)
			}
			var out strings.Builder
			res.WriteText(&out)
			if !strings.Contains(out.String(), "note ") {
				t.Errorf("text report has no note:\n%s", out.String())
			}
		})
	}
}
