//go:build linux

package listener_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/midgemq/midge/listener"
)

// mqttJSVersion is the release of MQTT.js, the MQTT client of web apps,
// that TestBrowserMQTTJS runs. It is pinned so that runs are repeatable and
// a cached copy needs no registry lookup; an upgrade changes only this.
const mqttJSVersion = "5.16.0"

const (
	// browserTimeout bounds the browser's run, from its launch to the
	// page's report.
	browserTimeout = 60 * time.Second
	// npmTimeout bounds fetching MQTT.js from the registry.
	npmTimeout = 2 * time.Minute
	// maxBundle bounds the MQTT.js bundle read from its package.
	maxBundle = 16 << 20
	// maxBrowserOutput bounds the part of Chromium's output that a failed
	// test logs (its end).
	maxBrowserOutput = 32 << 10
)

// browserCases are the checks the page runs (testdata/browser/client.js),
// in order.
var browserCases = []string{"ws raw", "ws v4", "ws v5", "wss raw", "wss v4", "wss v5"}

// TestBrowserMQTTJS runs MQTT.js in headless Chromium against a broker's ws
// and wss listeners. The page first opens plain browser WebSockets to each
// listener: the handshake selects "mqtt" [MQTT-6.0.0-4], a CONNECT split
// over two messages gets its CONNACK [MQTT-6.0.0-2], a text message closes
// the connection with 1003 [MQTT-6.0.0-1], and a socket offering no
// subprotocol is refused [MQTT-6.0.0-3]. Then MQTT.js connects with MQTT
// 3.1.1 and 5.0 in turn, gets a retained message back through its QoS 1
// subscription, publishes to it at QoS 0, 1 and 2 (the last one 200,000
// characters, many WebSocket frames), and trades a message each way with a
// Paho client on the broker's TCP listener. The page POSTs its outcome to
// the test's HTTP server.
//
// Chromium (Debian's chromium package) and npm, which fetches MQTT.js once
// into the user's cache directory, must be installed: without them the test
// is skipped, or fails when the CI environment variable is set.
func TestBrowserMQTTJS(t *testing.T) {
	chromium := lookChromium(t)
	bundle := mqttJS(t)

	p := newPKI(t)
	ws := startWS(t, listener.WebSocketOptions{})
	wss := startWS(t, listener.WebSocketOptions{
		TLS: &listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile},
	})
	tcp := listen(t)
	startBroker(t, ws, wss, tcp)
	echo := startEcho(t, tcp.Addr().String())

	pg := servePage(t, bundle, pageConfig{WS: wsURL(ws, "ws", "/mqtt"), WSS: wsURL(wss, "wss", "/mqtt")})
	// Chromium trusts the test's server key, and no other, by the SHA-256
	// of its SubjectPublicKeyInfo; the flag needs --user-data-dir.
	pin := sha256.Sum256(p.server.Cert.RawSubjectPublicKeyInfo)
	trust := "--ignore-certificate-errors-spki-list=" + base64.StdEncoding.EncodeToString(pin[:])
	start := time.Now()
	b := startChromium(t, chromium, pg.url, trust)

	var r browserResult
	select {
	case r = <-pg.results:
	case <-b.exited:
		t.Fatalf("chromium exited before the page reported: %v", b.err)
	case <-time.After(browserTimeout):
		t.Fatalf("no report from the page after %s", browserTimeout)
	}
	t.Logf("the page reported after %s", time.Since(start).Round(time.Millisecond))

	if r.Error != "" {
		t.Errorf("page: %s", r.Error)
	}
	var names []string
	for _, c := range r.Cases {
		names = append(names, c.Name)
		if !c.OK {
			t.Errorf("%s: %s", c.Name, c.Error)
		}
	}
	if !slices.Equal(names, browserCases) {
		t.Errorf("the page ran %q, want %q", names, browserCases)
	}
	// What the browser sent reached the Go client.
	for _, name := range browserCases {
		scheme, version, _ := strings.Cut(name, " ")
		if version == "raw" {
			continue
		}
		topic := "browser/" + scheme + "/" + version + "/up"
		if got, want := echo.received(topic), "up "+name; got != want {
			t.Errorf("Go client got %q on %s, want %q", got, topic, want)
		}
	}
	for _, err := range echo.errors() {
		t.Errorf("Go client: %v", err)
	}
}

