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

// TestE2EReloadConfig: SIGHUP applies a new log_level and new limits at
// once, and refuses, naming it, a key that takes a restart; the admin API
// shows the limits and reloads the file too.
func TestE2EReloadConfig(t *testing.T) {
	dir := t.TempDir()
	addr, httpAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	write := func(level string, inflight int, listen string) {
		os.WriteFile(cfg, fmt.Appendf(nil, "data_dir = %q\nlog_level = %q\nmax_inflight_messages = %d\n"+
			"http_listen = %q\nadmin_token = \"s3cret\"\n[[listener]]\naddress = %q\n",
			filepath.Join(dir, "data"), level, inflight, httpAddr, listen), 0o600)
	}
	write("info", 32, addr)
	p := startMidge(t, "serve", "--config", cfg)
	dialMidge(t, p, addr).Close()
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+httpAddr+path, nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		var resp *http.Response
		var err error
		waitFor(t, func() bool { resp, err = client.Do(req); return err == nil })
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("GET", "/api/v1/limits"); code != 200 || !strings.Contains(body, `"max_inflight_messages":32`) {
		t.Fatalf("GET /api/v1/limits: %d %s", code, body)
	}

	write("debug", 64, freeAddr(t))
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool {
		s := p.stderr.String()
		return strings.Contains(s, `msg="log level changed" from=info to=debug`) &&
			strings.Contains(s, `msg="configuration key applied" key=max_inflight_messages from=32 to=64`) &&
			strings.Contains(s, `cannot change while midge runs; restart midge to apply it" key=listener`)
	})
	// Debug lines now appear, the broker runs with the new window, and it
	// still listens where it started.
	dialMidge(t, p, addr).Close()
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "level=DEBUG") })
	if code, body := call("GET", "/api/v1/limits"); code != 200 ||
		!strings.Contains(body, `"max_inflight_messages":64`) || !strings.Contains(body, `"log_level":"debug"`) {
		t.Fatalf("GET /api/v1/limits after SIGHUP: %d %s", code, body)
	}

	// The API reloads the file the same way: the listener is still refused.
	write("info", 64, freeAddr(t))
	code, body := call("POST", "/api/v1/reload")
	if code != 200 || body != `{"applied":["log_level"],"refused":["listener"]}`+"\n" {
		t.Fatalf("POST /api/v1/reload: %d %s", code, body)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15); code != exitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
}
