package broker

import (
	"errors"
	"sync"
	"time"

	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/topic"
)

// session is the broker side of one client id: its subscriptions, the QoS 1
// and 2 messages in flight to it, the messages queued for it and the QoS 2
// packet ids it has sent us. It outlives its connections when it persists.
// sentBeforeStart is the outbound.sentOn of a message restored in flight
// from the store: it may have been sent before the broker stopped.
const sentBeforeStart = ^uint32(0)

type session struct {
	srv *Server
	id  string

	// mu guards the fields below it.
	mu sync.Mutex
	// conn is the connection holding the session; nil while offline.
	conn *conn
	// gen counts the connections that have held the session, this one
	// included; outbound.sentOn refers to it. The small fields sit
	// together, so that the struct fits the 352-byte size class
	// (TestStructSizes).
	gen uint32
	// anyUser: see username.
	anyUser bool
	// persistent sessions outlive their connection (MQTT 3.1.1 Clean
	// Session 0; MQTT 5.0 Session Expiry Interval > 0).
	persistent bool
	// resuming is set from the attach of a connection to an existing
	// session until resume: meanwhile no message goes out, lest it
	// overtake those in flight that resume sends again [MQTT-4.6.0-6].
	resuming bool
	// watching: see watch.
	watching bool
	// expiry: see expiresAt. willDelay: see will.
	expiry    uint32
	willDelay uint32
	// username is the user name of the client that made the session, or
	// last resumed it ("" for a client without one): its subscriptions
	// were authorized, and its messages queued, for that user. While an
	// Authorizer is set, a client with another user name does not resume
	// the session but discards it (Server.attach). anyUser is set instead
	// for a session restored from a record that did not keep the user
	// name: the next client resumes it and then owns it.
	username string
	// authGen is the Server.authGen at which the Authorizer last decided
	// the subscriptions, and authInfo the ClientInfo of the session's last
	// connection, kept only while an Authorizer is set (see
	// reauthorize.go).
	authGen  uint64
	authInfo *ClientInfo
	subs     subSet
	// inflight holds the QoS 1 and 2 messages sent and not yet fully
	// acknowledged, in the order they were sent; at most the connection's
	// window (MaxInflight, or less if the client's Receive Maximum is).
	inflight []*outbound
	// queue holds QoS 1 and 2 messages waiting for a place in inflight;
	// queue[qhead:] are live. With spilled, at most MaxQueued.
	queue []*outbound
	qhead int
	// spilled counts the queued messages after queue that are in the
	// store alone, from the entry numbered spillFrom on: a persistent
	// session's queue stays on disk while its client is away, and only a
	// window of it is in memory while the client takes it (see
	// spillLocked). Only with a store that is a store.Ranger.
	spilled   int
	spillFrom uint64
	// freed holds the packet ids of entries deleted by writes that may not
	// be applied yet (see packetid.go); nil when there are none.
	freed *freedIDs
	// deferring counts the inflight messages whose first send waits for
	// the store (outbound.deferred).
	deferring int
	// nextSeq numbers the session's outbound messages in the store.
	// startSeq is the last number read from the store when the broker
	// started, if the session's record said a connection held it then: a
	// message up to it may have been sent before (0 otherwise).
	nextSeq  uint64
	startSeq uint64
	// ending is made when the session is being discarded and closed once
	// it is gone from the server's table.
	ending chan struct{}
	// expiry is the Session Expiry Interval in seconds: 0 for a session
	// that ends with its connection, neverExpires for one that stays until
	// the client ends it. expiresAt is when an offline session ends.
	expiresAt time.Time
	// willAt is when the will of the last connection is published, while
	// it waits for its Will Delay Interval; zero otherwise.
	willAt time.Time
	// watch, while watching is set, collects the topics of the live
	// messages the session takes (made for the first): retained messages
	// sent for a new subscription skip those topics, whose live message is
	// as new or newer.
	watch map[string]struct{}
	// will is the will of the connection that holds the session (or held
	// it last, while the will waits for its delay), and willDelay its Will
	// Delay Interval in seconds. A persistent session's record holds both;
	// for a session that ends with its connection, willKey is the key of
	// the will's own record in store.Wills ("" for none), written at op
	// (1 + its index) of the persister's batch of generation willGen (see
	// persister.putWillLocked).
	will    *Message
	willKey string
	willOp  int
	willGen uint64
	// qos2In holds the packet ids of QoS 2 messages received from the client
	// and not yet released by its PUBREL.
	qos2In map[uint16]struct{}
}

