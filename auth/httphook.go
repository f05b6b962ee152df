package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/midgemq/midge/broker"
)

var _ broker.Authenticator = (*HTTPHook)(nil)

// Defaults and bounds of an HTTPHook.
const (
	// DefaultHTTPHookTimeout is the default of HTTPHookOptions.Timeout.
	DefaultHTTPHookTimeout = 5 * time.Second
	// DefaultHTTPHookConcurrency is the default of
	// HTTPHookOptions.MaxConcurrent.
	DefaultHTTPHookConcurrency = 16
	// MaxHTTPHookCacheEntries bounds the cache of an HTTPHook; when it is
	// full and no entry has expired, a new answer is not cached.
	MaxHTTPHookCacheEntries = 10000
	// maxHookResponse bounds the body of the backend's answer.
	maxHookResponse = 64 << 10
)

// HTTPHookOptions configures NewHTTPHook.
type HTTPHookOptions struct {
	// URL is where the hook POSTs each check: an http or https URL.
	URL string

	// CAFile is a PEM file of the CAs that sign the certificate of an
	// https URL's server; "" means the system's roots. It is read again by
	// Reload.
	CAFile string

	// Timeout bounds one check, from waiting for a free request slot to
	// reading the answer. Zero means DefaultHTTPHookTimeout (5s); it must
	// not be negative.
	Timeout time.Duration

	// MaxConcurrent bounds the requests in flight at once; a check waits
	// for a free slot within its Timeout. Zero means
	// DefaultHTTPHookConcurrency (16); it must not be negative.
	MaxConcurrent int

	// CacheTTL is how long an "allow" answer is reused for the same
	// client id, user name, password, remote IP address and protocol
	// version without asking the backend again. Zero, the default, means
	// no cache; refusals and errors are never cached.
	CacheTTL time.Duration

	// Logger receives a warning for each check that failed (the backend
	// could not be reached, answered an unexpected status, or something
	// that is not a valid answer); nil means slog.Default(). Passwords are
	// never logged.
	Logger *slog.Logger
}

// HTTPHook is a broker.Authenticator that asks an HTTP backend whether a
// client may connect. For each CONNECT it POSTs a JSON object:
//
//	{"client_id": "sensor-1", "username": "alice", "password": "secret",
//	 "remote_addr": "192.0.2.7:50312", "protocol_version": 5}
//
// "password" is left out when the client sent none; a password that is not
// valid UTF-8 is sent base64-encoded as "password_base64" instead.
// protocol_version is the CONNECT's protocol level: 3 (MQTT 3.1), 4 (3.1.1)
// or 5 (5.0). The backend answers:
//
//   - 200 with {"result": "allow"}: the client is let in. The answer may
//     add "grants": {"publish": [...], "subscribe": [...]}, topic filters
//     as in a token (see Grants), stored in broker.ClientInfo.Grants for
//     WithGrants.
//   - 200 with {"result": "deny"}, or 401: refused with ErrHookDenied
//     (BadUserNameOrPassword); 403: refused with ErrHookForbidden
//     (NotAuthorized).
//   - 200 with {"result": "ignore"}: the client is not the backend's to
//     decide; refused with ErrBadCredentials, so a Chain asks the next
//     authenticator.
//   - Anything else (another status, a redirect, a body that is not such
//     an object, grants that are not valid filters), no answer within the
//     timeout, or a transport error: the check failed, and Authenticate
//     returns an error that wraps ErrHookUnavailable (ServerUnavailable),
//     which stops a Chain: a failing backend never lets anyone in.
//
// Redirects are not followed, so the password only ever goes to URL.
// Authenticate may be called from many goroutines at once, also while
// Reload runs.
type HTTPHook struct {
	url     string
	opts    HTTPHookOptions
	log     *slog.Logger
	timeout time.Duration
	// sem holds a token per request in flight.
	sem chan struct{}
	// now returns the current time for the cache; nil means time.Now.
	now func() time.Time

	// reloadMu serializes Reload.
	reloadMu sync.Mutex
	// client is the HTTP client for the current CA file. Authenticate
	// loads it without a lock; Reload replaces it.
	client atomic.Pointer[http.Client]

	cache *hookCache
}

