package broker

// The packet id of an outbound QoS 1 or 2 message follows from its place
// in the session's queue, seq: packetIDFor(seq). A message whose queue
// entry is in the store already (read back from it, or written by an
// earlier commit) can therefore go out at once even at QoS 2. Were the
// broker to crash before the entry's new state (sent, with its packet id)
// is durable, the entry is read back as queued and sent again under the
// same id, which a client that has it takes as the same message
// [MQTT-4.3.3-10]; DUP is set on it, since it may have been sent before
// (see session.startSeq). Only a QoS 2 message whose entry is not yet
// durable waits for the commit before it goes out: a crash would lose the
// entry, and its publisher's retry would come as a new message.
//
// Two messages 65,535 places apart share an id. While the earlier one is
// in flight, the later one takes another id, and at QoS 2 it waits for the
// commit that records it. A QoS 2 message also waits while the store may
// still hold an entry with its id, deleted since its delivery ended: read
// back after a crash, that entry would claim the id again (see freedIDs).
// A message that may have been sent before the broker started waits until
// its own id is free: its client may hold that id.

// packetIDFor returns the packet id of the session's message seq (1 up):
// 1 to 65,535 [MQTT-2.2.1-3], in turn.
func packetIDFor(seq uint64) uint16 {
	return uint16((seq-1)%65535) + 1
}

// freedIDs remembers the packet ids of entries whose deletions were
// appended to the store's batch and may not be applied yet: until they
// are, those ids are not sent again without waiting for the store. Two
// epochs of deletions, each a set of ids (by their low 8 bits, so that an
// id may be taken as freed when it was not, which only costs a wait) and
// the write number of its last deletion: once a commit has applied the
// older epoch, the newer one takes its place.
type freedIDs struct {
	old, cur freedEpoch
}

type freedEpoch struct {
	ids [4]uint64
	at  uint64
}

func (e *freedEpoch) add(id uint16, at uint64) {
	e.ids[id>>6&3] |= 1 << (id & 63)
	e.at = at
}

func (e *freedEpoch) has(id uint16) bool {
	return e.ids[id>>6&3]&(1<<(id&63)) != 0
}

// settleStartLocked forgets startSeq once no queued message is numbered up
// to it: those have gone out again, with DUP. The caller holds s.mu.
func (s *session) settleStartLocked() {
	switch {
	case s.startSeq == 0:
	case s.qhead < len(s.queue):
		if s.queue[s.qhead].seq > s.startSeq {
			s.startSeq = 0
		}
	case s.spilled > 0:
		if s.spillFrom > s.startSeq {
			s.startSeq = 0
		}
	default:
		s.startSeq = 0
	}
}

// sendableNowLocked reports whether the queued message ob may go out now:
// unless it may have been sent before the broker started, under the id
// its client may still hold, it need not wait for its own id. The caller
// holds s.mu.
func (s *session) sendableNowLocked(ob *outbound) bool {
	return ob.seq > s.startSeq || s.findLocked(packetIDFor(ob.seq)) < 0
}

// otherIDLocked returns a packet id not in flight for the message seq,
// whose own is: half the id space away, where the messages next in line
// do not look for theirs. The window is smaller than the id space, so
// there is one. The caller holds s.mu.
func (s *session) otherIDLocked(seq uint64) uint16 {
	for i := seq + 32767; ; i++ {
		if id := packetIDFor(i); s.findLocked(id) < 0 {
			return id
		}
	}
}

// mayHaveSentLocked reports whether ob may have been sent before the broker
// last started: queued then, it goes out with DUP set [MQTT-3.3.1-1].
func (s *session) mayHaveSentLocked(ob *outbound) bool {
	return ob.seq <= s.startSeq
}

// sendableLocked reports whether the QoS 2 message ob, about to be sent for
// the first time in this run, may go out before its new state is durable:
// its entry is in the store already, and no entry the store may still hold
// has its packet id. The caller holds s.mu and p.mu.
func (p *persister) sendableLocked(s *session, ob *outbound) bool {
	if !ob.stored || !p.durableLocked(ob.writtenAt) {
		return false
	}
	f := s.freed
	if f == nil {
		return true
	}
	for _, e := range [2]*freedEpoch{&f.old, &f.cur} {
		if e.at > p.committed && e.has(ob.packetID) {
			return false
		}
	}
	return true
}

// freeLocked notes that the entry of ob, which had packet id ob.packetID,
// is deleted by write number at. The caller holds s.mu and p.mu.
func (p *persister) freeLocked(s *session, ob *outbound, at uint64) {
	if ob.packetID == 0 || p.mode == DurabilityNone {
		return // no message waits for the store then
	}
	f := s.freed
	if f == nil {
		f = new(freedIDs)
		s.freed = f
	}
	if f.old.at <= p.committed {
		// Every deletion of the older epoch is applied. (One that a failed
		// commit lost is not waited for: waiting would not bring it back.)
		f.old, f.cur = f.cur, freedEpoch{}
	}
	f.cur.add(ob.packetID, at)
}

// dropFreedLocked forgets the freed ids of s once every deletion is
// applied. The caller holds s.mu and p.mu.
func (p *persister) dropFreedLocked(s *session) {
	if f := s.freed; f != nil && f.old.at <= p.committed && f.cur.at <= p.committed {
		s.freed = nil
	}
}

// durableLocked reports whether write number at (0 for a record read from
// the store) is in the store: applied by a commit, and appended after the
// last commit that failed (an earlier write is taken as missing, since the
// failed batch may have held it). The caller holds p.mu.
func (p *persister) durableLocked(at uint64) bool {
	return at == 0 || (at <= p.committed && at > p.failedAt)
}
