package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/midgemq/midge/topic"
)

// Server is an MQTT broker. Create one with New, give it listeners with
// Serve, and stop it with Shutdown.
type Server struct {
	opts     Options
	log      *slog.Logger
	index    *topic.Index
	retained *topic.Retained[*Message]
	sys      *topic.Retained[*Message] // the $SYS figures
	router   Router
	persist  *persister
	expiry   *expiry
	guard    *authGuard      // nil when bans are off
	limiter  *connectLimiter // nil without a connection rate limit
	sysStop  chan struct{}
	bgSys    sync.WaitGroup
	counters counters
	events   chan event     // nil when there are no observers
	bg       sync.WaitGroup // background goroutines: observers

	// mu guards the fields below it. Deliver only reads sessions, under
	// RLock, so that deliveries do not serialise on it.
	mu        sync.RWMutex
	sessions  map[string]*session
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool

	connWG sync.WaitGroup // Serve loops and connections
	// pl is the poller of parked connections, made once by poller.
	pollOnce sync.Once
	pl       *poller
	// workers run the connections' goroutines.
	workers workers
	// trims lets go of the output buffers of connections gone quiet.
	trims trimmer
	seq   msgSeq

	// lim holds the Limits in force; see SetLimits.
	lim liveLimits
	// authGen numbers the changes of the Authorizer's rules (see
	// reauthorize.go); it starts at 1, so that sessions restored from the
	// store, checked at 0, are checked when their clients resume them.
	authGen atomic.Uint64
}

// New returns a Server configured by opts, after filling defaults and
// validating them.
func New(opts Options) (*Server, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		index:     topic.NewIndex(),
		retained:  topic.NewRetained[*Message](),
		sys:       topic.NewRetained[*Message](),
		sessions:  make(map[string]*session),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	s.expiry = newExpiry()
	s.authGen.Store(1)
	if opts.AuthFailureLimit > 0 {
		s.guard = newAuthGuard(opts.AuthFailureLimit, opts.AuthBanTime)
	}
	s.limiter = newConnectLimiter(opts.MaxConnectRate)
	s.lim.cur.Store(limitsOf(&opts))
	s.persist = newPersister(opts.Store, opts.Durability, opts.CommitInterval, opts.MaxStoreBytes, opts.Logger)
	s.router = newLocalRouter(s, s.persist)
	if err := s.load(); err != nil {
		s.persist.close()
		return nil, err
	}
	go s.expiry.run(s.checkSession)
	s.sysStop = make(chan struct{})
	if s.opts.SysInterval > 0 {
		s.bgSys.Add(1)
		go func() {
			defer s.bgSys.Done()
			s.runSys(s.sysStop)
		}()
	}
	if len(opts.Observers) > 0 {
		s.events = make(chan event, observerQueueLen)
		s.bg.Add(1)
		go s.runObservers()
	}
	return s, nil
}

// Router returns the server's router, through which an embedding program
// can publish messages of its own.
func (s *Server) Router() Router { return s.router }

// Serve accepts connections on l and serves each in its own goroutine. It
// always returns a non-nil error and closes l; after Shutdown the error is
// ErrServerClosed. Temporary accept errors (out of file descriptors, an
// aborted connection) are retried after a growing pause rather than ending
// the loop.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	defer s.connWG.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	var pause time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if !isTemporaryAccept(err) {
				return err
			}
			if pause == 0 {
				pause = 5 * time.Millisecond
			} else {
				pause = min(2*pause, time.Second)
			}
			s.log.Warn("accept failed, retrying", "listener", l.Addr().String(), "err", err, "pause", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		s.accept(nc)
	}
}

