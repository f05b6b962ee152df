package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/config"
	"github.com/midgemq/midge/store/memory"
)

// startReloader starts a broker from the configuration file path, as serve
// does, and returns it with the reloader that serve would use and its log.
func startReloader(t *testing.T, path string) (*broker.Server, *reloader, *syncBuffer) {
	t.Helper()
	f := &serveFlags{config: path, set: map[string]bool{}}
	c, err := f.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	logger, level, err := newLogger(&log, c.LogLevel, "text")
	if err != nil {
		t.Fatal(err)
	}
	opts := brokerOptions(c, logger)
	opts.Store = memory.New()
	srv, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	rl := &reloader{flags: f, level: level, log: logger, started: c}
	return srv, rl, &log
}

func TestReloadAppliesLimits(t *testing.T) {
	path := writeFile(t, "midge.toml", "max_inflight_messages = 8\n[[listener]]\naddress = \"127.0.0.1:1883\"\n")
	srv, rl, log := startReloader(t, path)
	files := 0
	rl.attach(srv, func() { files++ })

	// Nothing changed: nothing applied or refused, the files re-read.
	res, err := rl.reload()
	if err != nil || len(res.Applied) != 0 || len(res.Refused) != 0 || files != 1 {
		t.Fatalf("reload of the same file: %+v %v, files read %d times", res, err, files)
	}

	os.WriteFile(path, []byte(`log_level = "warn"
max_inflight_messages = 64
max_queued_messages = 0
max_connections = -1
max_packet_size = "64KiB"
max_output_bytes = "1MiB"
write_timeout = "5s"
max_keepalive = "1m"
max_store_size = "1GiB"
data_dir = "elsewhere"
store = "memory"
admin_token = "new-secret"
[[listener]]
address = "127.0.0.1:1884"
`), 0o600)
	res, err = rl.reload()
	if err != nil {
		t.Fatal(err)
	}
	wantApplied := []string{"log_level", "max_packet_size", "max_inflight_messages", "max_queued_messages", "max_connections",
		"write_timeout", "max_output_bytes", "max_keepalive", "max_store_size"}
	wantRefused := []string{"data_dir", "admin_token", "store", "listener"}
	if !slices.Equal(res.Applied, wantApplied) {
		t.Errorf("applied %v, want %v", res.Applied, wantApplied)
	}
	if !slices.Equal(res.Refused, wantRefused) {
		t.Errorf("refused %v, want %v", res.Refused, wantRefused)
	}
	want := broker.Limits{MaxPacketSize: 64 << 10, MaxInflight: 64, MaxQueued: -1, MaxConnections: -1,
		MaxOutputBytes: 1 << 20, MaxKeepAlive: 60, WriteTimeout: 5 * time.Second, MaxStoreBytes: 1 << 30}
	if got := srv.Limits(); got != want {
		t.Errorf("limits %+v, want %+v", got, want)
	}
	if rl.level.Level() != slog.LevelWarn {
		t.Errorf("log level %v, want warn", rl.level.Level())
	}
	for _, key := range wantRefused {
		if !strings.Contains(log.String(), "restart midge to apply it\" key="+key) {
			t.Errorf("no refusal logged for %s:\n%s", key, log.String())
		}
	}
	if strings.Contains(log.String(), "new-secret") {
		t.Errorf("the log shows the new admin token:\n%s", log.String())
	}

	// A limit changed meanwhile (through the admin API) is set back to the
	// file's value; refused keys are refused again, as they still wait for
	// a restart.
	l := srv.Limits()
	l.MaxInflight = 5
	if err := srv.SetLimits(l); err != nil {
		t.Fatal(err)
	}
	res, err = rl.reload()
	if err != nil || !slices.Equal(res.Applied, []string{"max_inflight_messages"}) || !slices.Equal(res.Refused, wantRefused) {
		t.Fatalf("second reload: %+v %v", res, err)
	}
	if n := srv.Limits().MaxInflight; n != 64 {
		t.Fatalf("max_inflight_messages %d after the second reload, want 64", n)
	}
}

func TestReloadRefusesBadFile(t *testing.T) {
	path := writeFile(t, "midge.toml", "max_inflight_messages = 8\n")
	srv, rl, log := startReloader(t, path)
	files := 0
	rl.attach(srv, func() { files++ })
	os.WriteFile(path, []byte("max_inflight_messages = 64\nmax_connections = 0\n"), 0o600)
	_, err := rl.reload()
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "max_connections" {
		t.Fatalf("reload of an invalid file: %v, want a config.Error naming max_connections", err)
	}
	if n := srv.Limits().MaxInflight; n != 8 {
		t.Fatalf("max_inflight_messages %d after an invalid file, want 8 still", n)
	}
	if files != 1 || !strings.Contains(log.String(), "configuration not reloaded") {
		t.Fatalf("files read %d times; log:\n%s", files, log.String())
	}
}

func TestReloadWithoutFile(t *testing.T) {
	srv, err := broker.New(broker.Options{Logger: slog.New(slog.DiscardHandler), SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	rl := &reloader{flags: &serveFlags{set: map[string]bool{}}, level: new(slog.LevelVar),
		log: slog.New(slog.DiscardHandler), started: config.Defaults()}
	rl.attach(srv, nil)
	if _, err := rl.reload(); !errors.Is(err, errNoConfigFile) {
		t.Fatalf("reload without a file: %v", err)
	}
}

func TestIsLiveKey(t *testing.T) {
	for _, key := range []string{"log_level", "max_inflight_messages", "max_keepalive", "max_store_size"} {
		if !isLiveKey(key) {
			t.Errorf("%s is not live", key)
		}
	}
	for _, key := range []string{"listener", "data_dir", "store", "durability", "http_listen", "connect_timeout"} {
		if isLiveKey(key) {
			t.Errorf("%s is live", key)
		}
	}
	// Every live limit is a key of the configuration file.
	keys := map[string]bool{}
	for _, line := range strings.Split(config.DefaultsFile(), "\n") {
		if k, _, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(k, "#") {
			keys[k] = true
		}
	}
	for _, l := range liveLimits {
		if !keys[l.key] {
			t.Errorf("%s is not a key of midge.toml", l.key)
		}
	}
}
