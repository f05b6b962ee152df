package bench

import (
	"encoding/binary"
	"time"
)

// A payload starts with a header the subscribers read: the send time in Unix nanoseconds, the publisher's number
// and the message's sequence number, big-endian. The rest is filler.
const (
	stampOffset = 0
	pubOffset   = 8
	seqOffset   = 12
)

// plausibleSkew bounds how far from the receive time a payload's send time may be for the latency to be
// recorded: payloads that do not come from a bench publisher, or from a clock far off, give no latency.
const plausibleSkew = time.Hour

// newPayload returns a payload of size bytes, header zeroed, filled with a repeating pattern.
func newPayload(size int) []byte {
	p := make([]byte, size)
	for i := MinPayloadSize; i < size; i++ {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// putHeader writes the header of a payload.
func putHeader(p []byte, sent int64, pub, seq uint32) {
	binary.BigEndian.PutUint64(p[stampOffset:], uint64(sent))
	binary.BigEndian.PutUint32(p[pubOffset:], pub)
	binary.BigEndian.PutUint32(p[seqOffset:], seq)
}

// readHeader reads the header of a payload; ok is false when p is too short to hold one.
func readHeader(p []byte) (sent int64, pub, seq uint32, ok bool) {
	if len(p) < MinPayloadSize {
		return 0, 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(p[stampOffset:])), binary.BigEndian.Uint32(p[pubOffset:]),
		binary.BigEndian.Uint32(p[seqOffset:]), true
}