// NewHTTPHook checks opts, reads the CA file if any, and returns the hook.
func NewHTTPHook(opts HTTPHookOptions) (*HTTPHook, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("auth: http hook: url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("auth: http hook: url %q: want an http or https URL", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("auth: http hook: url %q: no host", u.Redacted())
	case opts.CAFile != "" && u.Scheme != "https":
		return nil, fmt.Errorf("auth: http hook: a CA file is for an https URL, not %q", u.Redacted())
	case opts.Timeout < 0:
		return nil, fmt.Errorf("auth: http hook: negative timeout %s", opts.Timeout)
	case opts.MaxConcurrent < 0:
		return nil, fmt.Errorf("auth: http hook: negative max concurrent %d", opts.MaxConcurrent)
	case opts.CacheTTL < 0:
		return nil, fmt.Errorf("auth: http hook: negative cache ttl %s", opts.CacheTTL)
	}
	h := &HTTPHook{url: u.String(), opts: opts, log: opts.Logger, timeout: opts.Timeout}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.timeout == 0 {
		h.timeout = DefaultHTTPHookTimeout
	}
	n := opts.MaxConcurrent
	if n == 0 {
		n = DefaultHTTPHookConcurrency
	}
	h.sem = make(chan struct{}, n)
	if opts.CacheTTL > 0 {
		h.cache = newHookCache()
	}
	c, err := h.newClient()
	if err != nil {
		return nil, err
	}
	h.client.Store(c)
	return h, nil
}

// URL returns the URL the hook posts to, with any password in it masked.
func (h *HTTPHook) URL() string {
	u, err := url.Parse(h.url)
	if err != nil {
		return ""
	}
	return u.Redacted()
}

// Reload reads the CA file again (when there is one) and empties the cache,
// so that answers given before are asked again. On error the previous CA
// file stays in force, and the cache is emptied all the same. It is meant
// to be called on SIGHUP.
func (h *HTTPHook) Reload() error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if h.cache != nil {
		h.cache.clear()
	}
	if h.opts.CAFile == "" {
		return nil
	}
	c, err := h.newClient()
	if err != nil {
		return err
	}
	if old := h.client.Swap(c); old != nil {
		old.CloseIdleConnections()
	}
	return nil
}

// Close closes the idle connections to the backend. The hook may still be
// used afterwards.
func (h *HTTPHook) Close() {
	if c := h.client.Load(); c != nil {
		c.CloseIdleConnections()
	}
}