// outbound is one message on its way to a session's client. Its fields
// are ordered so that it fits in 128 bytes: one is made per message and
// subscriber.
type outbound struct {
	msg *Message
	ids []uint32
	// seq orders the session's messages and keys them in the store.
	seq   uint64
	msgID MsgID
	// op is 1 + the index of the entry's last write in the persister's
	// batch of generation opGen, 0 for none; flushed is set once a write
	// of the entry has left that batch for the store. While neither has
	// happened, deleting the entry takes its write back instead.
	op    int
	opGen uint64
	// writtenAt is the persister's write number of the entry's last write
	// in this run, 0 while the entry is as the store held it when read.
	writtenAt uint64
	// shared is the $share/{group}/{filter} the message came through, if
	// any: it goes to another member if this session ends first.
	shared string
	// routed is when the message was routed (monoNow), for the delivery
	// latency; 0 when it is not to be observed.
	routed int64
	// sentOn is the session's gen when the message was last sent: 0 if
	// never, sentBeforeStart if it may have been sent before the broker
	// started. A message sent on the connection that holds the session is
	// not sent again by resume; one sent before goes again with DUP set.
	sentOn   uint32
	packetID uint16
	qos      byte
	retain   bool
	// released is set once the client's PUBREC arrived and PUBREL went out.
	released bool
	// stored is set while the store holds the entry; hasRef while the entry
	// holds a reference to the stored message body.
	stored, hasRef bool
	flushed        bool
	// deferred is set while the first send waits for the store entry:
	// sendDeferred makes it, on whichever connection then holds the
	// session, and resume leaves the message to it.
	deferred bool
}

func newSession(s *Server, id string, persistent bool) *session {
	return &session{
		srv:        s,
		id:         id,
		persistent: persistent,
	}
}

// ownedBy reports whether a client with the user name username may resume
// the session. The caller holds s.mu.
func (s *session) ownedBy(username string) bool {
	return s.anyUser || s.username == username
}

// deliver takes msg for this session as d says. It implements the session
// side of Deliverer.
func (s *session) deliver(msg *Message, d Delivery) Outcome {
	if msg.Expiry != 0 && msg.Expired(time.Now()) { // no clock read for messages without expiry
		s.srv.drop(DropExpired, s.id)
		return Refused
	}
	qos := min(msg.QoS, d.QoS) // [MQTT-3.8.4-8] downgrade to the granted QoS
	retain := d.Retained || (d.RetainAsPublished && msg.Retain)
	outcome := s.deliverLocked(msg, d, qos, retain)
	if outcome == QueueFull && d.Group == nil {
		// A shared subscription's message is counted by the router, and
		// only when no member of the group takes it.
		s.srv.drop(DropQueueFull, s.id)
	}
	return outcome
}

