package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/midgemq/midge/bench"
	"github.com/midgemq/midge/packet"
)

const benchUsage = `Usage: midge bench SCENARIO [flags]

Load an MQTT broker and report what it sustained: messages per second in
(published) and out (received), loss and duplicates, publish-to-delivery
latency, and connect rate and latency. A progress line goes to stderr every
second, with the rates and the latency (p50, p99, max) of that second
(-quiet turns it off); the summary goes to stdout (-json, -gobench).
Only loopback brokers are loaded unless -allow-remote is given.

Scenarios (TOPIC is -topic):
  conn     open -conns connections at -conn-rate and hold them for -duration
  pub      -pub publishers (default 1), each to TOPIC/n; no subscribers
  sub      -sub subscribers (default 1) of TOPIC/#, fed by "midge bench pub"
           elsewhere; -count is the number of messages to wait for in all
  fanin    -pub publishers (default 8), each to TOPIC/fanin/n, to -sub
           subscribers (default 1) of TOPIC/fanin/+
  fanout   -pub publishers (default 1) of TOPIC/fanout to each of -sub
           subscribers (default 100)
  p2p      -pub pairs (default 10) of a publisher and a subscriber, one topic
           each (TOPIC/p2p/n); use -rate for a fixed rate per client
  shared   -pub publishers (default 8), each to TOPIC/shared/n, to one of -sub
           subscribers (default 4) of $share/GROUP/TOPIC/shared/+
  backlog  -sub persistent subscribers (default 1) go offline, -pub
           publishers (default 1) send -count messages each (default 100),
           the subscribers come back; reports the drain time (QoS 1 or 2)
  spread   -sub subscribers (default 1000), each of its own filter
           TOPIC/spread/n/+, fed by -pub publishers (default 10) that take
           the subscribers' topics in turn, so each message reaches one
           subscriber (routing through many wildcard subscriptions)

Publishers send as fast as the broker takes messages, held back by TCP (QoS
0) or by -inflight unacknowledged messages (QoS 1 and 2). -owed N makes the
run closed-loop: publishers pause while more than N deliveries are owed to
subscribers. -rate makes it open-loop: each publisher sends on a fixed
schedule and latency is measured from the scheduled time.

Examples:
  midge bench fanin -qos 1 -pub 8 -sub 1 -owed 1024 -duration 10s
  midge bench fanout -pub 1 -sub 100 -size 64
  midge bench conn -conns 8000 -conn-rate 2000 -source 127.0.0.1-127.0.0.4

Flags:
`