// isTemporaryAccept reports whether an Accept error is one that goes away by
// itself: running out of descriptors or a connection reset before accept.
func isTemporaryAccept(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// accept registers nc and starts its goroutine, or closes it when the server
// is at MaxConnections or shutting down.
func (s *Server) accept(nc net.Conn) {
	if !s.limiter.allow(nc.RemoteAddr(), time.Now()) {
		s.dropRemote(DropConnectRate, nc.RemoteAddr())
		nc.Close()
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if limit := s.limits().MaxConnections; limit > 0 && len(s.conns) >= limit {
		s.mu.Unlock()
		// Counted before the close, so that a client that sees the close
		// finds the drop counted.
		s.dropRemote(DropMaxConnections, nc.RemoteAddr())
		nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	n := s.counters.connsCurrent.Add(1)
	for m := s.counters.connsMax.Load(); n > m && !s.counters.connsMax.CompareAndSwap(m, n); m = s.counters.connsMax.Load() {
	}
	s.counters.connsTotal.Add(1)
	s.workers.run(task{c: c})
}

// unlist takes c, which is closing, off the connections: it no longer
// counts towards MaxConnections. finish calls it before the socket closes,
// so that a client that sees the close finds its place free.
func (s *Server) unlist(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.counters.connsCurrent.Add(-1)
}

// release forgets c, which has closed.
func (s *Server) release(c *conn) {
	if c.pollID != 0 {
		s.pl.forget(c)
	}
	s.connWG.Done()
}

// poller returns the poller of parked connections, made on first use; nil
// when it cannot be made.
func (s *Server) poller() *poller {
	s.pollOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			s.log.Warn("idle connections keep their goroutine", "err", err)
			return
		}
		s.pl = p
	})
	return s.pl
}

// closePoller closes the poller, if one was made.
func (s *Server) closePoller() {
	s.pollOnce.Do(func() {})
	if s.pl != nil {
		s.pl.close()
	}
}

// Shutdown stops the server: it closes the listeners, tells MQTT 5.0 clients
// the server is shutting down, closes every connection (publishing wills as
// for any connection that ends without DISCONNECT) and waits for the
// connections' goroutines to end or ctx to be done. It returns ctx.Err() in
// the latter case.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, c := range conns {
		c.serverClose()
	}
	waited := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		close(s.sysStop)
		s.bgSys.Wait()
		s.expiry.close()
		s.persist.close()
		s.closePoller()
		s.workers.close()
		s.trims.close()
		return ctx.Err()
	}
	s.closePoller()
	s.workers.close()
	s.trims.close()
	close(s.sysStop)
	s.bgSys.Wait()
	// Everything sessions wrote is in the store once the committer ends.
	s.expiry.close()
	s.persist.close()
	if s.events != nil {
		close(s.events)
		s.bg.Wait()
	}
	return nil
}

// Deliver hands msg to the session of clientID. It implements Deliverer.
func (s *Server) Deliver(clientID string, msg *Message, d Delivery) Outcome {
	s.mu.RLock()
	sess := s.sessions[clientID]
	s.mu.RUnlock()
	if sess == nil {
		return Refused
	}
	return sess.deliver(msg, d)
}