func (s *session) deliverLocked(msg *Message, d Delivery, qos byte, retain bool) Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watching {
		if !d.Retained {
			if s.watch == nil {
				s.watch = make(map[string]struct{})
			}
			s.watch[msg.Topic] = struct{}{}
		} else if _, live := s.watch[msg.Topic]; live {
			// A live message of the topic came during the watch: it is
			// newer than this retained one, which is not sent. Checked
			// under the same lock as the sending, so that no live
			// message slips in between.
			return Refused
		}
	}
	c := s.conn
	if qos == 0 {
		// QoS 0 messages are not queued for offline clients.
		if c == nil {
			return Refused
		}
		c.sendPublish(msg, 0, retain, 0, false, d.Identifiers, routedStamp(msg, d))
		return Accepted
	}
	windowFree := c != nil && !s.resuming && len(s.inflight) < c.window && s.queueLenLocked() == 0
	if d.Shared && !windowFree {
		return Refused
	}
	if !windowFree && s.queueLenLocked() >= s.srv.limits().MaxQueued {
		return QueueFull
	}
	s.nextSeq++
	ob := &outbound{msg: msg, qos: qos, retain: retain, ids: d.Identifiers, seq: s.nextSeq, msgID: msg.ID,
		routed: routedStamp(msg, d)}
	if g := d.Group; g != nil {
		ob.shared = topic.SharePrefix + g.Name + "/" + g.Filter
	}
	if windowFree {
		s.sendLocked(ob)
		return Accepted
	}
	if s.spillLocked(c) {
		s.srv.persist.putEntryLocked(s, ob)
		if s.spilled == 0 {
			s.spillFrom = ob.seq
		}
		s.spilled++
		return Queued
	}
	s.queue = append(s.queue, ob)
	if s.persistent {
		s.srv.persist.putEntryLocked(s, ob)
		if p := s.srv.persist; p.ranger == nil && !p.discards && s.queueLenLocked() > s.srv.limits().MaxInflight {
			// On a store that cannot read a queue back a window at a
			// time, the whole queue is in memory: beyond what the next
			// refill of the window takes, a queued message keeps only its
			// entry, and its body is loaded when its turn comes. (With a
			// store.Ranger the memory window is small and keeps its
			// messages; the rest of the queue is in the store alone. A
			// store that keeps nothing has no body to load: the message
			// keeps it.)
			ob.msg = nil
		}
	}
	return Queued
}

// queueLenLocked returns the number of queued messages, in memory or not.
func (s *session) queueLenLocked() int { return len(s.queue) - s.qhead + s.spilled }

// memQueueMin is the least number of queued messages a connected session
// keeps in memory before the rest stays in the store alone.
const memQueueMin = 64

// spillLocked reports whether a message queued now is kept in the store
// alone: for a persistent session on a store that can read it back a
// window at a time, when its client is away (c is nil), when its memory
// window is full, or when messages before it are in the store alone
// already (the queue keeps its order). c is the connection holding the
// session.
func (s *session) spillLocked(c *conn) bool {
	if !s.persistent || s.srv.persist.ranger == nil {
		return false
	}
	return s.spilled > 0 || c == nil || len(s.queue)-s.qhead >= max(memQueueMin, s.srv.limits().MaxInflight)
}

// spillAllLocked lets the session's client go without its queue in memory:
// the queued messages, all in the store, are read back when it returns.
func (s *session) spillAllLocked() {
	if !s.persistent || s.srv.persist.ranger == nil || s.qhead == len(s.queue) {
		return
	}
	for _, ob := range s.queue[s.qhead:] {
		if !ob.stored {
			return // its store write failed: it lives in memory only
		}
	}
	s.spillFrom = s.queue[s.qhead].seq
	s.spilled += len(s.queue) - s.qhead
	s.queue, s.qhead = nil, 0
}

// unspillLocked reads the next window of the queue from the store into
// memory, all of it with all set. It reports whether it read anything.
func (s *session) unspillLocked(all bool) bool {
	if s.spilled == 0 {
		return false
	}
	n := s.spilled
	if !all {
		n = min(n, max(memQueueMin, s.srv.limits().MaxInflight))
	}
	obs, err := s.srv.persist.readQueue(s.id, s.spillFrom, n)
	if err != nil {
		s.srv.log.Error("cannot read queued messages from the store", "client_id", s.id, "err", err)
		return false
	}
	if len(obs) < n {
		s.srv.log.Error("queued messages missing from the store; dropped", "client_id", s.id,
			"messages", s.spilled-len(obs))
		for range s.spilled - len(obs) {
			s.srv.drop(DropStoreLost, s.id)
		}
		s.spilled = len(obs)
		if len(obs) == 0 {
			return false
		}
	}
	s.queue = append(s.queue, obs...)
	s.spilled -= len(obs)
	s.spillFrom = obs[len(obs)-1].seq + 1
	return true
}

