package web

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
)

const testToken = "s3cret-token"

// env is a broker on 127.0.0.1 with a Handler served by an httptest.Server.
type env struct {
	b       *testbroker.Broker
	m       *Metrics
	h       *Handler
	url     string
	client  *http.Client
	options Options
}

// start starts a broker with bo and a Handler with o, wired as the package
// documentation says: the Metrics first, then the broker, then the Handler.
func start(t *testing.T, bo broker.Options, o Options) *env {
	t.Helper()
	m := NewMetrics()
	bo.Authenticator = m.WrapAuthenticator(bo.Authenticator)
	if bo.SysInterval == 0 {
		bo.SysInterval = -1
	}
	b := testbroker.Start(t, bo)
	o.Metrics = m
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	h := New(b.Server, o)
	return &env{b: b, m: m, h: h, url: newTestServer(t, h), client: &http.Client{Timeout: 10 * time.Second}, options: o}
}

// newTestServer serves h on 127.0.0.1 until the test ends and returns its
// base URL.
func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// response is what do got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// apiErr decodes the body as an admin API error.
func (r response) apiErr(t *testing.T) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if e.Error == "" {
		t.Fatalf("error body %q has no error", r.body)
	}
	return e
}

// do sends a request with the bearer token (none when token is empty) and
// reads the whole response.
func (e *env) do(t *testing.T, method, path, token string, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// getJSON GETs path with the token, expects 200 and decodes the body into v.
func (e *env) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	r := e.do(t, http.MethodGet, path, testToken, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", path, r.body, err)
	}
}

func TestHealthz(t *testing.T) {
	e := start(t, broker.Options{}, Options{})
	r := e.do(t, http.MethodGet, "/healthz", "", nil)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "ok" {
		t.Fatalf("GET /healthz: %d %q", r.status, r.body)
	}
	if r := e.do(t, http.MethodPost, "/healthz", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz: %d", r.status)
	}
}

func TestReadyz(t *testing.T) {
	var ready atomic.Bool
	e := start(t, broker.Options{}, Options{Ready: ready.Load})
	if r := e.do(t, http.MethodGet, "/readyz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("not ready: GET /readyz: %d %q", r.status, r.body)
	}
	ready.Store(true)
	if r := e.do(t, http.MethodGet, "/readyz", "", nil); r.status != http.StatusOK {
		t.Fatalf("ready: GET /readyz: %d %q", r.status, r.body)
	}

	// Without a Ready func the broker counts as ready.
	e = start(t, broker.Options{}, Options{})
	if r := e.do(t, http.MethodGet, "/readyz", "", nil); r.status != http.StatusOK {
		t.Fatalf("nil Ready: GET /readyz: %d %q", r.status, r.body)
	}
}

// adminRequests is one request to each admin route.
var adminRequests = []struct {
	method, path string
	body         []byte
}{
	{method: http.MethodGet, path: "/api/v1/stats"},
	{method: http.MethodGet, path: "/api/v1/clients"},
	{method: http.MethodGet, path: "/api/v1/clients/dev"},
	{method: http.MethodDelete, path: "/api/v1/clients/dev"},
	{method: http.MethodGet, path: "/api/v1/retained"},
	{method: http.MethodDelete, path: "/api/v1/retained/a/b"},
	{method: http.MethodPost, path: "/api/v1/publish", body: []byte(`{"topic":"a/b","payload":"x"}`)},
	{method: http.MethodGet, path: "/api/v1/no-such-endpoint"},
}

func TestAdminAuthentication(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	tests := []struct {
		name   string
		header string
	}{
		{name: "no header"},
		{name: "wrong token", header: "Bearer not-the-token"},
		{name: "token prefix", header: "Bearer " + testToken[:4]},
		{name: "token with suffix", header: "Bearer " + testToken + "x"},
		{name: "basic scheme", header: "Basic " + testToken},
		{name: "token without scheme", header: testToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, ar := range adminRequests {
				req, err := http.NewRequest(ar.method, e.url+ar.path, bytes.NewReader(ar.body))
				if err != nil {
					t.Fatal(err)
				}
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				resp, err := e.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s %s: %d %s, want 401", ar.method, ar.path, resp.StatusCode, b)
				}
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("%s %s: WWW-Authenticate %q", ar.method, ar.path, resp.Header.Get("WWW-Authenticate"))
				}
				response{status: resp.StatusCode, body: b}.apiErr(t)
			}
		})
	}
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	req, _ := http.NewRequest(http.MethodGet, e.url+"/api/v1/stats", nil)
	req.Header.Set("Authorization", "bearer "+testToken)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lower-case scheme: %d", resp.StatusCode)
	}
	// Nothing was done by the refused requests.
	if n := e.m.adminPublishes.Load(); n != 0 {
		t.Fatalf("%d admin publishes after refused requests", n)
	}
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	e := start(t, broker.Options{}, Options{})
	for _, token := range []string{"", testToken} {
		for _, ar := range adminRequests {
			r := e.do(t, ar.method, ar.path, token, ar.body)
			if r.status != http.StatusNotFound {
				t.Fatalf("token %q: %s %s: %d %s, want 404", token, ar.method, ar.path, r.status, r.body)
			}
			r.apiErr(t)
		}
	}
	// Metrics and health do not depend on the token.
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if r := e.do(t, http.MethodGet, p, "", nil); r.status != http.StatusOK {
			t.Fatalf("GET %s: %d", p, r.status)
		}
	}
}

func TestAdminUnknownRouteAndMethod(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	tests := []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{name: "unknown path", method: http.MethodGet, path: "/api/v1/nope", status: http.StatusNotFound},
		{name: "unknown version", method: http.MethodGet, path: "/api/v2/stats", status: http.StatusNotFound},
		{name: "api root", method: http.MethodGet, path: "/api/", status: http.StatusNotFound},
		{name: "GET publish", method: http.MethodGet, path: "/api/v1/publish", status: http.StatusMethodNotAllowed,
			allow: "POST"},
		{name: "POST stats", method: http.MethodPost, path: "/api/v1/stats", status: http.StatusMethodNotAllowed,
			allow: "GET"},
		{name: "PUT client", method: http.MethodPut, path: "/api/v1/clients/x", status: http.StatusMethodNotAllowed,
			allow: "GET, DELETE"},
		{name: "non-canonical path", method: http.MethodDelete, path: "/api/v1/retained//lead",
			status: http.StatusBadRequest},
		{name: "dot level", method: http.MethodDelete, path: "/api/v1/retained/a/../b", status: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, testToken, nil)
			if r.status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
			r.apiErr(t)
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "", want: "/"},
		{in: "/", want: "/"},
		{in: "/a/b", want: "/a/b"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "/a//b", want: "/a/b"},
		{in: "/a/./b", want: "/a/b"},
		{in: "/a/../b", want: "/b"},
		{in: "/a/%2F/b", want: "/a/%2F/b"},
		{in: "a", want: "/a"},
	}
	for _, tc := range tests {
		if got := cleanPath(tc.in); got != tc.want {
			t.Errorf("cleanPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
