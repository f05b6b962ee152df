package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/config"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/none"
	"github.com/midgemq/midge/store/pebble"
	"github.com/midgemq/midge/web"
)

// shutdownTimeout bounds how long serve waits for connections to close after
// a signal.
const shutdownTimeout = 10 * time.Second

// errDataDirInUse is returned when another process holds the lock of the
// data directory.
var errDataDirInUse = errors.New("in use by another midge process")

// errFlag marks a configuration problem caused by a flag's value.
var errFlag = errors.New("invalid flag")

// serveFlags are the flags of serve. Each one that is set overrides the
// configuration file.
type serveFlags struct {
	config    string
	listen    string
	dataDir   string
	logLevel  string
	logFormat string
	// cpuProfile is a file for a CPU profile of the whole run (pprof).
	cpuProfile string
	set        map[string]bool
}

// flagOfKey maps the configuration keys that flags set to the flags.
var flagOfKey = map[string]string{
	"data_dir":            "data",
	"log_level":           "log-level",
	"log_format":          "log-format",
	"listener[0].address": "listen",
}

// parseServeFlags parses the arguments of serve.
func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: midge serve [flags]\n\nRun the broker until SIGINT or SIGTERM. Flags override the configuration file.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.config, "config", "", "read the configuration from `FILE` (default: built-in defaults, see \"midge config defaults\")")
	fs.StringVar(&f.listen, "listen", "", "listen on `ADDR` (host:port) with one TCP listener, replacing the configured ones")
	fs.StringVar(&f.dataDir, "data", "", "keep state in `DIR` (data_dir)")
	fs.StringVar(&f.logLevel, "log-level", "", "log at `LEVEL`: debug, info, warn or error (log_level)")
	fs.StringVar(&f.logFormat, "log-format", "", "write logs in `FORMAT`: text or json (log_format)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `FILE`, for \"go tool pprof\"")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "midge: serve takes no arguments, got %q\n", fs.Args())
		fs.Usage()
		return nil, errors.New("unexpected arguments")
	}
	f.set = make(map[string]bool)
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return &f, nil
}

