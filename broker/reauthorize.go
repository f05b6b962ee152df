package broker

import (
	"context"
	"log/slog"
	"slices"

	"github.com/midgemq/midge/topic"
)

// Subscriptions and a change of the Authorizer's rules
//
// The Authorizer decides a subscription when the client subscribes. When
// its rules change (a reload of the ACL file), Reauthorize asks it again
// about every subscription the sessions hold, and the broker takes back
// those it now refuses: they leave the session, its store record and the
// router, are logged and, with an audit log, recorded as "revoked". The
// client is not told (MQTT has no packet for it); it simply receives
// nothing more through them. Messages already queued for the session stay.
//
// Each check is made with the ClientInfo of the session's connection, or,
// for a session whose client is away, with that of its last connection in
// this process. A session restored from the store whose client has not
// come back since the start has no such ClientInfo (a token's grants are
// not stored): it is checked when its client resumes it, as is any
// session whose check is older than the last change of rules. authGen
// numbers the changes: a session records the number it was last checked
// at.
//
// A SUBSCRIBE decided under the old rules can be under way while the rules
// change: handleSubscribe notes the number before it asks the Authorizer,
// and checks the session again when it has changed by the time the
// subscriptions are in.

// Reauthorize asks the Authorizer again about every subscription of every
// session, after a change of its rules, and takes back those it refuses;
// when it returns, nothing more is delivered through them. It returns how
// many it took back. Without an Authorizer it does nothing.
func (s *Server) Reauthorize() int {
	if s.opts.Authorizer == nil {
		return 0
	}
	// The number changes before the sessions are listed: a connection
	// that attaches meanwhile either is listed or sees the new number
	// (attach sets the connection before accept reads it).
	gen := s.authGen.Add(1)
	type check struct {
		sess *session
		info *ClientInfo
	}
	var checks []check
	s.mu.RLock()
	for _, sess := range s.sessions {
		sess.mu.Lock()
		info := sess.authInfo
		if c := sess.conn; c != nil {
			info = &c.info
		}
		sess.mu.Unlock()
		if info != nil {
			checks = append(checks, check{sess, info})
		}
	}
	s.mu.RUnlock()
	revoked := 0
	for _, ch := range checks {
		revoked += len(ch.sess.reauthorize(ch.info, gen, false))
	}
	if revoked > 0 {
		// The router lets go of them in the persister's callbacks: once
		// this returns, nothing more is delivered through them.
		s.persist.waitDurable()
	}
	s.log.Info("subscriptions authorized again", "sessions", len(checks), "revoked", revoked)
	return revoked
}

// reauthorize asks the Authorizer about each subscription of the session
// for the client info, unless the session was checked at gen or later
// (whatever it was checked at, with force), and takes back those it
// refuses. It returns their filters. The caller holds no lock.
func (sess *session) reauthorize(info *ClientInfo, gen uint64, force bool) []string {
	az := sess.srv.opts.Authorizer
	if az == nil {
		return nil
	}
	sess.mu.Lock()
	if (sess.authGen >= gen && !force) || sess.ending != nil {
		sess.mu.Unlock()
		return nil
	}
	subs := slices.Collect(sess.subs.all())
	sess.mu.Unlock()

	// The Authorizer is asked without the session's lock.
	var denied []topic.Subscription
	for _, sub := range subs {
		if !az.Authorize(context.Background(), info, ActionSubscribe, sub.Filter) {
			denied = append(denied, sub)
		}
	}

	sess.mu.Lock()
	sess.authGen = max(sess.authGen, gen)
	var gone []string
	for _, sub := range denied {
		// A subscription replaced meanwhile was decided under the rules
		// of its SUBSCRIBE, which handleSubscribe checks itself.
		if cur, ok := sess.subs.get(sub.Filter); ok && cur == sub {
			sess.subs.remove(sub.Filter)
			gone = append(gone, sub.Filter)
		}
	}
	if len(gone) > 0 && sess.persistent {
		sess.srv.persist.putSessionLocked(sess)
	}
	sess.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	// The router lets go in turn with the SUBSCRIBE packets before, whose
	// subscriptions reach it once durable (see handleUnsubscribe). A store
	// that fails to write the removal does not keep the subscription in
	// force: the client loses it now, and a session restored from the
	// store is checked again when its client comes back.
	sess.srv.persist.whenDurable(func(error) {
		for _, f := range gone {
			if sess.holdsFilter(f) {
				continue // subscribed again, under the new rules
			}
			if _, err := sess.srv.router.Unsubscribe(sess.id, f); err != nil {
				sess.srv.log.Error("revoked subscription not removed from the router", "client_id", sess.id,
					"filter", f, "err", err)
			}
		}
	})
	for _, f := range gone {
		sess.srv.log.Info("subscription revoked", "client_id", sess.id, "username", info.Username, "filter", f)
		sess.srv.auditClient(auditRevoked, info, slog.String("filter", f))
	}
	return gone
}

// authorizeSession keeps the client info of c, which now holds sess, for
// the checks made while its client is away (a session that ends with its
// connection needs none), and checks the subscriptions of a resumed
// session (present) when the rules changed since they were last checked;
// a session restored from the store always was. A new session has none to
// check. It runs before CONNACK, so that the CONNACK of a persistent
// session waits for the removals too.
func (c *conn) authorizeSession(sess *session, present bool) {
	if c.srv.opts.Authorizer == nil {
		return
	}
	gen := c.srv.authGen.Load()
	sess.mu.Lock()
	sess.authInfo = nil
	if sess.persistent {
		info := c.info
		sess.authInfo = &info
	}
	if !present {
		sess.authGen = gen
	}
	sess.mu.Unlock()
	if present {
		sess.reauthorize(&c.info, gen, false)
	}
}

// recheckSubscribe checks the session's subscriptions again when the rules
// changed since gen, read before a SUBSCRIBE asked the Authorizer: that
// SUBSCRIBE may have been decided under the old rules after Reauthorize
// listed the subscriptions. It returns the filters taken back.
func (c *conn) recheckSubscribe(gen uint64) []string {
	if c.srv.opts.Authorizer == nil {
		return nil
	}
	if now := c.srv.authGen.Load(); now != gen {
		return c.sess.reauthorize(&c.info, now, true)
	}
	return nil
}
