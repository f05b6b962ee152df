package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCompareSmoke runs a short comparison of a few scenarios, one round of about a second each with small
// sizes, against the real brokers: Mosquitto, and midge built from this tree. Without mosquitto it is skipped,
// unless CI is set (CI installs it with make deps).
func TestCompareSmoke(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the comparison reads /proc")
	}
	mq, err := findMosquitto()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set, so the test fails instead of skipping)", err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "midge")
	// go test puts the go command of its GOROOT first in PATH.
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/midge").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "report.md")
	var stdout, stderr bytes.Buffer
	t0 := time.Now()
	code := run([]string{"-midge", bin, "-mosquitto", mq, "-rounds", "1", "-duration", "1s",
		"-only", "fanin-qos2,conns,large", "-conns", "200", "-retained", "2000", "-subs", "9000", "-out", out},
		&stdout, &stderr)
	t.Logf("ran in %s; progress:\n%s", time.Since(t0).Round(time.Millisecond), stderr.String())
	if code != exitOK {
		t.Fatalf("exit code %d; report:\n%s", code, stdout.String())
	}
	rep := stdout.String()
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(written) != rep {
		t.Errorf("-out file differs from stdout")
	}
	for _, want := range []string{
		"| fan-in QoS 2 | msg/s out |",
		"|  | broker CPU per delivery |",
		"| 200 idle connections | connect + subscribe/s |",
		"| subscribe latency p50 |",
		"fan-in QoS 2: Midge ≥ 3× Mosquitto with zero loss",
		"mosquitto version",
		"1 round; ",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	if strings.Contains(rep, "Errors:") {
		t.Errorf("errors in the report:\n%s", rep)
	}
	// Every figure of the main table was measured for both brokers, and at QoS 2 nothing was lost.
	for line := range strings.SplitSeq(rep, "\n") {
		if strings.Contains(line, "msg/s out | —") || strings.Contains(line, "conn/s | —") {
			t.Errorf("missing figure: %s", line)
		}
		if strings.HasPrefix(line, "|  | lost |") && !strings.HasPrefix(line, "|  | lost | 0 | 0 |") {
			t.Errorf("loss at QoS 2: %s", line)
		}
	}
	live.mu.Lock()
	defer live.mu.Unlock()
	if len(live.procs) != 0 {
		t.Errorf("%d brokers still running", len(live.procs))
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		error string
	}{
		{name: "defaults", args: nil},
		{name: "only", args: []string{"-only", "fanin-qos0, latency"}},
		{name: "unknown scenario", args: []string{"-only", "fanin"}, error: `no scenario "fanin"`},
		{name: "no rounds", args: []string{"-rounds", "0"}, error: "-rounds"},
		{name: "remote source", args: []string{"-sources", "10.0.0.1"}, error: "not in 127.0.0.0/8"},
		{name: "argument", args: []string{"extra"}, error: "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, new(bytes.Buffer))
			if tc.error == "" {
				if err != nil {
					t.Fatal(err)
				}
				if o.rounds != 3 || o.duration != 10*time.Second || o.conns != 19000 {
					t.Errorf("defaults: %d rounds, %s, %d conns", o.rounds, o.duration, o.conns)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("err %v, want one containing %q", err, tc.error)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{in: []float64{3}, want: 3},
		{in: []float64{5, 1, 3}, want: 3},
		{in: []float64{4, 1, 3, 2}, want: 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %g, want %g", tc.in, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		kind string
		v    float64
		want string
	}{
		{kind: kindRate, v: 1234567.4, want: "1,234,567"},
		{kind: kindRate, v: 999, want: "999"},
		{kind: kindCount, v: -1000, want: "-1,000"},
		{kind: kindLatency, v: float64(1234 * time.Microsecond), want: "1.23 ms"},
		{kind: kindLatency, v: float64(85 * time.Microsecond), want: "85 µs"},
		{kind: kindBytes, v: 3500, want: "3,500 B"},
		{kind: kindBytes, v: 200 << 20, want: "200 MiB"},
		{kind: kindPercent, v: 99.95, want: "100.0 %"},
	} {
		if got := format(tc.kind, tc.v); got != tc.want {
			t.Errorf("format(%s, %g) = %q, want %q", tc.kind, tc.v, got, tc.want)
		}
	}
}

func TestConfigs(t *testing.T) {
	mq := mosquittoConfig(1884)
	for _, line := range []string{"listener 1884 127.0.0.1", "allow_anonymous true", "persistence false",
		"max_inflight_messages 0", "max_queued_messages 8192", "set_tcp_nodelay true", "max_connections -1"} {
		if !strings.Contains(mq, "\n"+line+"\n") {
			t.Errorf("mosquitto.conf lacks %q", line)
		}
	}
	md := midgeConfig(1885, 8081, "/tmp/x")
	for _, line := range []string{`store = "memory"`, "max_queued_messages = 8192", "allow_anonymous = true",
		"max_connect_rate = -1", "max_connections = -1", `sys_interval = "0s"`, `log_level = "warn"`,
		`address = "127.0.0.1:1885"`, `http_listen = "127.0.0.1:8081"`} {
		if !strings.Contains(md, "\n"+line+"\n") {
			t.Errorf("midge.toml lacks %q", line)
		}
	}
	if strings.Contains(md, "max_inflight_messages") {
		t.Errorf("midge.toml sets max_inflight_messages; it keeps Midge's default")
	}
}