// unavailable skips the test for want of a tool or a download; when the CI
// environment variable is set it fails the test instead, since CI installs
// everything the tests need.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so the test fails instead of skipping)", msg)
	}
	t.Skip(msg)
}

// lookChromium returns the path of the Chromium command.
func lookChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	unavailable(t, "chromium is not installed (make deps installs Debian's chromium package)")
	return ""
}

// mqttJS returns dist/mqtt.min.js of the MQTT.js npm package, the bundle
// for browsers, which defines the global mqtt. It comes from the user's
// cache directory, or else from the npm registry through npm pack, and is
// then cached under the version.
func mqttJS(t *testing.T) []byte {
	t.Helper()
	cached := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cached = filepath.Join(dir, "midge-test", "mqtt.js@"+mqttJSVersion, "mqtt.min.js")
		if b, err := os.ReadFile(cached); err == nil && len(b) > 0 {
			return b
		}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable(t, "npm is not installed; it fetches MQTT.js %s from the npm registry", mqttJSVersion)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "pack", "mqtt@"+mqttJSVersion, "--pack-destination", dir,
		"--json", "--ignore-scripts")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false",
		"npm_config_audit=false")
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		unavailable(t, "npm pack mqtt@%s: %v\n%s", mqttJSVersion, err, stderr.Bytes())
	}
	var packed []struct {
		Filename string `json:"filename"`
		Version  string `json:"version"`
	}
	if err := json.Unmarshal(out, &packed); err != nil || len(packed) != 1 || packed[0].Version != mqttJSVersion {
		t.Fatalf("npm pack mqtt@%s printed %q (%v), want one package of that version", mqttJSVersion, out, err)
	}
	bundle, err := fileFromTarball(filepath.Join(dir, filepath.Base(packed[0].Filename)), "package/dist/mqtt.min.js")
	if err != nil {
		t.Fatalf("MQTT.js %s: %v", mqttJSVersion, err)
	}
	if cached != "" {
		if err := writeFileAtomic(cached, bundle); err != nil {
			t.Logf("MQTT.js not cached: %v", err)
		}
	}
	return bundle
}

// fileFromTarball returns the file called name in the gzipped tar archive
// at path.
func fileFromTarball(path, name string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s holds no %s", path, name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h.Name != name {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxBundle+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		if len(b) == 0 || len(b) > maxBundle {
			return nil, fmt.Errorf("%s: %s has %d bytes", path, name, len(b))
		}
		return b, nil
	}
}

// writeFileAtomic writes b to path through a temporary file and a rename,
// so that concurrent test runs never read a partial file.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// echoClient is a Paho client on the broker's TCP listener. It answers
// every message on browser/<scheme>/<version>/up with "echo <payload>" on
// browser/<scheme>/<version>/down, and remembers what it received.
type echoClient struct {
	// mu guards got and errs.
	mu   sync.Mutex
	got  map[string]string // payload by topic
	errs []error
}

func startEcho(t *testing.T, addr string) *echoClient {
	t.Helper()
	e := &echoClient{got: make(map[string]string)}
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID("midge-go-echo").
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(testTimeout).
		// Each message is handled on its own goroutine, which may then
		// wait for its answer to be acknowledged.
		SetOrderMatters(false)
	c := mqtt.NewClient(o)
	waitToken(t, c.Connect())
	t.Cleanup(func() { c.Disconnect(250) })
	waitToken(t, c.Subscribe("browser/+/+/up", 1, func(c mqtt.Client, m mqtt.Message) {
		e.mu.Lock()
		e.got[m.Topic()] = string(m.Payload())
		e.mu.Unlock()
		tok := c.Publish(strings.TrimSuffix(m.Topic(), "/up")+"/down", 1, false, "echo "+string(m.Payload()))
		err := errors.New("no PUBACK")
		if tok.WaitTimeout(testTimeout) {
			if err = tok.Error(); err == nil {
				return
			}
		}
		e.mu.Lock()
		e.errs = append(e.errs, fmt.Errorf("answer on %s: %w", m.Topic(), err))
		e.mu.Unlock()
	}))
	return e
}

