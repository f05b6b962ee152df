package broker

import (
	"slices"
	"strings"
	"time"

	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/topic"
)

// ClientSnapshot describes one session for an operator: who holds it, how,
// and what it holds.
type ClientSnapshot struct {
	ClientID      string               `json:"client_id"`
	Connected     bool                 `json:"connected"`
	Username      string               `json:"username,omitempty"`
	Remote        string               `json:"remote,omitempty"`
	Version       string               `json:"protocol_version,omitempty"`
	KeepAlive     int                  `json:"keep_alive_seconds,omitempty"`
	Persistent    bool                 `json:"persistent"`
	ExpiresAt     *time.Time           `json:"expires_at,omitempty"`
	Subscriptions []topic.Subscription `json:"subscriptions"`
	Inflight      int                  `json:"inflight"`
	Queued        int                  `json:"queued"`
}

// Clients returns a snapshot of every session, connected or not, sorted by
// client id.
func (s *Server) Clients() []ClientSnapshot {
	s.mu.RLock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.RUnlock()
	out := make([]ClientSnapshot, 0, len(sessions))
	for _, sess := range sessions {
		out = append(out, sess.snapshot())
	}
	slices.SortFunc(out, func(a, b ClientSnapshot) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// Client returns the snapshot of the session of clientID.
func (s *Server) Client(clientID string) (ClientSnapshot, bool) {
	s.mu.RLock()
	sess := s.sessions[clientID]
	s.mu.RUnlock()
	if sess == nil {
		return ClientSnapshot{}, false
	}
	return sess.snapshot(), true
}

func (s *session) snapshot() ClientSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := ClientSnapshot{ClientID: s.id, Persistent: s.persistent, Inflight: len(s.inflight), Queued: s.queueLenLocked(),
		Subscriptions: make([]topic.Subscription, 0, s.subs.len())}
	for sub := range s.subs.all() {
		cs.Subscriptions = append(cs.Subscriptions, sub)
	}
	slices.SortFunc(cs.Subscriptions, func(a, b topic.Subscription) int { return strings.Compare(a.Filter, b.Filter) })
	if !s.expiresAt.IsZero() {
		at := s.expiresAt
		cs.ExpiresAt = &at
	}
	if c := s.conn; c != nil {
		cs.Connected = true
		cs.Username = c.info.Username
		if c.info.Remote != nil {
			cs.Remote = c.info.Remote.String()
		}
		cs.Version = c.version.String()
		cs.KeepAlive = int(c.keepAlive / time.Second)
	}
	return cs
}

// Disconnect closes the connection of clientID, as an operator asks: an
// MQTT 5.0 client is told Administrative action (0x98); its will is
// published as for any connection that ends without DISCONNECT. It reports
// whether the client was connected.
func (s *Server) Disconnect(clientID string) bool {
	s.mu.RLock()
	sess := s.sessions[clientID]
	s.mu.RUnlock()
	if sess == nil {
		return false
	}
	sess.mu.Lock()
	c := sess.conn
	sess.mu.Unlock()
	if c == nil {
		return false
	}
	if c.version == packet.V5 {
		c.sendLast(&packet.Disconnect{ReasonCode: packet.AdministrativeAction})
	}
	c.stop("disconnected by an operator")
	return true
}

// RetainedMessages returns the clients' retained messages whose topics the
// filter matches, at most limit of them (0 for all).
func (s *Server) RetainedMessages(filter string, limit int) []*Message {
	var out []*Message
	s.retained.Match(filter, func(m *Message) bool {
		out = append(out, m)
		return limit <= 0 || len(out) < limit
	})
	return out
}

// DeleteRetained removes the retained message of the topic name, as a
// retained PUBLISH with an empty payload would, and reports whether there
// was one.
func (s *Server) DeleteRetained(name string) bool {
	if _, ok := s.retained.Get(name); !ok {
		return false
	}
	s.router.Publish(&Message{Topic: name, Retain: true}, nil)
	return true
}