// sendLocked gives ob its packet id (packetid.go), puts it in the inflight
// window, records it in the store when the session persists, and writes
// it to the connection. The caller has checked that ob may go
// (sendableNowLocked).
func (s *session) sendLocked(ob *outbound) {
	ob.packetID = packetIDFor(ob.seq)
	derived := s.findLocked(ob.packetID) < 0
	if !derived {
		ob.packetID = s.otherIDLocked(ob.seq)
	}
	s.inflight = append(s.inflight, ob)
	if s.persistent {
		p := s.srv.persist
		// A QoS 2 message goes out once its entry is durable: a client
		// that has it must find it again, under the same packet id, after
		// a crash, or it would take it as a new one. One whose entry is in
		// the store already need not wait, since its id follows from its
		// place in the queue (packetid.go). A QoS 1 message goes at once:
		// were the broker to crash before its entry is durable, its
		// publisher, not acknowledged either, sends it again, and a second
		// delivery is what QoS 1 allows; it waits only behind an earlier
		// message that waits, so that the session's messages keep their
		// order. A client that acknowledges before the next commit spares
		// the store the entry altogether (deleteEntryLocked). The check
		// and the write take the persister's lock once.
		wait := s.deferring > 0
		b := encodeEntry(ob)
		p.mu.Lock()
		if !wait && ob.qos == 2 {
			wait = !derived || !p.sendableLocked(s, ob)
		}
		p.appendEntryLocked(s, ob, b)
		p.mu.Unlock()
		if wait && p.deferLocked(noMark, func(error) { s.sendDeferred(ob) }) {
			ob.deferred = true
			s.deferring++
			return
		}
	}
	ob.sentOn = s.gen
	if s.conn.sendPublish(ob.msg, ob.qos, ob.retain, ob.packetID, s.mayHaveSentLocked(ob), ob.ids, ob.routed) {
		s.completeLocked(ob)
	}
}

// completeLocked ends the delivery of the inflight ob as if the client had
// acknowledged it: for a message too large for the client
// [MQTT-3.1.2-25]. The caller refills the window.
func (s *session) completeLocked(ob *outbound) {
	if i := s.findLocked(ob.packetID); i >= 0 && s.inflight[i] == ob {
		s.removeInflightLocked(i)
	}
}

// sendDeferred sends ob, whose sending waited for the store, if it is still
// in flight to a connected client.
func (s *session) sendDeferred(ob *outbound) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ob.deferred = false
	s.deferring--
	// resume may have run on the connection already, or not yet: whichever
	// of the two comes second leaves the message alone.
	if c := s.conn; c != nil && !s.resuming && ob.sentOn != s.gen && !ob.released && ob.msg != nil {
		if i := s.findLocked(ob.packetID); i >= 0 && s.inflight[i] == ob {
			ob.sentOn = s.gen
			if c.sendPublish(ob.msg, ob.qos, ob.retain, ob.packetID, s.mayHaveSentLocked(ob), ob.ids, ob.routed) {
				s.completeLocked(ob)
				s.fillLocked()
			}
		}
	}
}

func (s *session) findLocked(id uint16) int {
	for i, ob := range s.inflight {
		if ob.packetID == id {
			return i
		}
	}
	return -1
}

// fillLocked moves queued messages into the inflight window while it has
// room and the client is connected.
func (s *session) fillLocked() {
	for s.conn != nil && !s.resuming && len(s.inflight) < s.conn.window && s.queueLenLocked() > 0 {
		if s.qhead == len(s.queue) && !s.unspillLocked(false) {
			break
		}
		ob := s.queue[s.qhead]
		if !s.sendableNowLocked(ob) {
			// The acknowledgement of the message that has its packet id
			// refills the window.
			break
		}
		s.queue[s.qhead] = nil
		s.qhead++
		if ob.msg == nil {
			m, err := s.srv.persist.loadMessage(ob.msgID)
			if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, errBadRecord) {
				// The store could not read it: it stays queued, and the
				// next refill (an acknowledgement, a reconnect) tries again.
				s.srv.log.Error("cannot read a queued message; it stays queued", "client_id", s.id, "err", err)
				s.qhead--
				s.queue[s.qhead] = ob
				break
			}
			if err != nil {
				s.srv.log.Error("queued message lost", "client_id", s.id, "err", err)
				s.srv.persist.deleteEntryLocked(s, ob)
				s.srv.drop(DropStoreLost, s.id)
				continue
			}
			ob.msg = m
		}
		if ob.msg.Expiry != 0 && ob.msg.Expired(time.Now()) {
			// Not yet sent, and expired: this copy is deleted
			// [MQTT-3.3.2-5].
			s.srv.persist.deleteEntryLocked(s, ob)
			s.srv.drop(DropExpired, s.id)
			continue
		}
		s.sendLocked(ob)
	}
	if s.qhead == len(s.queue) {
		s.queue = s.queue[:0]
		s.qhead = 0
	} else if s.qhead > 1024 && s.qhead > len(s.queue)/2 {
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		s.qhead = 0
	}
}

