package broker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the bounds of a Server that an operator may change while it
// runs, through SetLimits. Each field means what the Options field of the
// same name means, with the same default for a zero value and the same
// range.
//
// When a change takes effect:
//   - MaxQueued, MaxOutputBytes and WriteTimeout: at once, for every
//     session and connection. A lower MaxQueued drops nothing already
//     queued; it refuses new messages until the queue is below it.
//   - MaxConnections: for connections accepted after the change; those
//     already open over a lower limit stay.
//   - MaxStoreBytes: at the next store commit, or within a tenth of a
//     second while the store is over the limit in force.
//   - MaxPacketSize, MaxInflight and MaxKeepAlive: for connections that
//     connect after the change. A connection keeps the values it was given
//     at CONNECT, which a 5.0 client is told in CONNACK (Maximum Packet
//     Size, Server Keep Alive), so that no client is held to a bound it
//     was not told.
//
// The other Options cannot change while the server runs.
type Limits struct {
	// MaxPacketSize is Options.MaxPacketSize: 0 means 1 MiB.
	MaxPacketSize int
	// MaxInflight is Options.MaxInflight: 0 means 32.
	MaxInflight int
	// MaxQueued is Options.MaxQueued: 0 means 1000, negative no queue.
	MaxQueued int
	// MaxConnections is Options.MaxConnections: 0 means 10000, negative
	// no limit.
	MaxConnections int
	// MaxOutputBytes is Options.MaxOutputBytes: 0 means 4 MiB.
	MaxOutputBytes int
	// MaxKeepAlive is Options.MaxKeepAlive, in seconds: 0 means no limit.
	MaxKeepAlive int
	// WriteTimeout is Options.WriteTimeout: 0 means 30s.
	WriteTimeout time.Duration
	// MaxStoreBytes is Options.MaxStoreBytes: 0 means no limit.
	MaxStoreBytes int64
}

// LimitError is returned by SetLimits, joined with the others, for each
// limit out of its range.
type LimitError struct {
	// Limit names the Limits field, such as "MaxInflight".
	Limit string
	// Reason says what is wrong with its value.
	Reason string
}

// Error implements error. SetLimits wraps it with the package's prefix.
func (e *LimitError) Error() string {
	return e.Limit + " " + e.Reason
}

// liveLimits holds the Limits in force. Readers load cur, one atomic load,
// and must read the limits through it rather than Server.opts, which keeps
// the values the server started with.
type liveLimits struct {
	cur atomic.Pointer[Limits]
	// mu serialises SetLimits, so that the store's limit and cur agree.
	mu sync.Mutex
}

// limitsOf returns the Limits of o, whose defaults are set.
func limitsOf(o *Options) *Limits {
	return &Limits{
		MaxPacketSize:  o.MaxPacketSize,
		MaxInflight:    o.MaxInflight,
		MaxQueued:      o.MaxQueued,
		MaxConnections: o.MaxConnections,
		MaxOutputBytes: o.MaxOutputBytes,
		MaxKeepAlive:   o.MaxKeepAlive,
		WriteTimeout:   o.WriteTimeout,
		MaxStoreBytes:  o.MaxStoreBytes,
	}
}

// limits returns the Limits in force. The caller must not modify them.
func (s *Server) limits() *Limits { return s.lim.cur.Load() }

// Limits returns the limits in force.
func (s *Server) Limits() Limits { return *s.limits() }

// SetLimits replaces the limits in force with l, after setting each zero
// field to its default as Options.EnsureDefaults does. It changes nothing
// and returns the *LimitError of each field out of range, joined, when l
// is not valid. See Limits for when each change takes effect. It is safe
// to call while the server runs, from any goroutine.
func (s *Server) SetLimits(l Limits) error {
	l.ensureDefaults()
	if err := l.validate(); err != nil {
		return fmt.Errorf("broker: set limits: %w", err)
	}
	s.lim.mu.Lock()
	defer s.lim.mu.Unlock()
	s.lim.cur.Store(&l)
	s.persist.maxBytes.Store(l.MaxStoreBytes)
	return nil
}

// ensureDefaults sets every zero field of l to its default.
func (l *Limits) ensureDefaults() {
	if l.MaxPacketSize == 0 {
		l.MaxPacketSize = DefaultMaxPacketSize
	}
	if l.MaxInflight == 0 {
		l.MaxInflight = DefaultMaxInflight
	}
	if l.MaxQueued == 0 {
		l.MaxQueued = DefaultMaxQueued
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if l.WriteTimeout == 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
}

// validate returns a *LimitError for each field of l out of its range, the
// ranges Options.Validate checks, joined.
func (l *Limits) validate() error {
	var errs []error
	bad := func(limit, format string, args ...any) {
		errs = append(errs, &LimitError{Limit: limit, Reason: fmt.Sprintf(format, args...)})
	}
	if l.MaxPacketSize < 16 || l.MaxPacketSize > 268435460 {
		bad("MaxPacketSize", "%d out of range 16..268435460", l.MaxPacketSize)
	}
	if l.MaxInflight < 1 || l.MaxInflight > 65535 {
		bad("MaxInflight", "%d out of range 1..65535", l.MaxInflight)
	}
	if l.MaxOutputBytes < 0 {
		bad("MaxOutputBytes", "%d is negative", l.MaxOutputBytes)
	}
	if l.MaxKeepAlive < 0 || l.MaxKeepAlive > 65535 {
		bad("MaxKeepAlive", "%d out of range 0..65535", l.MaxKeepAlive)
	}
	if l.WriteTimeout < 0 {
		bad("WriteTimeout", "%s is negative", l.WriteTimeout)
	}
	if l.MaxStoreBytes < 0 {
		bad("MaxStoreBytes", "%d is negative", l.MaxStoreBytes)
	}
	return errors.Join(errs...)
}
