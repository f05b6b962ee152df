package broker

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/midgemq/midge/store"
)

// Wills and the store
//
// A will is published when its connection ends without DISCONNECT
// [MQTT-3.1.2-8]; a broker that crashes ends every connection that way, so
// the will of every connection open at the crash must be in the store, and
// be published when the broker starts again. Where it is kept depends on
// the session:
//
//   - A persistent session's record holds the will of the connection that
//     holds it (SessionState.Will), its Will Delay Interval (WillDelay) and,
//     once the connection has ended and the delay runs, when it is due
//     (WillAt).
//   - A session that ends with its connection has no record. Its
//     connection's will, if it has one, gets a record of its own in
//     store.Wills, keyed by client id, a zero byte and a number no other
//     will record shares, written at CONNECT and deleted when the will is
//     published or discarded. A connection without a will costs the store
//     nothing. The number keeps a will record apart from that of a later
//     connection with the same client id, which may write its own before
//     the earlier connection has published and deleted its will.
//
// After a crash, start-up (Server.load) publishes:
//
//   - a will whose delay was running (the client had gone) when it was
//     due, or at once if that time passed while the broker was down;
//   - a will whose connection was open at the crash once its Will Delay
//     Interval has passed from the start, or when the session expires if
//     that comes first [MQTT-3.1.3-9]. The broker cannot know when the
//     network connection really ended, only that it did not outlive the
//     crash, so the delay runs from the start: the client has that long to
//     come back, as after any other disconnection, and a will is never
//     published earlier than the spec allows;
//   - at once, the will of a session that ended, or would have ended, while
//     the broker was down, and the will of a connection whose session
//     ended with it (its delay ends with the session).
//
// Publishing a will and removing it from the store reach the store in one
// batch (persister.beginGroup), so that each will is published once,
// whatever the moment of a crash; a crash before that batch is durable
// publishes the will again at the next start, which a subscriber that got
// it in between sees twice.
//
// A will that a DISCONNECT discards [MQTT-3.14.4-3] leaves the store before
// the broker closes the socket: a client that has seen the close can count
// on the will never being published, crash or not (in DurabilityBatch and
// DurabilitySync; DurabilityNone loses at most its write-behind second).
// A persistent session's CONNACK waits for the commit that holds its
// record, will included; that of a session that ends with its connection
// does not wait for the store, and its will reaches it within one commit
// of the CONNECT.

// willKey keys the will record n of a connection of clientID in
// store.Wills.
func willKey(clientID string, n uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return queuePrefix(clientID) + string(b[:])
}

// parseWillKey returns the client id of a will record's key.
func parseWillKey(key string) (string, error) {
	if len(key) < 9 || key[len(key)-9] != 0 {
		return "", fmt.Errorf("malformed will key %q", key)
	}
	return key[:len(key)-9], nil
}

// putWillLocked writes w as the will record key and returns where the write
// is: 1 + its index in the batch, and the batch's generation; 0 when w could
// not be encoded. The caller holds the session's lock.
func (p *persister) putWillLocked(key string, w *Message) (op int, gen uint64) {
	if p.discards {
		return 0, 0
	}
	b, err := appendMessage(nil, w)
	if err != nil {
		p.log.Error("cannot encode will", "topic", w.Topic, "err", err)
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batch.Set(store.Wills, key, b)
	p.appendedLocked()
	return p.batch.Len(), p.gen
}

// deleteWillLocked removes the will record key, which putWillLocked wrote
// at op of generation gen. While that write is still in the batch, taking
// it back is enough: the store never had the record, so a connection that
// comes and goes within a commit costs the store nothing. It reports
// whether it appended a deletion, which must be applied before the store
// is rid of the will. The caller holds the session's lock.
func (p *persister) deleteWillLocked(key string, op int, gen uint64) bool {
	if p.discards {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if op != 0 && gen == p.gen {
		p.batch.Cancel(op - 1)
		return false
	}
	p.batch.Delete(store.Wills, key)
	p.appendedLocked()
	return true
}

// deleteRecord removes key from bucket.
func (p *persister) deleteRecord(bucket store.Bucket, key string) {
	p.mu.Lock()
	p.batch.Delete(bucket, key)
	p.appendedLocked()
	p.mu.Unlock()
}

// waitDurable returns once every write appended so far is durable, as
// whenDurable defines it. The caller holds no lock.
func (p *persister) waitDurable() {
	done := make(chan struct{})
	p.whenDurable(func(error) { close(done) })
	<-done
}

// setWill records the will of the connection that now holds the session
// and its Will Delay Interval, and writes the will to the store: into the
// record of a persistent session, or else into a record of its own.
func (s *session) setWill(w *Message, delay uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.willKey != "" {
		s.srv.persist.deleteWillLocked(s.willKey, s.willOp, s.willGen)
		s.willKey = ""
	}
	s.will, s.willDelay, s.willAt = w, delay, time.Time{}
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
	} else {
		s.putWillRecordLocked()
	}
}

// putWillRecordLocked writes the session's will into a record of its own,
// under a new key.
func (s *session) putWillRecordLocked() {
	s.willKey = willKey(s.id, s.srv.seq.next().Seq)
	s.willOp, s.willGen = s.srv.persist.putWillLocked(s.willKey, s.will)
}

// forgetWillLocked drops the session's will, in the store too. It reports
// whether that appended a write the store must apply before the will is
// gone from it (see persister.deleteWillLocked).
func (s *session) forgetWillLocked() bool {
	s.will, s.willDelay, s.willAt = nil, 0, time.Time{}
	if s.willKey != "" {
		wrote := s.srv.persist.deleteWillLocked(s.willKey, s.willOp, s.willGen)
		s.willKey = ""
		return wrote
	}
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
		return true
	}
	return false
}

