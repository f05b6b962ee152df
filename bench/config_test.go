package bench_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/bench"
	"github.com/midgemq/midge/packet"
)

func mustSources(t *testing.T, s string) []netip.Addr {
	t.Helper()
	a, err := bench.ParseSources(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseSources(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string
		error string
	}{
		{name: "one", in: "127.0.0.1", want: []string{"127.0.0.1"}},
		{name: "range", in: "127.0.0.1-127.0.0.4", want: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}},
		{name: "range across an octet", in: "127.0.0.255-127.0.1.1",
			want: []string{"127.0.0.255", "127.0.1.0", "127.0.1.1"}},
		{name: "list", in: "127.0.0.1, 127.0.0.9-127.0.0.10,::1",
			want: []string{"127.0.0.1", "127.0.0.9", "127.0.0.10", "::1"}},
		{name: "one-address range", in: "127.0.0.3-127.0.0.3", want: []string{"127.0.0.3"}},
		{name: "reversed range", in: "127.0.0.4-127.0.0.1", error: "lower first"},
		{name: "ipv6 range", in: "::1-::2", error: "IPv4"},
		{name: "huge range", in: "127.0.0.0-127.255.255.255", error: "more than 65536"},
		{name: "not an address", in: "localhost", error: "source"},
		{name: "empty", in: " , ", error: "no source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bench.ParseSources(tc.in)
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("err %v, want one containing %q", err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			if !slices.Equal(s, tc.want) {
				t.Errorf("got %v, want %v", s, tc.want)
			}
		})
	}
}

func TestEnsureDefaults(t *testing.T) {
	tests := []struct {
		scenario  bench.Scenario
		pub, sub  int
		count     int
		duration  time.Duration
		conns     int
		configure func(*bench.Config)
	}{
		{scenario: bench.ScenarioConn, conns: 100, duration: 10 * time.Second},
		{scenario: bench.ScenarioPub, pub: 1, duration: 10 * time.Second},
		{scenario: bench.ScenarioSub, sub: 1, duration: 10 * time.Second},
		{scenario: bench.ScenarioFanIn, pub: 8, sub: 1, duration: 10 * time.Second},
		{scenario: bench.ScenarioFanOut, pub: 1, sub: 100, duration: 10 * time.Second},
		{scenario: bench.ScenarioP2P, pub: 10, sub: 10, duration: 10 * time.Second},
		{scenario: bench.ScenarioP2P, pub: 3, sub: 3, duration: 10 * time.Second,
			configure: func(c *bench.Config) { c.Publishers = 3 }},
		{scenario: bench.ScenarioShared, pub: 8, sub: 4, duration: 10 * time.Second},
		{scenario: bench.ScenarioBacklog, pub: 1, sub: 1, count: 100,
			configure: func(c *bench.Config) { c.QoS = 1 }},
		{scenario: bench.ScenarioFanIn, pub: 8, sub: 1, count: 5,
			configure: func(c *bench.Config) { c.Count = 5 }},
	}
	for _, tc := range tests {
		c := bench.Config{Scenario: tc.scenario}
		if tc.configure != nil {
			tc.configure(&c)
		}
		c.EnsureDefaults()
		if c.Publishers != tc.pub || c.Subscribers != tc.sub || c.Count != tc.count || c.Duration != tc.duration ||
			c.Connections != tc.conns {
			t.Errorf("%s: pub %d sub %d count %d duration %s conns %d, want %d %d %d %s %d", tc.scenario,
				c.Publishers, c.Subscribers, c.Count, c.Duration, c.Connections, tc.pub, tc.sub, tc.count,
				tc.duration, tc.conns)
		}
		if c.Host != "127.0.0.1:1883" || c.Version != packet.V311 || c.PayloadSize != 64 || c.Inflight != 64 ||
			c.Transport != bench.TransportTCP || !strings.HasPrefix(c.ClientPrefix, "mb") {
			t.Errorf("%s: defaults %+v", tc.scenario, c)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: defaults do not validate: %v", tc.scenario, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*bench.Config)
		error  string
		remote bool
	}{
		{name: "no scenario", change: func(c *bench.Config) { c.Scenario = "" }, error: "no scenario"},
		{name: "unknown scenario", change: func(c *bench.Config) { c.Scenario = "flood" }, error: `"flood"`},
		{name: "qos 3", change: func(c *bench.Config) { c.QoS = 3 }, error: "qos 3"},
		{name: "backlog at qos 0", change: func(c *bench.Config) { c.Scenario = bench.ScenarioBacklog },
			error: "backlog needs qos 1 or 2"},
		{name: "small payload", change: func(c *bench.Config) { c.PayloadSize = 15 }, error: "payload size 15"},
		{name: "inflight", change: func(c *bench.Config) { c.Inflight = 70000 }, error: "inflight 70000"},
		{name: "version", change: func(c *bench.Config) { c.Version = 6 }, error: "protocol version 6"},
		{name: "transport", change: func(c *bench.Config) { c.Transport = "quic" }, error: `"quic"`},
		{name: "negative rate", change: func(c *bench.Config) { c.Rate = -1 }, error: "negative rate"},
		{name: "read loops", change: func(c *bench.Config) { c.ReadLoops = bench.MaxReadLoops + 1 },
			error: "read loops 257"},
		{name: "p2p mismatch", change: func(c *bench.Config) {
			c.Scenario, c.Publishers, c.Subscribers = bench.ScenarioP2P, 2, 3
		}, error: "one subscriber per publisher"},
		{name: "wildcard topic", change: func(c *bench.Config) { c.Topic = "a/+" }, error: "wildcards"},
		{name: "group", change: func(c *bench.Config) { c.Group = "a/b" }, error: "group"},
		{name: "host without port", change: func(c *bench.Config) { c.Host = "127.0.0.1" }, error: "host"},
		{name: "port out of range", change: func(c *bench.Config) { c.Host = "127.0.0.1:70000" }, error: "port"},
		{name: "remote host", change: func(c *bench.Config) { c.Host = "10.1.2.3:1883" }, remote: true},
		{name: "remote source", change: func(c *bench.Config) {
			c.Sources = []netip.Addr{netip.MustParseAddr("192.168.1.1")}
		}, remote: true},
		{name: "remote allowed", change: func(c *bench.Config) {
			c.Host, c.AllowRemote = "broker.example:1883", true
		}},
		{name: "loopback names", change: func(c *bench.Config) {
			c.Host, c.Sources = "localhost:1", []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.IPv6Loopback()}
		}},
		{name: "ipv6 loopback", change: func(c *bench.Config) { c.Host = "[::1]:1883" }},
		{name: "other loopback", change: func(c *bench.Config) { c.Host = "127.9.9.9:1883" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := bench.Config{Scenario: bench.ScenarioFanIn}
			tc.change(&c)
			c.EnsureDefaults()
			err := c.Validate()
			switch {
			case tc.remote:
				if !errors.Is(err, bench.ErrRemoteTarget) {
					t.Errorf("err %v, want ErrRemoteTarget", err)
				}
			case tc.error == "":
				if err != nil {
					t.Errorf("err %v, want none", err)
				}
			default:
				if !errors.Is(err, bench.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.error) {
					t.Errorf("err %v, want ErrInvalidConfig containing %q", err, tc.error)
				}
			}
		})
	}
}
