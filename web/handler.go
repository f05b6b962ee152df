package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/midgemq/midge/broker"
)

// MaxBodyBytes bounds the body of an admin API request; a larger body is
// refused with 413.
const MaxBodyBytes = 1 << 20

// Options configure a Handler. The zero value serves metrics and health
// checks, and no admin API.
type Options struct {
	// Token is the bearer token of the admin API: each request under
	// /api/ must carry "Authorization: Bearer <Token>". Empty turns the
	// admin API off: every path under /api/ answers 404.
	Token string

	// Logger receives the Handler's logs. Nil means slog.Default().
	Logger *slog.Logger

	// Version names the running Midge in midge_build_info and
	// /api/v1/stats. Empty means "unknown".
	Version string

	// Ready reports whether the broker serves clients, for /readyz. Nil
	// means ready whenever the Handler serves.
	Ready func() bool

	// Metrics counts authentication failures (through the Authenticator
	// it wrapped for broker.New) and admin publishes for /metrics. Nil
	// means a new Metrics: its series are exported at zero when nothing
	// feeds them, so that the set of metric names does not depend on the
	// wiring.
	Metrics *Metrics

	// LogLevel is the level of the broker's logs, shown and changed as
	// log_level by GET and PUT /api/v1/limits. Nil leaves log_level out.
	LogLevel *slog.LevelVar

	// Reload reads the configuration again and applies what may change
	// while the broker runs, for POST /api/v1/reload, as SIGHUP does for
	// the midge command. Nil answers that endpoint with 409.
	Reload func() (ReloadResult, error)
}

// Handler serves Midge's HTTP endpoints for one broker.Server; see the
// package documentation for the list. Create one with New. It is safe for
// concurrent use.
type Handler struct {
	srv     *broker.Server
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	// tokenHash is the SHA-256 of Options.Token, nil when the admin API is
	// off. Hashing first makes the comparison constant-time whatever the
	// lengths.
	tokenHash []byte
	// root serves the paths outside /api/; api serves the admin API
	// behind authentication.
	root *http.ServeMux
	api  *http.ServeMux
	// patterns lists every pattern registered on root and api, for tests.
	patterns []string
	// limitsMu serialises PUT /api/v1/limits.
	limitsMu sync.Mutex
}

// New returns a Handler for srv. It registers the Go runtime and process
// collectors in a registry of its own, so that several Handlers may exist
// in one process.
func New(srv *broker.Server, o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Version == "" {
		o.Version = "unknown"
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	h := &Handler{
		srv:     srv,
		opts:    o,
		log:     o.Logger,
		metrics: o.Metrics,
		root:    http.NewServeMux(),
		api:     http.NewServeMux(),
	}
	if o.Token != "" {
		sum := sha256.Sum256([]byte(o.Token))
		h.tokenHash = sum[:]
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		o.Metrics,
		&statsCollector{srv: srv, version: o.Version},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{h.log},
		ErrorHandling: promhttp.ContinueOnError,
	})

	h.handle(h.root, "GET /metrics", metrics)
	h.handle(h.root, "GET /healthz", http.HandlerFunc(h.healthz))
	h.handle(h.root, "GET /readyz", http.HandlerFunc(h.readyz))
	for _, rt := range h.apiRoutes() {
		h.handle(h.api, rt.pattern, rt.handler)
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.EscapedPath(), "/api/") {
		// Not through root: its redirect to the cleaned path would make a
		// client that follows a 307 for DELETE /api/v1/retained/a//b
		// delete "a/b".
		h.serveAPI(w, r)
		return
	}
	h.root.ServeHTTP(w, r)
}

func (h *Handler) handle(mux *http.ServeMux, pattern string, handler http.Handler) {
	mux.Handle(pattern, handler)
	h.patterns = append(h.patterns, pattern)
}

// healthz answers 200 for as long as the process serves HTTP.
func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok\n")
}

// readyz answers 200 when Options.Ready says the broker serves, 503
// otherwise.
func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	if h.opts.Ready != nil && !h.opts.Ready() {
		writeText(w, http.StatusServiceUnavailable, "not ready\n")
		return
	}
	writeText(w, http.StatusOK, "ready\n")
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s))
}

// serveAPI authenticates a request under /api/ and passes it to the admin
// API's mux.
func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.tokenHash == nil {
		h.writeError(w, r, http.StatusNotFound, "", "admin API disabled")
		return
	}
	if !h.authorized(r) {
		if h.log.Enabled(r.Context(), slog.LevelDebug) {
			h.log.Debug("admin api request unauthorized", "remote", r.RemoteAddr, "path", r.URL.Path)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="midge"`)
		h.writeError(w, r, http.StatusUnauthorized, "", "missing or wrong bearer token")
		return
	}
	if p := r.URL.EscapedPath(); cleanPath(p) != p {
		// The mux would redirect to the cleaned path instead.
		h.writeError(w, r, http.StatusBadRequest, "path",
			"path is not canonical: percent-encode '/' as %2F in topics and client ids")
		return
	}
	if _, pattern := h.api.Handler(r); pattern == "" {
		h.noRoute(w, r)
		return
	}
	h.api.ServeHTTP(w, r)
}

// authorized reports whether r carries the admin token.
func (h *Handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(sum[:], h.tokenHash) == 1
}

// probeMethods are the methods tried to tell 405 from 404.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// noRoute answers a request that no admin route matches: 405 with Allow
// when the path exists for other methods, 404 otherwise. The mux would do
// the same, but in plain text.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.api.Handler(probe); pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		h.writeError(w, r, http.StatusNotFound, "", "no such endpoint")
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	h.writeError(w, r, http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s not allowed", r.Method))
}

// cleanPath is p as http.ServeMux canonicalizes it: rooted, without "."
// and ".." elements or repeated slashes, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// apiError is the body of every admin API error.
type apiError struct {
	Error string `json:"error"`
	// Field names the request field (JSON member or query parameter) that
	// caused a 400, when there is one.
	Field string `json:"field,omitempty"`
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, status int, field, msg string) {
	h.writeJSON(w, r, status, apiError{Error: msg, Field: field})
}

// writeJSON writes v as the response body with status.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The client went away; the status is sent already.
		h.log.Debug("admin api response not written", "path", r.URL.Path, "err", err)
	}
}

// promLogger passes promhttp's errors to slog.
type promLogger struct{ log *slog.Logger }

// Println implements promhttp.Logger.
func (l promLogger) Println(v ...any) {
	l.log.Error("metrics scrape failed", "err", fmt.Sprint(v...))
}
