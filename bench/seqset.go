package bench

// maxTrackedSeq bounds the sequence numbers whose receipt is remembered, and so the memory one publisher's
// messages take in each subscriber (one bit each: 32 MiB at most). Later messages are counted but not checked for
// duplicates.
const maxTrackedSeq = 1 << 28

// seqSet is the set of sequence numbers one subscriber has received from one publisher, one bit each.
type seqSet struct {
	words []uint64
}

// add records seq and reports whether it was already there.
func (s *seqSet) add(seq uint32) (dup bool) {
	if seq >= maxTrackedSeq {
		return false
	}
	w := int(seq >> 6)
	if w >= len(s.words) {
		// Doubling keeps the growth to a few allocations per run, not one per message.
		n := max(2*len(s.words), w+1, 64)
		grown := make([]uint64, n)
		copy(grown, s.words)
		s.words = grown
	}
	bit := uint64(1) << (seq & 63)
	if s.words[w]&bit != 0 {
		return true
	}
	s.words[w] |= bit
	return false
}

// dedup tells a subscriber's duplicate messages, across publishers. It remembers the last publisher looked up, so
// a subscriber of one publisher never touches the map once the run is going. It is used by one goroutine.
type dedup struct {
	sets    map[uint32]*seqSet
	lastPub uint32
	last    *seqSet
}

// add records message seq of publisher pub and reports whether it had been received before.
func (d *dedup) add(pub, seq uint32) bool {
	if d.last == nil || pub != d.lastPub {
		if d.sets == nil {
			d.sets = make(map[uint32]*seqSet)
		}
		s := d.sets[pub]
		if s == nil {
			s = new(seqSet)
			d.sets[pub] = s
		}
		d.lastPub, d.last = pub, s
	}
	return d.last.add(seq)
}