func (s *session) removeInflightLocked(i int) {
	s.srv.persist.deleteEntryLocked(s, s.inflight[i])
	copy(s.inflight[i:], s.inflight[i+1:])
	s.inflight[len(s.inflight)-1] = nil
	s.inflight = s.inflight[:len(s.inflight)-1]
}

// puback handles the client's PUBACK for id: the QoS 1 delivery is done
// [MQTT-4.3.2-1]. An unknown id is ignored.
func (s *session) puback(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.findLocked(id); i >= 0 && s.inflight[i].qos == 1 {
		s.removeInflightLocked(i)
		s.fillLocked()
	}
}

// pubrec handles the client's PUBREC for id: the message is received and
// the broker answers PUBREL [MQTT-4.3.3-4]. It reports whether id was
// known, and whether the entry's new state was written to the store
// (stored).
func (s *session) pubrec(id uint16) (known, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findLocked(id)
	if i < 0 || s.inflight[i].qos != 2 {
		return false, false
	}
	ob := s.inflight[i]
	if ob.released {
		return true, false // a repeated PUBREC
	}
	ob.released = true
	// From here on the message itself is never sent again [MQTT-4.3.3-6]:
	// only PUBREL is, on reconnect.
	ob.msg = nil
	if ob.stored {
		s.srv.persist.dropRefLocked(ob)
		s.srv.persist.putEntryLocked(s, ob)
		stored = true
	}
	return true, stored
}

// rewriteReleased writes the entry of the released message id again,
// after the store failed to write it: resume then sends PUBREL once a
// commit holds it.
func (s *session) rewriteReleased(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.findLocked(id); i >= 0 && s.inflight[i].released && s.inflight[i].stored {
		s.srv.persist.putEntryLocked(s, s.inflight[i])
	}
}

// forget ends the delivery of the inflight message id whatever its state.
func (s *session) forget(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.findLocked(id); i >= 0 {
		s.removeInflightLocked(i)
		s.fillLocked()
	}
}

// pubcomp handles the client's PUBCOMP for id: the QoS 2 delivery is done.
func (s *session) pubcomp(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.findLocked(id); i >= 0 && s.inflight[i].released {
		s.removeInflightLocked(i)
		s.fillLocked()
	}
}

// resume re-sends what was in flight when the client last went away, then
// what is queued: unacknowledged PUBLISH packets again with DUP set, and
// PUBREL for messages the client had received, once the store has their
// PUBREC [MQTT-4.4.0-1].
func (s *session) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resuming = false
	c := s.conn
	if c == nil {
		return
	}
	var tooLarge []*outbound
	for _, ob := range s.inflight {
		if ob.deferred || ob.sentOn == s.gen {
			// Waiting for the store, sendDeferred sends it; or sent on
			// this connection already (by sendDeferred or a delivery
			// between the attach and now): once, and without DUP when it
			// was never sent before [MQTT-3.3.1-3].
			continue
		}
		if ob.released {
			// PUBREL once the store knows of the PUBREC, which may have
			// come on the last connection just now: a client that has
			// PUBREL forgets the packet id once it answers PUBCOMP, and
			// a broker that crashed before the commit would send the
			// PUBLISH again, a new message to that client
			// [MQTT-4.3.3-6] [MQTT-4.3.3-12].
			// A failed write of the entry is told too: pubrelWhenStored
			// writes it again and ends the connection.
			id, stored, from := ob.packetID, ob.stored, uint64(noMark)
			if ob.writtenAt > 0 {
				from = ob.writtenAt - 1
			}
			if !s.srv.persist.deferLocked(from, func(err error) { c.pubrelWhenStored(s, id, packet.Success, stored, err) }) {
				c.sendAck(packet.TypePubrel, id, packet.Success)
			}
			continue
		}
		dup := ob.sentOn != 0
		ob.sentOn = s.gen
		if c.sendPublish(ob.msg, ob.qos, ob.retain, ob.packetID, dup, ob.ids, 0) {
			tooLarge = append(tooLarge, ob)
		}
	}
	for _, ob := range tooLarge {
		s.completeLocked(ob)
	}
	s.fillLocked()
}