// attach makes c the connection of the session clientID, taking the session
// over from any connection that holds it. With cleanStart the old session
// is discarded first, and so it is, when an Authorizer is set, if another
// user name made it (see session.username). It reports the session,
// whether it existed before, and the delayed will of the session's last
// connection that the client's return cancelled, if any.
func (s *Server) attach(c *conn, clientID string, cleanStart bool, expiryInterval uint32) (*session, bool, delayedWill) {
	persistent := expiryInterval > 0
	for {
		s.mu.Lock()
		old := s.sessions[clientID]
		if old == nil {
			sess := newSession(s, clientID, persistent)
			sess.conn = c
			sess.gen = 1
			sess.username = c.info.Username
			sess.expiry = expiryInterval
			if persistent {
				s.persist.putSessionLocked(sess)
			}
			s.sessions[clientID] = sess
			s.mu.Unlock()
			return sess, false, delayedWill{}
		}
		old.mu.Lock()
		oc, ending := old.conn, old.ending
		switch {
		case ending != nil:
			// The session is being discarded: wait until it is gone.
			old.mu.Unlock()
			s.mu.Unlock()
			<-ending
		case oc != nil:
			// Session takeover [MQTT-3.1.4-2]: close the connection that
			// holds the session, wait until it has let go, and look again
			// (another connection may have come in meanwhile).
			old.mu.Unlock()
			s.mu.Unlock()
			oc.takeover()
			<-oc.doneChan()
		case cleanStart || (s.opts.Authorizer != nil && !old.ownedBy(c.info.Username)):
			// [MQTT-3.1.2-4] Clean Start discards any existing session. So
			// does a session made by another user name while an Authorizer
			// decides what clients may read: its subscriptions were
			// authorized, and its messages queued, for that user, and
			// resuming it would hand them to this one. Either way the
			// session ends, and a will waiting for its delay is published
			// now [MQTT-3.1.2-8]: only a connection that resumes the
			// session keeps it from being sent [MQTT-3.1.3-9].
			old.ending = make(chan struct{})
			old.mu.Unlock()
			s.mu.Unlock()
			s.endPendingWill(old)
			s.endSession(old)
			if !cleanStart {
				c.logger().Info("session of another user discarded", "username", c.info.Username)
			}
		default:
			old.conn = c
			old.gen++
			old.resuming = true
			old.username, old.anyUser = c.info.Username, false
			old.expiry = expiryInterval
			old.expiresAt = time.Time{}
			var cancelled delayedWill
			if !old.willAt.IsZero() {
				// Back before the will's delay passed: no will
				// [MQTT-3.1.3-9].
				cancelled = delayedWill{old.will, old.willDelay, old.willAt}
				old.will, old.willDelay, old.willAt = nil, 0, time.Time{}
			}
			old.setPersistentLocked(persistent)
			if persistent {
				old.srv.persist.putSessionLocked(old)
			}
			old.mu.Unlock()
			s.mu.Unlock()
			return old, true, cancelled
		}
	}
}

// delayedWill is a will waiting for its Will Delay Interval (delay, in
// seconds), due at at.
type delayedWill struct {
	will  *Message
	delay uint32
	at    time.Time
}

// detach lets go of sess after its connection c has ended. A session that
// does not persist, or any with discard, is ended: it is marked as ending
// in the same step, so a connection attaching meanwhile waits for it to be
// gone, then discarded.
func (s *Server) detach(sess *session, c *conn, discard bool) {
	s.mu.Lock()
	sess.mu.Lock()
	if sess.conn != c {
		sess.mu.Unlock()
		s.mu.Unlock()
		return
	}
	sess.conn = nil
	sess.spillAllLocked()
	if sess.freed != nil {
		s.persist.mu.Lock()
		s.persist.dropFreedLocked(sess)
		s.persist.mu.Unlock()
	}
	end := (discard || !sess.persistent) && sess.ending == nil
	if end {
		sess.ending = make(chan struct{})
	}
	var expiresAt time.Time
	if !end && sess.persistent {
		if sess.expiry != neverExpires {
			// [MQTT-3.1.2-23] The session ends Session Expiry Interval
			// seconds after the connection.
			expiresAt = time.Now().Add(time.Duration(sess.expiry) * time.Second)
			sess.expiresAt = expiresAt
		}
		// The record says the session is offline: its queued messages
		// are not sent meanwhile.
		sess.settleStartLocked()
		s.persist.putSessionLocked(sess)
	}
	sess.mu.Unlock()
	s.mu.Unlock()
	if end {
		s.endSession(sess)
	} else if !expiresAt.IsZero() {
		s.expiry.add(sess.id, expiresAt)
	}
}

// endSession discards sess, which the caller has marked as ending, removes
// it from the table and wakes whoever waits for it.
func (s *Server) endSession(sess *session) {
	sess.discard()
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	s.mu.Unlock()
	s.opts.Registry.Release(sess.id)
	close(sess.ending)
}
