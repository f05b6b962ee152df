package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/midgemq/midge/bench"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
)

func TestBenchCommand(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})

	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := runArgs(t, "bench", "fanin", "-host", b.Addr, "-qos", "2", "-pub", "3", "-sub", "2",
			"-count", "50", "-V", "5", "-owed", "20", "-json", "-quiet")
		if code != exitOK || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		var res bench.Result
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("decode %q: %v", stdout, err)
		}
		if res.Scenario != bench.ScenarioFanIn || res.QoS != 2 || res.Version != "5.0" || res.Owed != 20 ||
			res.Publishers != 3 || res.Subscribers != 2 {
			t.Errorf("parameters %+v", res)
		}
		if res.Published != 150 || res.Acked != 150 || res.Expected != 300 || res.Received != 300 || res.Lost != 0 ||
			res.Duplicates != 0 {
			t.Errorf("figures %+v", res)
		}
	})

	t.Run("text with progress", func(t *testing.T) {
		code, stdout, stderr := runArgs(t, "bench", "-host", b.Addr, "-qos", "1", "-sub", "2", "-rate", "200",
			"-duration", "1100ms", "fanout")
		if code != exitOK {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		for _, want := range []string{"fanout: 1 publisher -> 2 subscribers", "received", "0 lost, 0 duplicates",
			"from schedule"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("no %q in\n%s", want, stdout)
			}
		}
		if !strings.Contains(stderr, "s  conns 3  pub") {
			t.Errorf("no progress line in stderr %q", stderr)
		}
	})

	t.Run("go benchmark line", func(t *testing.T) {
		code, stdout, stderr := runArgs(t, "bench", "backlog", "-host", b.Addr, "-count", "20", "-gobench", "-quiet")
		if code != exitOK {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if !strings.HasPrefix(stdout, "BenchmarkMidge/backlog/tcp/v=3.1.1/qos=1/") ||
			!strings.Contains(stdout, " lost-msgs") {
			t.Errorf("stdout %q", stdout)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		code, stdout, stderr := runArgs(t, "bench", "conn", "-host", "127.0.0.1:1", "-conns", "2", "-quiet")
		if code != exitError || !strings.Contains(stderr, "midge: bench: ") ||
			!strings.Contains(stderr, "connect to 127.0.0.1:1") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if !strings.Contains(stdout, "0 of 2") {
			t.Errorf("no summary of the failed connections in %q", stdout)
		}
	})
}

func TestBenchUsage(t *testing.T) {
	code, stdout, stderr := runArgs(t, "bench", "-h")
	if code != exitOK || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	for _, s := range bench.Scenarios() {
		if !strings.Contains(stderr, "\n  "+string(s)+" ") {
			t.Errorf("scenario %s not documented", s)
		}
	}
	for _, f := range []string{"host", "allow-remote", "transport", "ws-path", "insecure", "cafile", "source", "V",
		"username", "password", "client-prefix", "keepalive", "connect-timeout", "conn-rate", "conn-concurrency",
		"conns", "pub", "sub", "qos", "size", "rate", "inflight", "owed", "duration", "count", "idle-timeout",
		"topic", "group", "quiet", "json", "gobench"} {
		if !strings.Contains(stderr, "\n  -"+f+" ") && !strings.Contains(stderr, "\n  -"+f+"\n") {
			t.Errorf("flag -%s not documented", f)
		}
	}
	if !strings.Contains(stdoutOf(t, "help"), "midge bench SCENARIO") {
		t.Errorf("midge help does not list bench")
	}
}

func stdoutOf(t *testing.T, args ...string) string {
	t.Helper()
	_, stdout, _ := runArgs(t, args...)
	return stdout
}

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no scenario", args: []string{"bench"}, want: "name a scenario: conn, pub, sub"},
		{name: "unknown scenario", args: []string{"bench", "flood"}, want: `unknown scenario "flood"`},
		{name: "remote broker", args: []string{"bench", "conn", "-host", "10.0.0.1:1883"}, want: "-allow-remote"},
		{name: "remote source", args: []string{"bench", "conn", "-source", "192.168.0.1"}, want: "source 192.168.0.1"},
		{name: "bad version", args: []string{"bench", "pub", "-V", "4.0"}, want: `-V "4.0"`},
		{name: "bad qos", args: []string{"bench", "pub", "-qos", "3"}, want: "-qos 3"},
		{name: "bad source", args: []string{"bench", "pub", "-source", "127.0.0.9-127.0.0.1"}, want: "-source"},
		{name: "small payload", args: []string{"bench", "pub", "-size", "8"}, want: "payload size 8"},
		{name: "backlog at qos 0", args: []string{"bench", "backlog", "-qos", "0"}, want: "backlog needs qos 1 or 2"},
		{name: "two outputs", args: []string{"bench", "pub", "-json", "-gobench"}, want: "exclude each other"},
		{name: "extra argument", args: []string{"bench", "pub", "x"}, want: "unexpected arguments"},
		{name: "unknown flag", args: []string{"bench", "pub", "-nope"}, want: "-nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(t, tc.args...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, exitUsage, tc.want)
			}
		})
	}
}