// receiveQoS2 records the packet id of an incoming QoS 2 PUBLISH. It
// reports false when the id is already recorded: the PUBLISH is a
// duplicate and must not be delivered again [MQTT-4.3.3-10].
func (s *session) receiveQoS2(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.qos2In[id]; dup {
		return false
	}
	s.holdQoS2(id)
	if s.persistent {
		s.srv.persist.putIncomingLocked(s, id)
	}
	return true
}

// holdQoS2 records id as received, making the set on first use: most
// sessions never receive QoS 2. The caller holds s.mu, or owns s alone.
func (s *session) holdQoS2(id uint16) {
	if s.qos2In == nil {
		s.qos2In = make(map[uint16]struct{})
	}
	s.qos2In[id] = struct{}{}
}

// release forgets an incoming QoS 2 packet id, on PUBREL or because its
// PUBLISH could not be stored. It reports whether the id was known, and
// whether its removal was written to the store (stored).
func (s *session) release(id uint16) (known, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, known = s.qos2In[id]
	delete(s.qos2In, id)
	if known && s.persistent {
		s.srv.persist.deleteIncomingLocked(s, id)
		stored = true
	}
	return known, stored
}

// unrelease takes back the release of id, whose removal the store could
// not write: the id stays received until the client's PUBREL comes again.
func (s *session) unrelease(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.qos2In[id]; ok {
		return
	}
	s.holdQoS2(id)
	if s.persistent {
		s.srv.persist.putIncomingLocked(s, id)
	}
}

// subscribe records sub. It reports the subscription to the same filter
// that sub replaces, if the client had one (existed), and whether the
// session's record was written to the store (stored). A new filter over
// limit subscriptions (limit > 0) is not recorded, and ok is false.
func (s *session) subscribe(sub topic.Subscription, limit int) (prev topic.Subscription, existed, stored, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, existed = s.subs.get(sub.Filter)
	if !existed && limit > 0 && s.subs.len() >= limit {
		return prev, false, false, false
	}
	s.subs.put(sub)
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
	}
	return prev, existed, s.persistent, true
}

// undoSubscribe takes sub back after the store could not write it: the
// session has prev again if existed, else no subscription to the filter.
// It does nothing if the filter's subscription has changed since. The
// record is written again, since a later write may have stored sub.
func (s *session) undoSubscribe(sub, prev topic.Subscription, existed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.subs.get(sub.Filter); !ok || cur != sub || s.ending != nil {
		return
	}
	if existed {
		s.subs.put(prev)
	} else {
		s.subs.remove(sub.Filter)
	}
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
	}
}

// beginWatch starts collecting the topics of live messages; endWatch stops.
func (s *session) beginWatch() {
	s.mu.Lock()
	s.watching, s.watch = true, nil
	s.mu.Unlock()
}

func (s *session) endWatch() {
	s.mu.Lock()
	s.watching, s.watch = false, nil
	s.mu.Unlock()
}

// holds reports whether the session, not ending, has exactly sub.
func (s *session) holds(sub topic.Subscription) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.subs.get(sub.Filter)
	return ok && cur == sub && s.ending == nil
}

// holdsFilter reports whether the session has a subscription to filter.
func (s *session) holdsFilter(filter string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.subs.get(filter)
	return ok
}

// unsubscribe forgets the subscription to filter. It reports the
// subscription, whether it existed (ok), and whether the session's record
// was written to the store (stored).
func (s *session) unsubscribe(filter string) (prev topic.Subscription, ok, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok = s.subs.get(filter)
	if !ok {
		return prev, false, false
	}
	s.subs.remove(filter)
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
	}
	return prev, true, s.persistent
}

// undoUnsubscribe gives the session prev back after the store could not
// write its removal, unless the client has subscribed to the filter again
// since. The record is written again, since a later write may have stored
// the removal.
func (s *session) undoUnsubscribe(prev topic.Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs.get(prev.Filter); ok || s.ending != nil {
		return
	}
	s.subs.put(prev)
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
	}
}

