package bench

import (
	"fmt"
	"time"

	"github.com/midgemq/midge/packet"
)

// subscriber is the receiving side of a connection. It is used by the connection's reading goroutine only; the
// run reads its fields once that goroutine is over.
type subscriber struct {
	hist *Histogram
	dd   dedup
	// released holds, one bit per packet identifier, the QoS 2 messages received and not yet released by PUBREL.
	// A PUBLISH with such an identifier is the broker sending it again, not a new message [MQTT-4.3.3-10].
	released []uint64
	// lastAt is the receive time of the last delivery, in Unix nanoseconds.
	lastAt int64
}

func newSubscriber(qos byte, hist *Histogram) *subscriber {
	s := &subscriber{hist: hist}
	if qos == 2 {
		s.released = make([]uint64, 1<<16/64)
	}
	return s
}

// onPublish handles a PUBLISH. It reads the fields by hand rather than with packet.Publish.Decode, which copies
// the topic name into a new string: the only allocation a delivery would cost, and the topic is not needed.
func (s *subscriber) onPublish(c *conn, h packet.FixedHeader, b []byte) error {
	qos := h.Flags >> 1 & 3
	if len(b) < 2 {
		return fmt.Errorf("%w: PUBLISH: %w", ErrProtocol, packet.ErrTruncated)
	}
	n := 2 + (int(b[0])<<8 | int(b[1]))
	if len(b) < n {
		return fmt.Errorf("%w: PUBLISH: %w", ErrProtocol, packet.ErrTruncated)
	}
	b = b[n:]
	var id uint16
	if qos > 0 {
		if len(b) < 2 {
			return fmt.Errorf("%w: PUBLISH: %w", ErrProtocol, packet.ErrTruncated)
		}
		id, b = uint16(b[0])<<8|uint16(b[1]), b[2:]
		if id == 0 {
			return fmt.Errorf("%w: PUBLISH: %w", ErrProtocol, packet.ErrPacketIDZero)
		}
	}
	if c.v == packet.V5 {
		plen, k, err := packet.ParseVarint(b)
		if err != nil || len(b) < k+plen {
			return fmt.Errorf("%w: PUBLISH properties: %w", ErrProtocol, packet.ErrTruncated)
		}
		b = b[k+plen:]
	}
	switch qos {
	case 1:
		if err := c.sendAck(packet.TypePuback, id); err != nil {
			return err
		}
	case 2:
		w, bit := id>>6, uint64(1)<<(id&63)
		again := s.released[w]&bit != 0
		s.released[w] |= bit
		if err := c.sendAck(packet.TypePubrec, id); err != nil {
			return err
		}
		if again {
			return nil
		}
	}
	s.receive(c.rn, b, c.readAt)
	return nil
}

// onPubrel answers a PUBREL with PUBCOMP and forgets the identifier.
func (s *subscriber) onPubrel(c *conn, id uint16) error {
	if s.released == nil {
		return fmt.Errorf("%w: PUBREL outside QoS 2", ErrProtocol)
	}
	// A PUBREL for an identifier not held is answered all the same: it may be the broker repeating one whose
	// PUBCOMP it did not get [MQTT-4.3.3-11].
	s.released[id>>6] &^= uint64(1) << (id & 63)
	return c.sendAck(packet.TypePubcomp, id)
}

// receive counts one delivery with payload p, received at now (Unix nanoseconds).
func (s *subscriber) receive(rn *runner, p []byte, now int64) {
	s.lastAt = now
	if sent, pub, seq, ok := readHeader(p); ok {
		if s.dd.add(pub, seq) {
			rn.n.duplicates.Add(1)
		}
		if d := now - sent; d > -int64(plausibleSkew) && d < int64(plausibleSkew) {
			s.hist.Record(time.Duration(d))
		}
	}
	rn.gate.delivered()
}
