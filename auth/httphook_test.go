package auth

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/packet"
)

// hookServer is a test backend: it records each request and answers with
// the handler's status and body.
type hookServer struct {
	*httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	last  map[string]any // the last request body, guarded by mu
}

// newHookServer starts a backend on 127.0.0.1 whose answer is
// answer(request body).
func newHookServer(t *testing.T, answer func(req map[string]any) (int, string)) *hookServer {
	t.Helper()
	s := &hookServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		var req map[string]any
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.last = req
		s.mu.Unlock()
		code, body := answer(req)
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) lastRequest() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// newTestHook returns a hook to url that logs into the returned buffer.
func newTestHook(t *testing.T, opts HTTPHookOptions) (*HTTPHook, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	h, err := NewHTTPHook(opts)
	if err != nil {
		t.Fatalf("NewHTTPHook: %v", err)
	}
	t.Cleanup(h.Close)
	return h, logs
}

// hookClient is the client the hook tests authenticate.
func hookClient() *broker.ClientInfo {
	return &broker.ClientInfo{ClientID: "sensor-1", Username: "alice", Version: packet.V5,
		Remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 50312}}
}

func TestHTTPHookAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   error // errors.Is; nil means let in
		code   packet.ReasonCode
		grants bool
	}{
		{name: "allow", status: 200, body: `{"result":"allow"}`},
		{name: "allow-with-grants", status: 200, body: `{"result":"allow","grants":{"publish":["devices/%u/up"],"subscribe":["devices/%u/down"]}}`, grants: true},
		{name: "allow-unknown-fields", status: 200, body: `{"result":"allow","ttl":30}`},
		{name: "deny", status: 200, body: `{"result":"deny"}`, want: ErrHookDenied, code: packet.BadUserNameOrPassword},
		{name: "401", status: 401, body: ``, want: ErrHookDenied, code: packet.BadUserNameOrPassword},
		{name: "403", status: 403, body: `{"result":"allow"}`, want: ErrHookForbidden, code: packet.NotAuthorized},
		{name: "ignore", status: 200, body: `{"result":"ignore"}`, want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
		{name: "500", status: 500, body: `{"result":"allow"}`, want: ErrHookUnavailable, code: packet.ServerUnavailable},
		{name: "204", status: 204, body: ``, want: ErrHookUnavailable, code: packet.ServerUnavailable},
		{name: "not-json", status: 200, body: `allow`, want: ErrHookUnavailable, code: packet.ServerUnavailable},
		{name: "unknown-result", status: 200, body: `{"result":"maybe"}`, want: ErrHookUnavailable, code: packet.ServerUnavailable},
		{name: "no-result", status: 200, body: `{}`, want: ErrHookUnavailable, code: packet.ServerUnavailable},
		{name: "invalid-grant", status: 200, body: `{"result":"allow","grants":{"subscribe":["a/#/b"]}}`, want: ErrHookUnavailable, code: packet.ServerUnavailable},
		{name: "too-large", status: 200, body: `{"result":"allow","x":"` + strings.Repeat("x", maxHookResponse) + `"}`, want: ErrHookUnavailable, code: packet.ServerUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHookServer(t, func(map[string]any) (int, string) { return tc.status, tc.body })
			h, logs := newTestHook(t, HTTPHookOptions{URL: srv.URL + "/auth"})
			c := hookClient()
			err := h.Authenticate(context.Background(), c, []byte("s3cret-pw"))
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := reasonCode(err); got != tc.code {
				t.Fatalf("reason code %v, want %v", got, tc.code)
			}
			if _, ok := c.Grants.(*Grants); ok != tc.grants {
				t.Fatalf("grants %v, want set %v", c.Grants, tc.grants)
			}
			if tc.grants && !c.Grants.(*Grants).Allows(c, broker.ActionPublish, "devices/alice/up") {
				t.Fatal("granted publish refused")
			}
			// Hard errors are logged, refusals not; passwords never.
			if logged := strings.Contains(logs.String(), "http auth hook failed"); logged != errors.Is(tc.want, ErrHookUnavailable) {
				t.Fatalf("logged %v:\n%s", logged, logs)
			}
			if strings.Contains(logs.String(), "s3cret") {
				t.Fatalf("password logged:\n%s", logs)
			}
		})
	}
}