// setExpiry changes the Session Expiry Interval from a DISCONNECT. It
// reports false, changing nothing, when the session was to end with its
// connection and the new interval is not 0.
func (s *session) setExpiry(interval uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry == 0 && interval != 0 {
		return false
	}
	s.expiry = interval
	s.setPersistentLocked(interval > 0)
	if s.persistent {
		s.srv.persist.putSessionLocked(s)
	}
	return true
}

// outboundLocked returns the session's inflight and queued messages in one
// new slice, leaving both untouched.
func (s *session) outboundLocked() []*outbound {
	all := make([]*outbound, 0, len(s.inflight)+s.queueLenLocked())
	all = append(all, s.inflight...)
	return append(all, s.queue[s.qhead:]...)
}

// setPersistentLocked changes whether the session outlives its connection,
// writing it to the store or removing it from there.
func (s *session) setPersistentLocked(persistent bool) {
	if s.persistent == persistent {
		return
	}
	if !persistent {
		// The session goes on in memory alone: its queue and their
		// messages come back from the store first.
		s.unspillLocked(true)
		for _, ob := range s.queue[s.qhead:] {
			if ob.msg == nil {
				m, err := s.srv.persist.loadMessage(ob.msgID)
				if err != nil {
					s.srv.log.Error("queued message lost", "client_id", s.id, "err", err)
					continue
				}
				ob.msg = m
			}
		}
		if s.will != nil {
			// The will moves to a record of its own, written before the
			// session's record goes: a crash in between would publish it
			// twice rather than never. The store had the will before this
			// write, so its removal is never a mere take-back (willOp 0).
			s.putWillRecordLocked()
			s.willOp = 0
		}
		s.srv.persist.deleteSessionLocked(s, s.outboundLocked())
		s.persistent = false
		return
	}
	s.persistent = true
	s.srv.persist.putSessionLocked(s)
	if s.willKey != "" {
		// The session's record holds the will from now on.
		s.srv.persist.deleteWillLocked(s.willKey, s.willOp, s.willGen)
		s.willKey = ""
	}
	for id := range s.qos2In {
		s.srv.persist.putIncomingLocked(s, id)
	}
	for _, ob := range s.inflight {
		s.srv.persist.putEntryLocked(s, ob)
	}
	for _, ob := range s.queue[s.qhead:] {
		s.srv.persist.putEntryLocked(s, ob)
	}
}

// discard ends the session: its subscriptions leave the router, and what it
// had queued or in flight is dropped with it, except the messages of shared
// subscriptions not yet received, which go to another member of their group.
func (s *session) discard() {
	s.mu.Lock()
	filters := make([]string, 0, s.subs.len())
	for sub := range s.subs.all() {
		filters = append(filters, sub.Filter)
	}
	s.subs.clear()
	type handOver struct {
		shared string
		msg    *Message
	}
	var handOvers []handOver
	for _, ob := range s.outboundLocked() {
		if ob.shared == "" || ob.released || (ob.qos == 2 && ob.packetID != 0) {
			// A QoS 2 message sent to this member may have been received:
			// another member must not get it too (exactly once).
			continue
		}
		m := ob.msg
		if m == nil {
			var err error
			if m, err = s.srv.persist.loadMessage(ob.msgID); err != nil {
				s.srv.log.Error("shared message lost", "client_id", s.id, "err", err)
				continue
			}
		}
		handOvers = append(handOvers, handOver{ob.shared, m})
	}
	if s.persistent {
		s.srv.persist.deleteSessionLocked(s, s.outboundLocked())
	}
	s.inflight = nil
	s.queue = nil
	s.qhead = 0
	s.spilled = 0
	s.mu.Unlock()
	for _, f := range filters {
		if _, err := s.srv.router.Unsubscribe(s.id, f); err != nil {
			s.srv.log.Error("unsubscribe of ended session failed", "client_id", s.id, "filter", f, "err", err)
		}
	}
	if lr, ok := s.srv.router.(*localRouter); ok {
		for _, h := range handOvers {
			if name, f, ok := topic.ParseShared(h.shared); ok {
				lr.redeliverShared(name, f, h.msg)
			}
		}
	}
}