// delayWill makes w wait delay seconds after its connection ended, if the
// session is still there to hold it; the scheduler publishes it then, or
// at the session's end if that comes first. It reports false when the
// session is ending and the will must go now.
//
// A new connection may have taken the session between its old
// connection's detach and this call: the client is back within the delay,
// so w is dropped [MQTT-3.1.3-9] (and kept from the session's record, where
// the new connection's own will, if any, has replaced it).
func (s *session) delayWill(w *Message, delay uint32) bool {
	s.mu.Lock()
	if s.ending != nil {
		s.mu.Unlock()
		return false
	}
	if s.will != w || s.conn != nil {
		if s.will == w {
			s.forgetWillLocked()
		}
		s.mu.Unlock()
		return true
	}
	s.willAt = time.Now().Add(time.Duration(delay) * time.Second)
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
	}
	at := s.willAt
	s.mu.Unlock()
	s.srv.expiry.add(s.id, at)
	return true
}

// restoreWill gives the session back the delayed will w that a refused
// CONNECT cancelled, if the session is still offline and has no other
// will, and reports whether it did.
func (s *session) restoreWill(w delayedWill) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.will == nil || s.conn != nil || s.ending != nil || s.will != nil {
		return false
	}
	s.will, s.willDelay, s.willAt = w.will, w.delay, w.at
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
	}
	return true
}

// takeDueWillLocked returns the delayed will if it is due at now (or
// whenever, with force) and forgets it.
func (s *session) takeDueWillLocked(now time.Time, force bool) *Message {
	if s.will == nil || s.willAt.IsZero() || (!force && now.Before(s.willAt)) {
		return nil
	}
	w := s.will
	s.forgetWillLocked()
	return w
}

// clearWill forgets w once it is published or discarded, unless a newer
// connection has set its own will meanwhile. It reports whether that
// appended a store write (see forgetWillLocked).
func (s *session) clearWill(w *Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.will != w {
		return false
	}
	return s.forgetWillLocked()
}

// storedWill is a will that start-up publishes at once, and the record
// that holds it, removed with the publication.
type storedWill struct {
	clientID string
	msg      *Message
	bucket   store.Bucket
	key      string
}

// loadWillRecords returns the wills of store.Wills: those of connections
// whose sessions did not persist and were open when the broker stopped.
// Records it cannot read go into fix, to be deleted.
func (s *Server) loadWillRecords(fix *store.Batch) ([]storedWill, error) {
	var wills []storedWill
	err := s.opts.Store.Scan(store.Wills, "", func(key string, b []byte) error {
		id, err := parseWillKey(key)
		if err == nil {
			var m *Message
			// b is the store's until fn returns; the message keeps a copy.
			if m, err = decodeMessage(slices.Clone(b)); err == nil {
				wills = append(wills, storedWill{clientID: id, msg: m, bucket: store.Wills, key: strings.Clone(key)})
				return nil
			}
		}
		s.log.Error("unreadable will record removed", "key", fmt.Sprintf("%q", key), "err", err)
		fix.Delete(store.Wills, key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("broker: load wills: %w", err)
	}
	return wills, nil
}

// loadedWillAt returns when the will of a session restored from rec is
// published, start being when the broker started: rec.WillAt when its
// delay was running; the end of the delay counted from when the connection
// ended, when the record says the session was offline but the delay's
// start did not reach the store; otherwise (the connection was open when
// the broker stopped) the end of the delay counted from start. Zero means
// at once.
func loadedWillAt(rec *SessionState, start time.Time) time.Time {
	switch {
	case rec.Will == nil:
		return time.Time{}
	case rec.WillAt != 0:
		return time.Unix(rec.WillAt, 0)
	case rec.WillDelay == 0:
		return time.Time{}
	}
	from := start
	if rec.ExpiresAt != 0 && rec.ExpiryInterval != neverExpires {
		from = time.Unix(rec.ExpiresAt, 0).Add(-time.Duration(rec.ExpiryInterval) * time.Second)
	}
	return from.Add(time.Duration(rec.WillDelay) * time.Second)
}

// publishStoredWills publishes, at start, each will in wills and removes
// its record in the same batch.
func (s *Server) publishStoredWills(wills []storedWill) {
	for _, w := range wills {
		s.persist.beginGroup()
		s.publishWill(w.msg, ClientInfo{ClientID: w.clientID})
		s.persist.deleteRecord(w.bucket, w.key)
		s.persist.endGroup()
	}
}

// endPendingWill publishes the will of sess, which the caller has marked
// as ending, if it waits for its delay: the session's end is the will's
// time [MQTT-3.1.2-8]. The publication and the will's removal from the
// session's record reach the store together.
func (s *Server) endPendingWill(sess *session) {
	s.persist.beginGroup()
	defer s.persist.endGroup()
	sess.mu.Lock()
	w := sess.takeDueWillLocked(time.Now(), true)
	sess.mu.Unlock()
	if w != nil {
		s.publishWill(w, ClientInfo{ClientID: sess.id})
	}
}
