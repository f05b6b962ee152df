package broker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/midgemq/midge/topic"
)

// SessionState is everything a session is, as one value: what the store
// keeps of a persistent session and what a takeover from another node
// carries. Timers are deadlines in it, not goroutines.
type SessionState struct {
	ClientID      string               `json:"client_id"`
	Subscriptions []topic.Subscription `json:"subscriptions,omitempty"`
	// Inflight are the messages sent and not fully acknowledged, in order.
	Inflight []OutboundState `json:"inflight,omitempty"`
	// Queue are the messages waiting for the inflight window, in order.
	Queue        []OutboundState `json:"queue,omitempty"`
	LastPacketID uint16          `json:"last_packet_id,omitempty"`
	// IncomingQoS2 are the packet ids of QoS 2 messages received from the
	// client and not yet released.
	IncomingQoS2 []uint16 `json:"incoming_qos2,omitempty"`
}

// OutboundState is one message on its way to a session's client.
type OutboundState struct {
	// Message is nil once the client has sent PUBREC for it.
	Message     *Message `json:"message,omitempty"`
	QoS         byte     `json:"qos"`
	Retain      bool     `json:"retain,omitempty"`
	Identifiers []uint32 `json:"identifiers,omitempty"`
	PacketID    uint16   `json:"packet_id,omitempty"`
	Released    bool     `json:"released,omitempty"`
}

// state returns a copy of the session's state.
func (s *session) state() SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SessionState{ClientID: s.id, LastPacketID: s.lastID}
	for _, sub := range s.subs {
		st.Subscriptions = append(st.Subscriptions, sub)
	}
	for _, ob := range s.inflight {
		st.Inflight = append(st.Inflight, ob.state())
	}
	for _, ob := range s.queue[s.qhead:] {
		st.Queue = append(st.Queue, ob.state())
	}
	for id := range s.qos2In {
		st.IncomingQoS2 = append(st.IncomingQoS2, id)
	}
	return st
}

func (ob *outbound) state() OutboundState {
	return OutboundState{Message: ob.msg, QoS: ob.qos, Retain: ob.retain, Identifiers: ob.ids, PacketID: ob.packetID, Released: ob.released}
}

// restoreSession makes an offline persistent session from st.
func restoreSession(s *Server, st SessionState) *session {
	sess := newSession(s, st.ClientID, true)
	sess.lastID = st.LastPacketID
	for _, sub := range st.Subscriptions {
		sess.subs[sub.Filter] = sub
	}
	for _, o := range st.Inflight {
		sess.inflight = append(sess.inflight, &outbound{msg: o.Message, qos: o.QoS, retain: o.Retain, ids: o.Identifiers, packetID: o.PacketID, released: o.Released})
	}
	for _, o := range st.Queue {
		sess.queue = append(sess.queue, &outbound{msg: o.Message, qos: o.QoS, retain: o.Retain, ids: o.Identifiers})
	}
	for _, id := range st.IncomingQoS2 {
		sess.qos2In[id] = struct{}{}
	}
	return sess
}

// load restores retained messages and persistent sessions from the store.
func (s *Server) load(ctx context.Context) error {
	err := s.opts.Store.LoadRetained(ctx, func(name string, b []byte) error {
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("retained message %q: %w", name, err)
		}
		s.retained.Set(name, &m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: load retained messages: %w", err)
	}
	err = s.opts.Store.LoadSessions(ctx, func(id string, b []byte) error {
		var st SessionState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
		sess := restoreSession(s, st)
		for _, sub := range sess.subs {
			if err := s.router.Subscribe(sub); err != nil {
				return fmt.Errorf("session %q: subscribe %q: %w", id, sub.Filter, err)
			}
		}
		s.sessions[id] = sess
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: load sessions: %w", err)
	}
	return nil
}

// saveSession writes a persistent session's state to the store.
func (s *Server) saveSession(sess *session) {
	b, err := json.Marshal(sess.state())
	if err == nil {
		err = s.opts.Store.SaveSession(context.Background(), sess.id, b)
	}
	if err != nil {
		s.log.Error("cannot save session", "client_id", sess.id, "err", err)
	}
}

// deleteSession removes an ended session from the store.
func (s *Server) deleteSession(id string) {
	if err := s.opts.Store.DeleteSession(context.Background(), id); err != nil {
		s.log.Error("cannot delete session", "client_id", id, "err", err)
	}
}