// newClient builds an HTTP client that trusts the CA file, if any, and
// follows no redirect.
func (h *HTTPHook) newClient() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cap(h.sem)
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if h.opts.CAFile != "" {
		pem, err := os.ReadFile(h.opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("auth: http hook: ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auth: http hook: ca file %s: no PEM certificate", h.opts.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// hookRequest is the body the hook POSTs.
type hookRequest struct {
	ClientID        string  `json:"client_id"`
	Username        string  `json:"username"`
	Password        *string `json:"password,omitempty"`
	PasswordBase64  string  `json:"password_base64,omitempty"`
	RemoteAddr      string  `json:"remote_addr"`
	ProtocolVersion int     `json:"protocol_version"`
}

// hookResponse is the body of a 200 answer.
type hookResponse struct {
	Result string `json:"result"`
	Grants *struct {
		Publish   []string `json:"publish"`
		Subscribe []string `json:"subscribe"`
	} `json:"grants"`
}

// Authenticate asks the backend about c and password, or reuses a cached
// "allow", as HTTPHook describes. On "allow" with grants it stores them in
// c.Grants.
func (h *HTTPHook) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) error {
	var key hookCacheKey
	if h.cache != nil {
		key = h.cache.key(c, password)
		if g, ok := h.cache.get(key, h.clock()); ok {
			if g != nil {
				c.Grants = g
			}
			return nil
		}
	}
	g, err := h.check(ctx, c, password)
	if err != nil {
		var re *refusalError
		if errors.As(err, &re) {
			return re.err
		}
		h.log.Warn("http auth hook failed", "client_id", c.ClientID, "username", c.Username, "err", err)
		return fmt.Errorf("%w: %w", ErrHookUnavailable, err)
	}
	if h.cache != nil {
		h.cache.put(key, g, h.clock(), h.opts.CacheTTL)
	}
	if g != nil {
		c.Grants = g
	}
	return nil
}

// refusalError carries a refusal out of check, to tell it from a failure.
type refusalError struct{ err error }

func (r *refusalError) Error() string { return r.err.Error() }

// check asks the backend. It returns the grants of an "allow" (nil when it
// has none), a *refusalError for a refusal, or why the check failed.
func (h *HTTPHook) check(ctx context.Context, c *broker.ClientInfo, password []byte) (*Grants, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for one of %d request slots: %w", cap(h.sem), ctx.Err())
	}

	body, err := json.Marshal(newHookRequest(c, password))
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Load().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// The URL may hold a secret in its query: leave it out.
			err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		return nil, fmt.Errorf("request: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHookResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return nil, &refusalError{ErrHookDenied}
	case http.StatusForbidden:
		return nil, &refusalError{ErrHookForbidden}
	default:
		return nil, fmt.Errorf("answer status %d", resp.StatusCode)
	}
	if len(data) > maxHookResponse {
		return nil, fmt.Errorf("answer larger than %d bytes", maxHookResponse)
	}
	var ans hookResponse
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	switch ans.Result {
	case "allow":
	case "deny":
		return nil, &refusalError{ErrHookDenied}
	case "ignore":
		return nil, &refusalError{ErrBadCredentials}
	default:
		return nil, fmt.Errorf("answer result %q: want allow, deny or ignore", ans.Result)
	}
	if ans.Grants == nil {
		return nil, nil
	}
	g, err := NewGrants(ans.Grants.Publish, ans.Grants.Subscribe)
	if err != nil {
		return nil, fmt.Errorf("answer grants: %w", err)
	}
	return g, nil
}

// newHookRequest builds the body posted for c.
func newHookRequest(c *broker.ClientInfo, password []byte) *hookRequest {
	r := &hookRequest{ClientID: c.ClientID, Username: c.Username, ProtocolVersion: int(c.Version)}
	if c.Remote != nil {
		r.RemoteAddr = c.Remote.String()
	}
	switch {
	case password == nil:
	case utf8.Valid(password):
		s := string(password)
		r.Password = &s
	default:
		r.PasswordBase64 = base64.StdEncoding.EncodeToString(password)
	}
	return r
}

// clock returns the time the cache is checked against.
func (h *HTTPHook) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// hookCacheKey identifies the credentials of a cached answer: a salted
// hash, so that the cache holds no password.
type hookCacheKey [sha256.Size]byte

// hookCache holds the "allow" answers of an HTTPHook for CacheTTL.
type hookCache struct {
	// salt makes the keys of this process unlike those of any other.
	salt [32]byte

	// mu guards entries.
	mu      sync.Mutex
	entries map[hookCacheKey]hookCacheEntry
}

// hookCacheEntry is one cached "allow".
type hookCacheEntry struct {
	grants  *Grants
	expires time.Time
}

func newHookCache() *hookCache {
	c := &hookCache{entries: make(map[hookCacheKey]hookCacheEntry)}
	rand.Read(c.salt[:])
	return c
}

// key hashes what the backend was told about the client, except the remote
// port, which changes with every connection.
func (hc *hookCache) key(c *broker.ClientInfo, password []byte) hookCacheKey {
	h := sha256.New()
	h.Write(hc.salt[:])
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(c.ClientID))
	field([]byte(c.Username))
	if password == nil {
		h.Write([]byte{0})
	} else {
		h.Write([]byte{1})
		field(password)
	}
	ip := ""
	if c.Remote != nil {
		ip = c.Remote.String()
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
	}
	field([]byte(ip))
	h.Write([]byte{byte(c.Version)})
	var k hookCacheKey
	h.Sum(k[:0])
	return k
}

// get returns the cached grants of k, and whether an unexpired answer is
// cached.
func (hc *hookCache) get(k hookCacheKey, now time.Time) (*Grants, bool) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	e, ok := hc.entries[k]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(hc.entries, k)
		return nil, false
	}
	return e.grants, true
}

// put caches an "allow" from now for ttl. When the cache is full it first
// drops the expired entries, and caches nothing if none has expired.
func (hc *hookCache) put(k hookCacheKey, g *Grants, now time.Time, ttl time.Duration) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if _, ok := hc.entries[k]; !ok && len(hc.entries) >= MaxHTTPHookCacheEntries {
		for key, e := range hc.entries {
			if !now.Before(e.expires) {
				delete(hc.entries, key)
			}
		}
		if len(hc.entries) >= MaxHTTPHookCacheEntries {
			return
		}
	}
	hc.entries[k] = hookCacheEntry{grants: g, expires: now.Add(ttl)}
}

// clear empties the cache.
func (hc *hookCache) clear() {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	clear(hc.entries)
}

// len returns the number of cached answers.
func (hc *hookCache) len() int {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	return len(hc.entries)
}