// runBench runs "midge bench".
func runBench(args []string, stdout, stderr io.Writer) int {
	var (
		c                       bench.Config
		version, transport, src string
		qos                     uint
		quiet, jsonOut, goBench bool
	)
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Host, "host", "127.0.0.1:1883", "broker `ADDR` (host:port)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a broker, and sources, outside 127.0.0.0/8, ::1 and localhost")
	fs.StringVar(&transport, "transport", "tcp", "`TRANSPORT`: tcp, tls, ws or wss")
	fs.StringVar(&c.WSPath, "ws-path", "/mqtt", "HTTP `PATH` of a ws or wss broker")
	fs.BoolVar(&c.InsecureSkipVerify, "insecure", false, "do not verify the broker's certificate (tls, wss)")
	fs.StringVar(&c.CAFile, "cafile", "", "verify the broker's certificate with the CAs in PEM `FILE` (tls, wss; default: the system's)")
	fs.StringVar(&src, "source", "", "connect from the source addresses in `LIST`, in turn: addresses and ranges such as 127.0.0.1-127.0.0.8, comma-separated (about 28,000 connections each)")
	fs.StringVar(&version, "V", "3.1.1", "MQTT `VERSION`: 3.1, 3.1.1 or 5")
	fs.StringVar(&c.Username, "username", "", "connect with user `NAME`")
	fs.StringVar(&c.Password, "password", "", "connect with `PASSWORD` (with -username)")
	fs.StringVar(&c.ClientPrefix, "client-prefix", "", "start client identifiers with `PREFIX` (default: mb and 6 random hex digits)")
	fs.DurationVar(&c.KeepAlive, "keepalive", 0, "keep alive `DURATION` clients ask for; negative for none (default 1m0s)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 0, "bound each connection's dial and CONNACK by `DURATION` (default 10s)")
	fs.Float64Var(&c.ConnectRate, "conn-rate", 0, "open `N` connections per second (default: as fast as -conn-concurrency allows)")
	fs.IntVar(&c.ConnectConcurrency, "conn-concurrency", 0, "open up to `N` connections at once (default 32)")
	fs.IntVar(&c.ReadLoops, "read-loops", 0, "read tcp connections with `N` epoll loops on Linux (default: one per CPU); negative for a goroutine per connection")
	fs.IntVar(&c.Connections, "conns", 0, "`N` connections of the conn scenario (default 100)")
	fs.IntVar(&c.Publishers, "pub", 0, "`N` publishers, or pairs for p2p (default: the scenario's)")
	fs.IntVar(&c.Subscribers, "sub", 0, "`N` subscribers (default: the scenario's)")
	fs.UintVar(&qos, "qos", 0, "`QOS` of messages and subscriptions: 0, 1 or 2 (default 0; 1 for backlog)")
	fs.IntVar(&c.PayloadSize, "size", 64, "payload size in `BYTES`, at least 16 (a timestamp and sequence numbers)")
	fs.Float64Var(&c.Rate, "rate", 0, "send `N` messages per second per publisher on a fixed schedule (default: as fast as possible)")
	fs.IntVar(&c.Inflight, "inflight", 64, "at most `N` unacknowledged QoS 1 or 2 messages per publisher")
	fs.IntVar(&c.Owed, "owed", 0, "pause publishers while more than `N` deliveries are owed to subscribers (default: no limit)")
	fs.DurationVar(&c.Duration, "duration", 0, "publish (conn: hold, sub: listen) for `DURATION` (default 10s unless -count)")
	fs.IntVar(&c.Count, "count", 0, "`N` messages per publisher (default: -duration decides; 100 for backlog)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 0, "give up waiting for acknowledgements or deliveries after `DURATION` without progress (default 3s)")
	fs.StringVar(&c.Topic, "topic", "bench", "first `LEVEL` of every topic")
	fs.StringVar(&c.Group, "group", "g", "shared subscription `GROUP` of the shared scenario")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	fs.BoolVar(&jsonOut, "json", false, "write the summary to stdout as JSON")
	fs.BoolVar(&goBench, "gobench", false, "write the summary to stdout as a Go benchmark line, for benchstat")

	var scenario string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		scenario, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if scenario == "" && fs.NArg() == 1 {
		scenario = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "midge: bench: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	if scenario == "" {
		fmt.Fprintf(stderr, "midge: bench: name a scenario: %s\n\nRun \"midge bench -h\" for the flags.\n",
			scenarioList())
		return exitUsage
	}
	c.Scenario = bench.Scenario(scenario)
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.Scenario == bench.ScenarioBacklog && !set["qos"] {
		qos = 1
	}
	var problems []string
	if qos > 2 {
		problems = append(problems, fmt.Sprintf("-qos %d: 0, 1 or 2", qos))
	}
	c.QoS = byte(min(qos, 3))
	if v, ok := parseVersion(version); ok {
		c.Version = v
	} else {
		problems = append(problems, fmt.Sprintf("-V %q: 3.1, 3.1.1 or 5", version))
	}
	c.Transport = bench.Transport(transport)
	if src != "" {
		s, err := bench.ParseSources(src)
		if err != nil {
			problems = append(problems, "-source: "+strings.TrimPrefix(err.Error(), "bench: "))
		}
		c.Sources = s
	}
	if jsonOut && goBench {
		problems = append(problems, "-json and -gobench exclude each other")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "midge: bench: %s\n", p)
		}
		return exitUsage
	}
	if !quiet {
		c.Progress = stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, c)
	if errors.Is(err, bench.ErrInvalidConfig) || errors.Is(err, bench.ErrRemoteTarget) {
		printErr(stderr, err)
		return exitUsage
	}
	var werr error
	switch {
	case jsonOut:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		werr = enc.Encode(res)
	case goBench:
		werr = res.WriteGoBench(stdout)
	default:
		werr = res.WriteText(stdout)
	}
	if werr != nil {
		fmt.Fprintf(stderr, "midge: bench: write summary: %v\n", werr)
		return exitError
	}
	if err != nil {
		printErr(stderr, err)
		return exitError
	}
	return exitOK
}

// parseVersion reads a protocol version as people write it ("3.1.1", "5") or as its level byte ("4").
func parseVersion(s string) (packet.Version, bool) {
	switch s {
	case "3.1", "3":
		return packet.V31, true
	case "3.1.1", "4":
		return packet.V311, true
	case "5", "5.0":
		return packet.V5, true
	}
	return 0, false
}

// scenarioList returns the scenario names, comma-separated.
func scenarioList() string {
	var names []string
	for _, s := range bench.Scenarios() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}
