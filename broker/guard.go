package broker

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// authGuard slows down password guessing: an address whose clients fail
// authentication AuthFailureLimit times within AuthBanTime is refused for
// AuthBanTime. Its table is bounded; when full, the oldest entries go.
type authGuard struct {
	limit int
	ban   time.Duration

	mu      sync.Mutex
	entries map[string]*guardEntry
}

type guardEntry struct {
	fails  int
	first  time.Time // of the current run of failures
	banned time.Time // until when; zero if not banned
}

// maxGuardEntries bounds the guard's memory.
const maxGuardEntries = 65536

func newAuthGuard(limit int, ban time.Duration) *authGuard {
	return &authGuard{limit: limit, ban: ban, entries: make(map[string]*guardEntry)}
}

// hostOf is the address a guard entry is kept for: the IP without the port.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// banned reports whether clients from addr are refused now.
func (g *authGuard) banned(addr net.Addr, now time.Time) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.entries[hostOf(addr)]
	return e != nil && now.Before(e.banned)
}

// failed records a failed authentication from addr and reports whether it
// got the address banned, and how many failures in a row the address has
// had within the window, this one included.
func (g *authGuard) failed(addr net.Addr, now time.Time) (banned bool, fails int) {
	if g == nil {
		return false, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	host := hostOf(addr)
	e := g.entries[host]
	if e == nil {
		if len(g.entries) >= maxGuardEntries {
			g.evictLocked(now)
		}
		e = &guardEntry{first: now}
		g.entries[host] = e
	}
	if now.Sub(e.first) > g.ban {
		e.fails, e.first = 0, now
	}
	e.fails++
	fails = e.fails
	if e.fails >= g.limit {
		e.banned = now.Add(g.ban)
		e.fails, e.first = 0, now
		return true, fails
	}
	return false, fails
}

// Failed logins from one address are answered ever more slowly: the first
// at once (a mistyped password costs nothing), each further one
// failureDelayStep later than the one before, up to maxFailureDelay, so
// that guessing over one connection after another is slow even before the
// ban.
const (
	failureDelayStep = 100 * time.Millisecond
	maxFailureDelay  = 2 * time.Second
)

// failureDelay is how long the refusal of the fails-th failure in a row
// waits.
func failureDelay(fails int) time.Duration {
	if fails <= 1 {
		return 0
	}
	return min(time.Duration(fails-1)*failureDelayStep, maxFailureDelay)
}

// succeeded forgets the failures of addr.
func (g *authGuard) succeeded(addr net.Addr) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.entries[hostOf(addr)]; e != nil && e.banned.IsZero() {
		delete(g.entries, hostOf(addr))
	}
}

// evictLocked removes the entries that no longer matter, or, if none, half
// of the table.
func (g *authGuard) evictLocked(now time.Time) {
	for h, e := range g.entries {
		if now.After(e.banned) && now.Sub(e.first) > g.ban {
			delete(g.entries, h)
		}
	}
	for h := range g.entries {
		if len(g.entries) < maxGuardEntries/2 {
			break
		}
		delete(g.entries, h)
	}
}

// authFailed counts a failed authentication of this connection's address;
// when that gets the address banned, it logs it and audits it, and
// otherwise it holds the refusal back by failureDelay.
func (c *conn) authFailed() {
	banned, fails := c.srv.guard.failed(c.info.Remote, time.Now())
	if banned {
		c.logger().Warn("address banned after repeated authentication failures", "ban", c.srv.opts.AuthBanTime)
		c.audit(auditBanned, slog.String("ban", c.srv.opts.AuthBanTime.String()))
		return
	}
	if d := failureDelay(fails); d > 0 && !c.stopping.Load() {
		time.Sleep(d)
	}
}