func TestHTTPHookRequest(t *testing.T) {
	srv := newHookServer(t, func(map[string]any) (int, string) { return 200, `{"result":"allow"}` })
	h, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL})
	for _, tc := range []struct {
		name     string
		password []byte
		want     map[string]any
	}{
		{name: "password", password: []byte("s3cret"), want: map[string]any{"password": "s3cret"}},
		{name: "empty-password", password: []byte{}, want: map[string]any{"password": ""}},
		{name: "no-password", password: nil, want: map[string]any{}},
		{name: "binary-password", password: []byte{0xff, 0x00, 0xfe}, want: map[string]any{"password_base64": "/wD+"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.Authenticate(context.Background(), hookClient(), tc.password); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"client_id": "sensor-1", "username": "alice",
				"remote_addr": "192.0.2.7:50312", "protocol_version": float64(5)}
			for k, v := range tc.want {
				want[k] = v
			}
			got := srv.lastRequest()
			if len(got) != len(want) {
				t.Fatalf("request %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("request %v, want %v", got, want)
				}
			}
		})
	}
}

// TestHTTPHookChain: "ignore" and refusals pass the client on, and a failing
// backend stops the chain, so it never lets anyone in.
func TestHTTPHookChain(t *testing.T) {
	var answer atomic.Value
	srv := newHookServer(t, func(map[string]any) (int, string) {
		a := answer.Load().([2]any)
		return a[0].(int), a[1].(string)
	})
	h, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL})
	next := &stub{}
	ch := Chain(h, next)
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		nextAsked bool
		ok        bool
	}{
		{name: "allow", status: 200, body: `{"result":"allow"}`, ok: true},
		{name: "ignore", status: 200, body: `{"result":"ignore"}`, nextAsked: true, ok: true},
		{name: "deny", status: 200, body: `{"result":"deny"}`, nextAsked: true, ok: true},
		{name: "503", status: 503, body: ``},
		{name: "garbage", status: 200, body: `<html>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer.Store([2]any{tc.status, tc.body})
			next.calls = 0
			err := authenticate(ch, "alice", []byte("pw"))
			if (err == nil) != tc.ok || (next.calls == 1) != tc.nextAsked {
				t.Fatalf("err %v, next asked %d times; want ok %v, asked %v", err, next.calls, tc.ok, tc.nextAsked)
			}
		})
	}
}

// TestHTTPHookNoRedirect: a redirect is a failed check, and the password is
// not sent to where it points.
func TestHTTPHookNoRedirect(t *testing.T) {
	other := newHookServer(t, func(map[string]any) (int, string) { return 200, `{"result":"allow"}` })
	srv := httptest.NewServer(http.RedirectHandler(other.URL, http.StatusTemporaryRedirect))
	t.Cleanup(srv.Close)
	h, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL})
	if err := authenticate(h, "alice", []byte("pw")); !errors.Is(err, ErrHookUnavailable) {
		t.Fatalf("err = %v, want ErrHookUnavailable", err)
	}
	if n := other.calls.Load(); n != 0 {
		t.Fatalf("redirect followed: %d requests", n)
	}
}

func TestHTTPHookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	h, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL, Timeout: 100 * time.Millisecond})
	start := time.Now()
	err := authenticate(h, "alice", []byte("pw"))
	if !errors.Is(err, ErrHookUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrHookUnavailable and a deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s with a 100ms timeout", d)
	}
	// The broker's own deadline (its connect timeout) counts too.
	h2, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h2.Authenticate(ctx, hookClient(), []byte("pw")); reasonCode(err) != packet.ServerUnavailable {
		t.Fatalf("err = %v, want ServerUnavailable", err)
	}
}

// TestHTTPHookConcurrency: no more than MaxConcurrent requests are in
// flight; the others wait for a slot.
func TestHTTPHookConcurrency(t *testing.T) {
	const limit, clients = 2, 6
	var inFlight, peak atomic.Int32
	arrived := make(chan struct{}, clients)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		arrived <- struct{}{}
		<-release
		inFlight.Add(-1)
		io.WriteString(w, `{"result":"allow"}`)
	}))
	t.Cleanup(srv.Close)
	h, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL, MaxConcurrent: limit, Timeout: 30 * time.Second})
	errs := make(chan error, clients)
	for range clients {
		go func() { errs <- authenticate(h, "alice", []byte("pw")) }()
	}
	for range limit {
		<-arrived
	}
	// The slots are full: no third request reaches the backend.
	select {
	case <-arrived:
		t.Fatal("a request beyond MaxConcurrent reached the backend")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p > limit {
		t.Fatalf("%d requests in flight, limit %d", p, limit)
	}
}

func TestHTTPHookCache(t *testing.T) {
	var answer atomic.Value
	answer.Store(`{"result":"allow","grants":{"publish":["a"]}}`)
	srv := newHookServer(t, func(map[string]any) (int, string) { return 200, answer.Load().(string) })
	h, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL, CacheTTL: time.Minute})
	now := testNow
	h.now = func() time.Time { return now }
	auth := func(c *broker.ClientInfo, pw string) error {
		return h.Authenticate(context.Background(), c, []byte(pw))
	}
	c := hookClient()
	if err := auth(c, "pw"); err != nil {
		t.Fatal(err)
	}
	// Same credentials from another port: answered from the cache, with
	// the same grants.
	again := hookClient()
	again.Remote = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 1}
	if err := auth(again, "pw"); err != nil || srv.calls.Load() != 1 {
		t.Fatalf("err %v after %d calls, want nil after 1", err, srv.calls.Load())
	}
	if _, ok := again.Grants.(*Grants); !ok {
		t.Fatalf("cached answer lost its grants: %v", again.Grants)
	}
	// Another password, or another address, is asked again.
	if err := auth(hookClient(), "other"); err != nil || srv.calls.Load() != 2 {
		t.Fatalf("other password: err %v, %d calls", err, srv.calls.Load())
	}
	elsewhere := hookClient()
	elsewhere.Remote = &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 50312}
	if err := auth(elsewhere, "pw"); err != nil || srv.calls.Load() != 3 {
		t.Fatalf("other address: err %v, %d calls", err, srv.calls.Load())
	}
	// Refusals are not cached.
	answer.Store(`{"result":"deny"}`)
	for range 2 {
		if err := auth(hookClient(), "denied"); !errors.Is(err, ErrHookDenied) {
			t.Fatalf("deny: %v", err)
		}
	}
	if n := srv.calls.Load(); n != 5 {
		t.Fatalf("%d calls, want 5: a refusal was cached", n)
	}
	// After the TTL, the backend is asked again, and its refusal holds.
	now = now.Add(time.Minute)
	if err := auth(hookClient(), "pw"); !errors.Is(err, ErrHookDenied) {
		t.Fatalf("after the ttl: %v", err)
	}
	// Reload empties the cache.
	answer.Store(`{"result":"allow"}`)
	if err := auth(hookClient(), "pw"); err != nil {
		t.Fatal(err)
	}
	if h.cache.len() == 0 {
		t.Fatal("allow not cached")
	}
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := h.cache.len(); n != 0 {
		t.Fatalf("%d entries after Reload", n)
	}
}

func TestHookCacheBound(t *testing.T) {
	hc := newHookCache()
	now := testNow
	for i := range MaxHTTPHookCacheEntries {
		hc.put(hookCacheKey{byte(i), byte(i >> 8)}, nil, now, time.Minute)
	}
	full := hookCacheKey{0xff, 0xff, 0xff}
	hc.put(full, nil, now, time.Minute)
	if _, ok := hc.get(full, now); ok || hc.len() != MaxHTTPHookCacheEntries {
		t.Fatalf("full cache took another entry: %d entries", hc.len())
	}
	// Once the entries have expired, a new one replaces them.
	later := now.Add(time.Minute)
	hc.put(full, nil, later, time.Minute)
	if _, ok := hc.get(full, later); !ok || hc.len() != 1 {
		t.Fatalf("expired entries kept: %d entries", hc.len())
	}
}

// TestHTTPHookTLS: an https backend is trusted through the CA file.
func TestHTTPHookTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"result":"allow"}`)
	}))
	t.Cleanup(srv.Close)
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	h, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL, CAFile: ca})
	if err := authenticate(h, "alice", []byte("pw")); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	if err := h.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := authenticate(h, "alice", []byte("pw")); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	untrusting, _ := newTestHook(t, HTTPHookOptions{URL: srv.URL})
	if err := authenticate(untrusting, "alice", []byte("pw")); !errors.Is(err, ErrHookUnavailable) {
		t.Fatalf("without the CA file: %v", err)
	}
}

func TestNewHTTPHookErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts HTTPHookOptions
		want string
	}{
		{name: "no-url", opts: HTTPHookOptions{}, want: "http or https"},
		{name: "ftp", opts: HTTPHookOptions{URL: "ftp://auth.example/"}, want: "http or https"},
		{name: "no-host", opts: HTTPHookOptions{URL: "http:///auth"}, want: "no host"},
		{name: "ca-with-http", opts: HTTPHookOptions{URL: "http://auth.example/", CAFile: "ca.pem"}, want: "https"},
		{name: "missing-ca", opts: HTTPHookOptions{URL: "https://auth.example/", CAFile: "/nonexistent/ca.pem"}, want: "no such file"},
		{name: "negative-timeout", opts: HTTPHookOptions{URL: "http://auth.example/", Timeout: -1}, want: "timeout"},
		{name: "negative-concurrency", opts: HTTPHookOptions{URL: "http://auth.example/", MaxConcurrent: -1}, want: "concurrent"},
		{name: "password-not-in-error", opts: HTTPHookOptions{URL: "ftp://user:s3cret@auth.example/"}, want: "xxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHTTPHook(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
