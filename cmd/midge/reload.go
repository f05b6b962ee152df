package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/config"
	"github.com/midgemq/midge/web"
)

// errNoConfigFile is returned by a reload when midge runs without --config.
var errNoConfigFile = errors.New("midge runs without --config: there is no configuration file to read again")

// liveLimit is a configuration key of the broker's Limits, which a reload
// applies while the broker runs, with its value in broker.Limits.
type liveLimit struct {
	key   string
	value func(*broker.Limits) any
}

// liveLimits are the keys of every field of broker.Limits.
var liveLimits = []liveLimit{
	{key: "max_packet_size", value: func(l *broker.Limits) any { return l.MaxPacketSize }},
	{key: "max_inflight_messages", value: func(l *broker.Limits) any { return l.MaxInflight }},
	{key: "max_queued_messages", value: func(l *broker.Limits) any { return l.MaxQueued }},
	{key: "max_connections", value: func(l *broker.Limits) any { return l.MaxConnections }},
	{key: "write_timeout", value: func(l *broker.Limits) any { return l.WriteTimeout }},
	{key: "max_output_bytes", value: func(l *broker.Limits) any { return l.MaxOutputBytes }},
	{key: "max_keepalive", value: func(l *broker.Limits) any { return l.MaxKeepAlive }},
	{key: "max_store_size", value: func(l *broker.Limits) any { return l.MaxStoreBytes }},
}

// isLiveKey reports whether a reload applies key while the broker runs.
func isLiveKey(key string) bool {
	return key == "log_level" || slices.ContainsFunc(liveLimits, func(l liveLimit) bool { return l.key == key })
}

// limitsOf maps the limits of c onto the broker's. c is valid.
func limitsOf(c *config.Config) broker.Limits {
	queued := c.MaxQueuedMessages
	if queued == 0 {
		queued = -1 // the broker's "no queue"; its 0 means the default
	}
	return broker.Limits{
		MaxPacketSize:  int(c.MaxPacketSize),
		MaxInflight:    c.MaxInflightMessages,
		MaxQueued:      queued,
		MaxConnections: c.MaxConnections,
		MaxOutputBytes: int(c.MaxOutputBytes),
		MaxKeepAlive:   int(c.MaxKeepalive.Duration / time.Second),
		WriteTimeout:   c.WriteTimeout.Duration,
		MaxStoreBytes:  int64(c.MaxStoreSize),
	}
}

// reloader reads the configuration file again, on SIGHUP or POST
// /api/v1/reload, and makes the running broker match it where it can: the
// log level and the broker's Limits take the file's values; any other key
// that differs from what midge started with is refused and logged, as it
// takes a restart. The password, ACL and certificate files are read again
// too.
type reloader struct {
	flags *serveFlags
	level *slog.LevelVar
	log   *slog.Logger
	// started is the configuration midge started with.
	started *config.Config

	// mu serialises reloads and guards the fields below.
	mu sync.Mutex
	// srv is the running broker, nil until attach.
	srv *broker.Server
	// reloadFiles reads the password, ACL and certificate files again.
	reloadFiles func()
}

// attach gives r the running broker and the function that reloads the
// files it uses.
func (r *reloader) attach(srv *broker.Server, reloadFiles func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv, r.reloadFiles = srv, reloadFiles
}

// reload reads the configuration again and applies it as the type's
// documentation says. It logs each key applied or refused, and returns
// them. An invalid file changes no key, but the password, ACL and
// certificate files are read again all the same, as SIGHUP always did.
func (r *reloader) reload() (web.ReloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.applyFile()
	if err != nil {
		r.log.Error("configuration not reloaded", "err", err)
	}
	if r.reloadFiles != nil {
		r.reloadFiles()
	}
	return res, err
}

// applyFile is the part of reload that reads the configuration file. The
// caller holds r.mu.
func (r *reloader) applyFile() (web.ReloadResult, error) {
	res := web.ReloadResult{Applied: []string{}, Refused: []string{}}
	if r.flags.config == "" {
		return res, errNoConfigFile
	}
	nc, err := r.flags.loadConfig()
	if err != nil {
		return res, err
	}
	if from := levelName(r.level.Level()); from != nc.LogLevel {
		if err := setLevel(r.level, nc.LogLevel); err != nil {
			return res, fmt.Errorf("log_level: %w", err)
		}
		r.log.Info("log level changed", "from", from, "to", nc.LogLevel)
		res.Applied = append(res.Applied, "log_level")
	}
	if r.srv != nil {
		cur, want := r.srv.Limits(), limitsOf(nc)
		var changed []string
		for _, l := range liveLimits {
			if from, to := l.value(&cur), l.value(&want); from != to {
				changed = append(changed, l.key)
				r.log.Info("configuration key applied", "key", l.key, "from", from, "to", to)
			}
		}
		if len(changed) > 0 {
			if err := r.srv.SetLimits(want); err != nil {
				return res, fmt.Errorf("apply limits: %w", err)
			}
			res.Applied = append(res.Applied, changed...)
		}
	}
	for _, key := range changedKeys(r.started, nc) {
		// The value is not logged: it may be a secret (admin_token).
		r.log.Warn("configuration key changed but cannot change while midge runs; restart midge to apply it", "key", key)
		res.Refused = append(res.Refused, key)
	}
	return res, nil
}

// levelName names l as log_level does.
func levelName(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelInfo:
		return "info"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return l.String()
}
