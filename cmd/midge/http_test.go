package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EHTTP: with http_listen set, the binary serves health checks,
// Prometheus metrics and the admin API behind its token.
func TestE2EHTTP(t *testing.T) {
	dir := t.TempDir()
	mqttAddr, httpAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "data_dir = %q\nhttp_listen = %q\nadmin_token = \"s3cret\"\n[[listener]]\naddress = %q\n",
		filepath.Join(dir, "data"), httpAddr, mqttAddr), 0o600)
	p := startMidge(t, "serve", "--config", cfg)
	dialMidge(t, p, mqttAddr).Close()
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+httpAddr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		var resp *http.Response
		var err error
		waitFor(t, func() bool { resp, err = client.Do(req); return err == nil })
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, _ := get("/readyz", ""); code != 200 {
		t.Fatalf("/readyz: %d", code)
	}
	if code, body := get("/metrics", ""); code != 200 || !strings.Contains(body, "midge_connections_accepted_total") {
		t.Fatalf("/metrics: %d\n%.300s", code, body)
	}
	if code, _ := get("/api/v1/stats", ""); code != 401 {
		t.Fatalf("/api/v1/stats without the token: %d, want 401", code)
	}
	if code, body := get("/api/v1/stats", "s3cret"); code != 200 || !strings.Contains(body, "{") {
		t.Fatalf("/api/v1/stats: %d %s", code, body)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15); code != exitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
}

// TestE2EReloadConfig: SIGHUP applies a new log_level at once and names
// the changed keys that need a restart.
func TestE2EReloadConfig(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	write := func(level string, inflight int) {
		os.WriteFile(cfg, fmt.Appendf(nil, "data_dir = %q\nlog_level = %q\nmax_inflight_messages = %d\n[[listener]]\naddress = %q\n",
			filepath.Join(dir, "data"), level, inflight, addr), 0o600)
	}
	write("info", 32)
	p := startMidge(t, "serve", "--config", cfg)
	dialMidge(t, p, addr).Close()
	write("debug", 64)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool {
		s := p.stderr.String()
		return strings.Contains(s, `msg="log level changed" from=info to=debug`) &&
			strings.Contains(s, "restart midge to apply it\" key=max_inflight_messages")
	})
	// Debug lines now appear.
	dialMidge(t, p, addr).Close()
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "level=DEBUG") })
}