// loadConfig reads the configuration that f names, or the defaults, and
// applies the flags that are set.
func (f *serveFlags) loadConfig() (*config.Config, error) {
	c := config.Defaults()
	if f.config != "" {
		var err error
		if c, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	if f.set["listen"] {
		l := config.DefaultListener()
		l.Address = f.listen
		c.Listeners = []config.Listener{l}
	}
	if f.set["data"] {
		c.DataDir = f.dataDir
	}
	if f.set["log-level"] {
		c.LogLevel = f.logLevel
	}
	if f.set["log-format"] {
		c.LogFormat = f.logFormat
	}
	// The file, if any, was valid: a problem now comes from a flag.
	if err := c.Validate(); err != nil {
		return nil, flagErrors(err)
	}
	return c, nil
}

// flagErrors rewrites the *config.Error values in err to name the flag that
// set each key instead of the key.
func flagErrors(err error) error {
	errs := config.Errors(err)
	if len(errs) == 0 {
		return err
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		if name, ok := flagOfKey[e.Key]; ok {
			out = append(out, fmt.Errorf("%w --%s: %w", errFlag, name, e.Err))
		} else {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

// brokerOptions maps c onto the options of the broker. c is valid.
func brokerOptions(c *config.Config, logger *slog.Logger) broker.Options {
	limits := limitsOf(c)
	durability, _ := broker.ParseDurability(c.Durability)
	strategy, _ := broker.ParseSharedStrategy(c.SharedSubscriptionStrategy)
	sysInterval := c.SysInterval.Duration
	if sysInterval == 0 {
		sysInterval = -1 // the broker's "off"; its 0 means the default
	}
	interval := c.CommitInterval.Duration
	if interval == 0 {
		interval = time.Nanosecond // the broker's 0 means the default
	}
	return broker.Options{
		Logger:         logger,
		MaxPacketSize:  limits.MaxPacketSize,
		MaxInflight:    limits.MaxInflight,
		MaxQueued:      limits.MaxQueued,
		MaxConnections: limits.MaxConnections,
		ConnectTimeout: c.ConnectTimeout.Duration,
		WriteTimeout:   limits.WriteTimeout,
		MaxOutputBytes: limits.MaxOutputBytes,
		MaxKeepAlive:   limits.MaxKeepAlive,
		Durability:     durability,
		SharedStrategy: strategy,
		SysInterval:    sysInterval,
		Version:        "midge " + version,
		CommitInterval: interval,
		MaxStoreBytes:  limits.MaxStoreBytes,

		MaxTopicLevels:      c.MaxTopicLevels,
		MaxTopicLength:      c.MaxTopicLength,
		MaxSubscriptions:    c.MaxSubscriptions,
		MaxUserProperties:   c.MaxUserProperties,
		MaxConnectRate:      float64(c.MaxConnectRate),
		MaxPublishRate:      float64(c.MaxPublishRate),
		MaxPublishBandwidth: float64(c.MaxPublishBandwidth),
		AuthFailureLimit:    c.AuthFailureLimit,
		AuthBanTime:         c.AuthBanTime.Duration,
	}
}

// openStore opens the store c asks for; close releases it.
func openStore(c *config.Config, logger *slog.Logger) (store.Store, error) {
	switch c.Store {
	case "memory":
		// The state lives in the broker's memory alone: a store that
		// kept a copy of it would only double it.
		return none.New(), nil
	default:
		dir := filepath.Join(c.DataDir, "store")
		st, err := pebble.Open(dir, pebble.Options{Logger: logger.With("component", "store")})
		if errors.Is(err, pebble.ErrCorrupt) {
			return nil, fmt.Errorf("open store: %w\nto start without the stored state, keep the damaged store aside and restart:\n  mv %s %s.corrupt-%s",
				err, dir, dir, time.Now().Format("20060102-150405"))
		}
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return st, nil
	}
}

// serve runs the broker until ctx is done or the process gets SIGINT or
// SIGTERM, then shuts it down. It returns the exit code.
func serve(ctx context.Context, args []string, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	c, err := f.loadConfig()
	if err != nil {
		printErr(stderr, err)
		return exitError
	}
	logger, level, err := newLogger(stderr, c.LogLevel, c.LogFormat)
	if err != nil {
		printErr(stderr, err)
		return exitError
	}
	if f.cpuProfile != "" {
		stopProfile, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			printErr(stderr, err)
			return exitError
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// On SIGHUP (or POST /api/v1/reload) the configuration is read again:
	// what can change while the broker runs changes, the rest is refused
	// as needing a restart.
	rl := &reloader{flags: f, level: level, log: logger, started: c}
	if err := runBroker(ctx, c, logger, rl); err != nil {
		printErr(stderr, err)
		return exitError
	}
	return exitOK
}

// runBroker takes the data directory, starts the broker on the listeners of
// c, and shuts it down when ctx is done or a listener fails.
func runBroker(ctx context.Context, c *config.Config, logger *slog.Logger, rl *reloader) error {
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	unlock, err := lockDataDir(c.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	st, err := openStore(c, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			logger.Error("closing the store failed", "err", err)
		}
	}()
	opts := brokerOptions(c, logger)
	opts.Store = st
	audit, err := openAudit(c.AuditLog, os.Stderr)
	if err != nil {
		return err
	}
	defer audit.Close()
	opts.Audit = audit.Logger()
	reloadAuth, stopAuth, err := setupAuth(c, &opts, logger)
	if err != nil {
		return err
	}
	defer stopAuth()
	metrics := web.NewMetrics()
	opts.Authenticator = metrics.WrapAuthenticator(opts.Authenticator)
	srv, err := broker.New(opts)
	if err != nil {
		return fmt.Errorf("start broker: %w", err)
	}

	listeners, err := listen(c.Listeners, logger)
	if err != nil {
		return errors.Join(err, shutdown(srv))
	}
	// SIGHUP reloads the password, ACL, JWT key and CA files and the
	// certificates.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() {
		signal.Stop(hup)
		close(hup)
	}()
	rl.attach(srv, func() {
		if err := audit.Reopen(); err != nil {
			logger.Error("audit log not reopened; writing on to the open file", "file", c.AuditLog, "err", err)
		}
		if reloadAuth() {
			// Subscriptions the new rules refuse are taken back.
			srv.Reauthorize()
		}
		reloadCerts(listeners, c.Listeners, logger)
	})
	go func() {
		for range hup {
			rl.reload()
		}
	}()

	// Each Serve goroutine sends how it ended: nil after Shutdown.
	served := make(chan error, len(listeners))
	addrs := make([]string, len(listeners))
	for i, l := range listeners {
		addrs[i] = l.Addr().String()
		go func() {
			err := srv.Serve(l)
			if errors.Is(err, broker.ErrServerClosed) {
				err = nil
			} else {
				err = fmt.Errorf("listener %q: serve: %w", c.Listeners[i].Name, err)
			}
			served <- err
		}()
	}
	var ready atomic.Bool
	stopHTTP, err := serveHTTP(c, srv, metrics, ready.Load, rl, logger)
	if err != nil {
		return errors.Join(err, shutdown(srv))
	}
	ready.Store(true)
	logger.Info("midge started", "version", version, "addresses", addrs, "data_dir", c.DataDir)

	var failed error
	select {
	case <-ctx.Done():
		logger.Info("midge stopping", "reason", context.Cause(ctx))
	case failed = <-served:
		// A listener stopped by itself: stop the others too.
		if failed == nil {
			failed = errors.New("listener stopped unexpectedly")
		}
	}
	ready.Store(false)
	stopHTTP()
	shutErr := shutdown(srv)
	// Serve returns once Shutdown has closed its listener.
	remaining := len(listeners)
	if failed != nil {
		remaining--
	}
	for range remaining {
		if err := <-served; err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		return failed
	}
	if shutErr != nil {
		return shutErr
	}
	logger.Info("midge stopped")
	return nil
}

// listen opens every listener, closing those already open when one fails.
func listen(ls []config.Listener, logger *slog.Logger) ([]net.Listener, error) {
	out := make([]net.Listener, 0, len(ls))
	for _, l := range ls {
		nl, err := openListener(l, logger.With("listener", l.Name))
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("listener %q: %w", l.Name, err)
		}
		out = append(out, nl)
	}
	return out, nil
}

// shutdown stops srv within shutdownTimeout.
func shutdown(srv *broker.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, broker.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// changedKeys returns the keys whose values differ between a and b, other
// than those SIGHUP applies while the broker runs (isLiveKey; the contents
// of the password, ACL, JWT key, CA and certificate files are re-read on
// their own).
func changedKeys(a, b *config.Config) []string {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	var keys []string
	for i := range va.NumField() {
		key, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("toml"), ",")
		if isLiveKey(key) {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			keys = append(keys, key)
		}
	}
	return keys
}

// startCPUProfile starts writing a CPU profile to path; stop ends it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
