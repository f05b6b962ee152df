// Command benchcompare runs Midge and Debian's Mosquitto side by side under the same loads, on this machine, and
// prints a markdown report of the medians and the Midge/Mosquitto ratios. "make bench-compare" builds bin/midge
// and runs it; docs/benchmarks.md describes the method and holds a report.
//
// Each scenario runs against each broker alternately (Mosquitto, Midge, Mosquitto, Midge, ...) for -rounds
// rounds, and each broker is started afresh, with a generated configuration on a free port of 127.0.0.1, before
// each of its runs. The load comes from package bench, in this process; only 127.0.0.0/8 is used. Every broker
// started is stopped before the program exits, on SIGINT and SIGTERM too.
//
// Usage:
//
//	go run ./internal/benchcompare [-rounds 3] [-duration 10s] [-only fanin-qos1,latency] [-large] [-out FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/midgemq/midge/bench"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// fileHeadroom is the open files a connection scenario leaves to the rest of a process (listeners, pipes, the
// runtime), under its limit.
const fileHeadroom = 500

// options are the settings of a comparison.
type options struct {
	rounds   int
	duration time.Duration
	// only holds the scenarios to run; empty means all (and "large" with -large).
	only  map[string]bool
	out   string
	large bool

	midgeBin, mosquittoBin string
	// midgeRun is the copy of midgeBin that runs.
	midgeRun string

	conns    int
	wildSubs int
	retained int
	subs     int
	sources  []netip.Addr
	// args is the command line, for the report.
	args []string
	// work is a temporary directory for the brokers' configurations.
	work string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the comparison that args describe, writes the report to stdout (and -out) and progress to stderr, and
// returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchcompare: %s\n", err)
		return exitUsage
	}
	if err := o.prepare(); err != nil {
		fmt.Fprintf(stderr, "benchcompare: %s\n", err)
		return exitError
	}
	defer os.RemoveAll(o.work)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Whatever happens below, no broker outlives this function.
	defer stopAll()

	rep := compare(ctx, o, stderr)
	var b strings.Builder
	rep.write(&b)
	io.WriteString(stdout, b.String())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(stderr, "benchcompare: write report: %s\n", err)
			return exitError
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "benchcompare: interrupted; the report holds the runs that finished\n")
		return exitError
	}
	if len(rep.failed) > 0 {
		return exitError
	}
	return exitOK
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: args}
	var only, sources string
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./internal/benchcompare [flags]\n\n"+
			"Run Midge and Mosquitto side by side under the same loads and print a markdown report.\n\n"+
			"Scenarios (-only): %s\n\nFlags:\n", strings.Join(scenarioNames(), ", "))
		fs.PrintDefaults()
	}
	fs.IntVar(&o.rounds, "rounds", 3, "run each scenario `N` times against each broker")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "load each broker for `DURATION` per run")
	fs.StringVar(&only, "only", "", "run only the scenarios in comma-separated `LIST`")
	fs.StringVar(&o.out, "out", "", "also write the report to `FILE`")
	fs.BoolVar(&o.large, "large", false, "also run the large-state scenario (-retained messages and -subs subscriptions)")
	fs.StringVar(&o.midgeBin, "midge", "bin/midge", "the midge `BINARY` to run (make build makes it)")
	fs.StringVar(&o.mosquittoBin, "mosquitto", "", "the mosquitto `BINARY` to run (default: from PATH, or /usr/sbin/mosquitto)")
	fs.IntVar(&o.conns, "conns", 19000, "`N` idle connections (conns)")
	fs.IntVar(&o.wildSubs, "wildcard-subs", 10000, "`N` wildcard subscribers (wildcard)")
	fs.IntVar(&o.retained, "retained", 1000000, "`N` retained messages (large)")
	fs.IntVar(&o.subs, "subs", 1000000, "`N` subscriptions (large)")
	fs.StringVar(&sources, "sources", "127.0.0.1-127.0.0.4", "connect from the addresses in `LIST` (in 127.0.0.0/8)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var problems []string
	if o.rounds < 1 {
		problems = append(problems, "-rounds must be at least 1")
	}
	if o.duration < 100*time.Millisecond {
		problems = append(problems, "-duration must be at least 100ms")
	}
	if o.conns < 2 || o.wildSubs < 10 || o.retained < 1 || o.subs < 1 {
		problems = append(problems, "-conns, -wildcard-subs, -retained and -subs must be at least 2, 10, 1 and 1")
	}
	if only != "" {
		o.only = make(map[string]bool)
		for name := range strings.SplitSeq(only, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(scenarioNames(), name) {
				problems = append(problems, fmt.Sprintf("-only: no scenario %q (%s)", name,
					strings.Join(scenarioNames(), ", ")))
			}
			o.only[name] = true
		}
		if o.only["large"] {
			o.large = true
		}
	}
	var err error
	if o.sources, err = bench.ParseSources(sources); err != nil {
		problems = append(problems, "-sources: "+err.Error())
	}
	for _, a := range o.sources {
		if !a.Is4() || !a.IsLoopback() {
			problems = append(problems, fmt.Sprintf("-sources: %s is not in 127.0.0.0/8", a))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

// prepare finds the brokers, raises the open-file limit and fits the connection counts under it, and makes the
// working directory.
func (o *options) prepare() error {
	if _, err := os.Stat(o.midgeBin); err != nil {
		return fmt.Errorf("midge binary: %w (run \"make build\" first)", err)
	}
	if abs, err := filepath.Abs(o.midgeBin); err == nil {
		o.midgeBin = abs
	}
	if o.mosquittoBin == "" {
		var err error
		if o.mosquittoBin, err = findMosquitto(); err != nil {
			return err
		}
	}
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	// The load generator holds one file per connection, and so does each broker, which inherits the limit.
	if most := int(limit) - fileHeadroom; limit > 0 && (o.conns > most || o.wildSubs+10 > most) {
		return fmt.Errorf("the open-file limit is %d: -conns %d and -wildcard-subs %d need %d more (ulimit -n)",
			limit, o.conns, o.wildSubs, max(o.conns, o.wildSubs+10)+fileHeadroom-int(limit))
	}
	if o.work, err = os.MkdirTemp("", "benchcompare-"); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	// Every run uses a copy, so that a rebuild of the binary during the comparison changes nothing.
	o.midgeRun = filepath.Join(o.work, "midge")
	if err := copyFile(o.midgeRun, o.midgeBin); err != nil {
		os.RemoveAll(o.work)
		return err
	}
	return nil
}

// copyFile copies the executable src to dst.
func copyFile(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy midge binary: %w", err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		return fmt.Errorf("copy midge binary: %w", err)
	}
	return nil
}

// findMosquitto returns the path of the mosquitto binary: in PATH, or Debian's /usr/sbin/mosquitto (sbin is not
// always in PATH).
func findMosquitto() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/mosquitto"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("mosquitto not found: install Debian's mosquitto (make bench-compare does) or use -mosquitto")
}

// compare runs every scenario o selects and returns the report. It stops early, with what it has, when ctx is
// canceled.
func compare(ctx context.Context, o *options, progress io.Writer) *report {
	rep := &report{o: o, env: describeEnvironment(o), start: time.Now()}
	bins := []brokerBin{{kind: mosquitto, path: o.mosquittoBin}, {kind: midge, path: o.midgeRun}}
	for _, sc := range scenarios(o) {
		res := &scenarioResult{sc: sc, samples: make(map[brokerKind][]sample)}
		rep.results = append(rep.results, res)
		for round := 1; round <= o.rounds && ctx.Err() == nil; round++ {
			for _, b := range bins {
				if ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				s, err := runOnce(ctx, o, b, sc.run)
				if ctx.Err() != nil {
					// An interrupted run's figures describe the interruption.
					break
				}
				if s != nil {
					res.samples[b.kind] = append(res.samples[b.kind], s)
				}
				line := fmt.Sprintf("%s round %d/%d %s: %s (%s)", sc.name, round, o.rounds, b.kind,
					sc.brief(s), time.Since(t0).Round(100*time.Millisecond))
				if err != nil {
					msg := fmt.Sprintf("%s, round %d, %s: %s", sc.name, round, b.kind, err)
					res.errs = append(res.errs, msg)
					if s == nil {
						rep.failed = append(rep.failed, msg)
					}
					line += ": " + err.Error()
				}
				fmt.Fprintln(progress, line)
			}
		}
	}
	if o.large && ctx.Err() == nil {
		rep.large = make(map[brokerKind]sample)
		// Midge first: its figures are the target's, and a slow Mosquitto load must not keep them from the report.
		for _, b := range []brokerBin{bins[1], bins[0]} {
			if ctx.Err() != nil {
				break
			}
			t0 := time.Now()
			s := make(sample)
			_, err := runOnce(ctx, o, b, func(ctx context.Context, o *options, p *process) (sample, error) {
				return s, runLarge(ctx, o, p, s)
			})
			if ctx.Err() != nil {
				break
			}
			rep.large[b.kind] = s
			line := fmt.Sprintf("large %s: %s", b.kind, time.Since(t0).Round(100*time.Millisecond))
			if err != nil {
				msg := fmt.Sprintf("large, %s: %s", b.kind, err)
				rep.largeErrs = append(rep.largeErrs, msg)
				line += ": " + err.Error()
			}
			fmt.Fprintln(progress, line)
		}
	}
	rep.end = time.Now()
	rep.loadEnd = loadAverage()
	return rep
}

// runOnce starts a fresh broker, runs f against it and stops the broker.
func runOnce(ctx context.Context, o *options, b brokerBin, f func(context.Context, *options, *process) (sample,
	error)) (sample, error) {
	// The load generator runs in this process: the garbage of the run before is collected now rather than during
	// this run, whose broker would share the machine with that collection.
	runtime.GC()
	p, err := start(ctx, b, o.work)
	if err != nil {
		return nil, err
	}
	s, err := f(ctx, o, p)
	if serr := p.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	return s, err
}

// environment describes the machine and the software compared.
type environment struct {
	cores              int
	cpu, mem, kernel   string
	goVersion          string
	mosquittoVersion   string
	midgeVersion       string
	loadStart, command string
}

// describeEnvironment gathers what the report says about the machine.
func describeEnvironment(o *options) environment {
	e := environment{
		cores:     runtime.NumCPU(),
		cpu:       cpuModel(),
		mem:       memTotal(),
		kernel:    kernelRelease(),
		goVersion: runtime.Version(),
		loadStart: loadAverage(),
		command:   strings.Join(append([]string{"go run ./internal/benchcompare"}, o.args...), " "),
	}
	e.mosquittoVersion = firstLine(o.mosquittoBin, "-h")
	e.midgeVersion = firstLine(o.midgeRun, "version")
	return e
}

// firstLine runs bin with args and returns the first line it writes, or "unknown". mosquitto -h exits with
// status 3, so the exit status is not checked.
func firstLine(bin string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "unknown"
	}
	return line
}
