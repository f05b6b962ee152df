package broker

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/topic"
)

// SessionState is everything a session is, as one value: what a takeover
// from another node carries. The store keeps it in parts: the session's
// record (subscriptions, QoS 2 ids) and one entry per outbound message.
// Timers are deadlines in it, not goroutines.
type SessionState struct {
	ClientID string `json:"client_id"`
	// Username is the user name of the client that owns the session (see
	// Options.Authorizer), "" for one without a user name; nil in records
	// written before it was kept, whose session any client may resume.
	Username      *string              `json:"username,omitempty"`
	Subscriptions []topic.Subscription `json:"subscriptions,omitempty"`
	// Inflight are the messages sent and not fully acknowledged, in order.
	Inflight []OutboundState `json:"inflight,omitempty"`
	// Queue are the messages waiting for the inflight window, in order.
	Queue        []OutboundState `json:"queue,omitempty"`
	LastPacketID uint16          `json:"last_packet_id,omitempty"`
	// IncomingQoS2 are the packet ids of QoS 2 messages received from the
	// client and not yet released. The store keeps them apart (bucket
	// Incoming); records of earlier versions have them here.
	IncomingQoS2 []uint16 `json:"incoming_qos2,omitempty"`
	// Will is the will of the connection that held the session, if it has
	// one and has not ended.
	Will *Message `json:"will,omitempty"`
	// ExpiryInterval is the Session Expiry Interval in seconds;
	// 0xFFFFFFFF for never.
	ExpiryInterval uint32 `json:"expiry_interval"`
	// ExpiresAt is when an offline session ends, in Unix seconds; 0 while
	// a connection holds it or when it never expires.
	ExpiresAt int64 `json:"expires_at,omitempty"`
	// WillDelay is the Will Delay Interval of Will in seconds (5.0), 0 for
	// none.
	WillDelay uint32 `json:"will_delay,omitempty"`
	// WillAt is when Will is published, in Unix seconds (rounded up),
	// while it waits for its Will Delay Interval after the connection
	// ended; 0 while the connection is open.
	WillAt int64 `json:"will_at,omitempty"`
	// Online is set when a connection held the session as the record was
	// written, or queued messages of it may have been sent before the
	// broker last started: after a crash they go out with DUP set
	// [MQTT-3.3.1-1].
	Online bool `json:"online,omitempty"`
}

// OutboundState is one message on its way to a session's client.
type OutboundState struct {
	// Seq orders the session's messages.
	Seq uint64 `json:"seq"`
	// MessageID names the message; in the store, its body is kept once
	// under this id however many sessions it goes to.
	MessageID MsgID `json:"message_id"`
	// Message is the message itself, nil in the store and once the client
	// has sent PUBREC for it.
	Message     *Message `json:"message,omitempty"`
	QoS         byte     `json:"qos"`
	Retain      bool     `json:"retain,omitempty"`
	Identifiers []uint32 `json:"identifiers,omitempty"`
	// PacketID is set once the message has been sent.
	PacketID uint16 `json:"packet_id,omitempty"`
	Released bool   `json:"released,omitempty"`
	// Expiry is the message's expiry deadline in Unix nanoseconds, 0 for
	// none, so that start-up can drop expired entries without reading
	// their messages.
	Expiry int64 `json:"expiry,omitempty"`
	// Shared is the shared subscription the message came through, if any.
	Shared string `json:"shared,omitempty"`
}

func (ob *outbound) state() OutboundState {
	st := OutboundState{Seq: ob.seq, MessageID: ob.msgID, Message: ob.msg, QoS: ob.qos, Retain: ob.retain,
		Identifiers: ob.ids, PacketID: ob.packetID, Released: ob.released, Shared: ob.shared}
	if ob.msg != nil {
		st.Expiry = ob.msg.Expiry
	}
	return st
}