// received returns the payload the client got on topic.
func (e *echoClient) received(topic string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got[topic]
}

func (e *echoClient) errors() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.errs)
}

// waitToken waits for a Paho token and fails the test on its error.
func waitToken(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(testTimeout) {
		t.Fatal("paho: token timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("paho: %v", err)
	}
}

// pageConfig is what the page reads from /config: the broker's URLs.
type pageConfig struct {
	WS  string `json:"ws"`
	WSS string `json:"wss"`
}

// browserResult is what the page POSTs to /result.
type browserResult struct {
	// Error is set when the page failed outside its cases.
	Error string `json:"error"`
	Cases []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"cases"`
}

// page is the HTTP server of the test page, on 127.0.0.1.
type page struct {
	url     string
	results chan browserResult // the first report

	// mu guards progress.
	mu       sync.Mutex
	progress []string
}

// servePage serves testdata/browser, the MQTT.js bundle as /mqtt.min.js,
// cfg as /config, and takes the page's progress lines (POST /log) and
// report (POST /result). A failed test logs the progress lines.
func servePage(t *testing.T, bundle []byte, cfg pageConfig) *page {
	t.Helper()
	pg := &page{results: make(chan browserResult, 1)}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(os.DirFS(filepath.Join("testdata", "browser"))))
	mux.HandleFunc("GET /mqtt.min.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(bundle)
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(cfg)
	})
	mux.HandleFunc("POST /log", func(w http.ResponseWriter, r *http.Request) {
		line, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		pg.mu.Lock()
		pg.progress = append(pg.progress, string(line))
		pg.mu.Unlock()
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		var res browserResult
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&res); err != nil {
			res = browserResult{Error: fmt.Sprintf("POST /result: %v", err)}
		}
		select {
		case pg.results <- res:
		default:
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			pg.mu.Lock()
			defer pg.mu.Unlock()
			t.Logf("the page's progress:\n%s", strings.Join(pg.progress, "\n"))
		}
	})
	pg.url = srv.URL + "/"
	return pg
}

// browser is a running Chromium.
type browser struct {
	exited chan struct{} // closed when the Chromium process has ended
	err    error         // its Wait result; read after exited is closed
	out    bytes.Buffer  // its stdout and stderr; read after exited is closed
}

// startChromium runs headless Chromium on url with a new profile, in a
// process group of its own. When the test ends the whole group is killed,
// and a failed test logs the end of Chromium's output.
func startChromium(t *testing.T, path, url string, flags ...string) *browser {
	t.Helper()
	// Chromium's profile, configuration and caches all go under dir, and
	// so every Chromium process names dir on its command line.
	dir := t.TempDir()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		// Chromium reaches for Google's services at start; on a closed
		// network those connections are refused and it misbehaves.
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
	}
	args = append(append(args, flags...), url)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	b := &browser{exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &b.out, &b.out
	// Pdeathsig kills the browser process if the test binary dies before
	// its cleanup; its helper processes end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", path, err)
	}
	go func() {
		b.err = cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-b.exited
		// A helper left behind by a browser process that ended by itself
		// still has the group's id.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		// The crash handler runs in a session of its own, beyond the
		// group: every process naming dir is killed until none is left.
		if left := killNaming(dir, 5*time.Second); len(left) > 0 {
			t.Errorf("chromium processes %v outlived the test", left)
		}
		if t.Failed() {
			out := b.out.Bytes()
			if len(out) > maxBrowserOutput {
				out = out[len(out)-maxBrowserOutput:]
			}
			t.Logf("chromium (%v):\n%s", b.err, out)
		}
	})
	return b
}

// killNaming kills every process whose command line contains s, again and
// again until none is left or d has passed, and returns the pids left.
// Dead processes not yet reaped have an empty command line.
func killNaming(s string, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			pid, err := strconv.Atoi(p.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
			if err == nil && bytes.Contains(cmdline, []byte(s)) {
				syscall.Kill(pid, syscall.SIGKILL)
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}