// load restores retained messages and persistent sessions from the store,
// and removes what no session refers to any more.
func (s *Server) load() error {
	start := time.Now()
	var maxSeq uint64
	var expiredRetained []string
	err := s.opts.Store.Scan(store.Retained, "", func(name string, b []byte) error {
		// b is the store's until fn returns; the message keeps a copy.
		m, err := decodeMessage(slices.Clone(b))
		if err != nil {
			return fmt.Errorf("retained message %q: %w", name, err)
		}
		maxSeq = max(maxSeq, m.ID.Seq)
		if m.Expired(start) {
			expiredRetained = append(expiredRetained, name)
			return nil
		}
		s.retained.Set(name, m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: load retained messages: %w", err)
	}

	// Message bodies are read when a queue needs them; here only which
	// exist.
	stored := make(map[MsgID]bool)
	var fix store.Batch
	err = s.opts.Store.Scan(store.Messages, "", func(key string, _ []byte) error {
		id, err := parseMessageKey(key)
		if err != nil {
			fix.Delete(store.Messages, key)
			return nil
		}
		maxSeq = max(maxSeq, id.Seq)
		stored[id] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: load messages: %w", err)
	}

	expired := 0
	var touched []*session
	// online are the sessions whose records say a connection held them.
	var online []*session
	// dueWills are published once the sessions are restored.
	dueWills, err := s.loadWillRecords(&fix)
	if err != nil {
		return err
	}
	err = s.opts.Store.Scan(store.Sessions, "", func(id string, b []byte) error {
		var st SessionState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
		if st.ExpiryInterval == 0 {
			// Records written before expiry was kept never expire.
			st.ExpiryInterval = neverExpires
		}
		if st.ExpiresAt != 0 && !time.Unix(st.ExpiresAt, 0).After(start) {
			// Expired while the broker was down: its entries and
			// messages go with the unreferenced ones below. A will it
			// still holds was due by the session's end at the latest
			// [MQTT-3.1.2-8]: it is published now, and the record goes
			// with that publication.
			if st.Will != nil {
				dueWills = append(dueWills, storedWill{clientID: id, msg: st.Will, bucket: store.Sessions, key: strings.Clone(id)})
			} else {
				fix.Delete(store.Sessions, id)
			}
			expired++
			return nil
		}
		sess := newSession(s, id, true)
		if st.Username != nil {
			sess.username = *st.Username
		} else {
			sess.anyUser = true
		}
		sess.expiry = st.ExpiryInterval
		if st.ExpiresAt != 0 {
			sess.expiresAt = time.Unix(st.ExpiresAt, 0)
		} else if st.ExpiryInterval != neverExpires {
			// Its connection was open when the broker stopped: the
			// session expires as if it had disconnected now.
			sess.expiresAt = start.Add(time.Duration(st.ExpiryInterval) * time.Second)
			touched = append(touched, sess)
		}
		for _, sub := range st.Subscriptions {
			// A session's subscriptions are its client's, whatever the
			// record says (subSet keeps the client id once).
			sub.ClientID = id
			sess.subs.put(sub)
			if err := s.router.Subscribe(sub); err != nil {
				return fmt.Errorf("session %q: subscribe %q: %w", id, sub.Filter, err)
			}
		}
		for _, pid := range st.IncomingQoS2 {
			// A record of an earlier version: the ids move to their own
			// bucket.
			sess.holdQoS2(pid)
			fix.Set(store.Incoming, incomingKey(id, pid), nil)
		}
		if len(st.IncomingQoS2) > 0 {
			touched = append(touched, sess) // rewritten without them
		}
		sess.will, sess.willDelay = st.Will, st.WillDelay
		sess.willAt = loadedWillAt(&st, start)
		if st.Will != nil && st.WillAt == 0 && !sess.willAt.IsZero() {
			// The will's delay starts now: its record says when it ends,
			// so that another crash does not start it again.
			touched = append(touched, sess)
		}
		if st.Online {
			online = append(online, sess)
		}
		s.sessions[id] = sess
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: load sessions: %w", err)
	}

	err = s.opts.Store.Scan(store.Incoming, "", func(key string, _ []byte) error {
		id, rest, ok := strings.Cut(key, "\x00")
		if sess := s.sessions[id]; ok && sess != nil && len(rest) == 2 {
			sess.holdQoS2(uint16(rest[0])<<8 | uint16(rest[1]))
		} else {
			fix.Delete(store.Incoming, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: load QoS 2 packet ids: %w", err)
	}

	var orphans []string
	expiredEntries := 0
	err = s.opts.Store.Scan(store.Queues, "", func(key string, b []byte) error {
		id, seq, err := parseQueueKey(key)
		if err != nil {
			return err
		}
		sess := s.sessions[id]
		if sess == nil {
			if len(orphans) == 0 || orphans[len(orphans)-1] != id {
				orphans = append(orphans, id)
			}
			return nil
		}
		var rec OutboundState
		if err := decodeEntry(b, &rec); err != nil {
			return fmt.Errorf("queue entry %d of %q: %w", seq, id, err)
		}
		if rec.PacketID == 0 && rec.Expiry != 0 && !time.Unix(0, rec.Expiry).After(start) {
			// Expired before it was sent [MQTT-3.3.2-5].
			fix.Delete(store.Queues, key)
			expiredEntries++
			return nil
		}
		if !rec.Released {
			if !stored[rec.MessageID] {
				s.log.Error("queued message missing from the store; dropped", "client_id", id, "seq", seq)
				s.drop(DropStoreLost, id)
				fix.Delete(store.Queues, key)
				return nil
			}
			s.persist.refs[rec.MessageID]++
		}
		sess.nextSeq = max(sess.nextSeq, seq)
		if rec.PacketID == 0 && s.persist.ranger != nil {
			// The queue of an offline session stays in the store; its
			// client reads it back a window at a time.
			if sess.spilled == 0 {
				sess.spillFrom = seq
			}
			sess.spilled++
			return nil
		}
		ob := entryOutbound(seq, &rec)
		if ob.packetID != 0 {
			sess.inflight = append(sess.inflight, ob)
		} else {
			sess.queue = append(sess.queue, ob)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: load queues: %w", err)
	}
	for _, id := range orphans {
		fix.DeletePrefix(store.Queues, queuePrefix(id))
	}
	for id := range stored {
		if s.persist.refs[id] == 0 {
			fix.Delete(store.Messages, messageKey(id))
		}
	}
	for _, sess := range online {
		sess.startSeq = sess.nextSeq
	}
	for _, sess := range touched {
		s.persist.putSessionLocked(sess)
	}
	for _, sess := range s.sessions {
		if !sess.expiresAt.IsZero() {
			s.expiry.add(sess.id, sess.expiresAt)
		}
	}
	for _, name := range expiredRetained {
		fix.Delete(store.Retained, name)
	}
	if expired > 0 || expiredEntries > 0 || len(expiredRetained) > 0 {
		s.log.Info("what expired while stopped removed", "sessions", expired,
			"queued_messages", expiredEntries, "retained", len(expiredRetained))
	}
	if fix.Len() > 0 {
		if err := s.opts.Store.Apply(&fix, true); err != nil {
			return fmt.Errorf("broker: remove unreferenced records: %w", err)
		}
	}
	for _, sess := range s.sessions {
		// Entries were appended in key order, which is seq order.
		if !slices.IsSortedFunc(sess.queue, func(a, b *outbound) int { return cmp.Compare(a.seq, b.seq) }) {
			return errors.New("broker: load queues: entries out of order")
		}
		// Inflight messages are re-sent on reconnect: load them now; queued
		// ones are loaded when the window takes them.
		for _, ob := range sess.inflight {
			if !ob.released {
				m, err := s.persist.loadMessage(ob.msgID)
				if err != nil {
					return fmt.Errorf("broker: load inflight message of %q: %w", sess.id, err)
				}
				ob.msg = m
			}
		}
	}
	s.seq.resume(maxSeq)
	// A will still in the store belongs to a connection that was open when
	// the broker stopped without closing it, or whose delay was running:
	// the connection ended without DISCONNECT, so the will is published
	// [MQTT-3.1.2-8], now or when its delay ends (see will.go).
	wills, delayed := len(dueWills), 0
	s.publishStoredWills(dueWills)
	for _, sess := range s.sessions {
		if w := sess.will; w != nil && sess.willAt.After(start) {
			s.expiry.add(sess.id, sess.willAt)
			delayed++
		} else if w != nil {
			s.persist.beginGroup()
			s.publishWill(w, ClientInfo{ClientID: sess.id})
			sess.clearWill(w)
			s.persist.endGroup()
			wills++
		}
	}
	if wills > 0 || delayed > 0 {
		s.log.Info("wills of connections open at the last stop restored", "published", wills, "delayed", delayed)
	}
	if len(s.sessions) > 0 || s.retained.Len() > 0 {
		s.log.Info("state restored", "sessions", len(s.sessions), "retained", s.retained.Len(),
			"messages", len(s.persist.refs), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
