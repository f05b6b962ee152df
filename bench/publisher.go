package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/midgemq/midge/packet"
)

// publishBufferSize is the write buffer of a publisher: a few hundred small messages per write.
const publishBufferSize = 32 << 10

// publisher is the sending side of a connection. Its goroutine runs run and owns out; the connection's reading
// goroutine calls onAck. The run reads sent, lastSent and lastAck once both goroutines are over.
type publisher struct {
	c   *conn
	num uint32
	qos byte

	pkt     packet.Publish
	payload []byte
	scratch []byte
	out     batchWriter
	// win is nil for QoS 0.
	win *window
	// ring, for spread only, is the topics taken in turn instead of pkt.Topic.
	ring *topicRing
	// wake is signalled by win and by the gate.
	wake  chan struct{}
	timer *time.Timer

	sent     int64
	lastSent int64
	lastAck  int64
}

func newPublisher(c *conn, num uint32, topic string, cfg *Config) *publisher {
	p := &publisher{
		c:       c,
		num:     num,
		qos:     cfg.QoS,
		payload: newPayload(cfg.PayloadSize),
		wake:    make(chan struct{}, 1),
		timer:   time.NewTimer(time.Hour),
	}
	p.timer.Stop()
	p.pkt = packet.Publish{QoS: cfg.QoS, Topic: topic, Payload: p.payload}
	p.out = batchWriter{c: c, size: publishBufferSize}
	if cfg.QoS > 0 {
		p.win = newWindow(min(cfg.Inflight, c.receiveMaximum), p.wake)
	}
	return p
}

// run publishes until the count is reached or the run stops publishing, then waits for the acknowledgements of
// the messages in flight. With interval > 0 message n is due at first + n*interval, and carries that time.
func (p *publisher) run(ctx context.Context, rn *runner, first time.Time, interval time.Duration) error {
	defer p.timer.Stop()
	err := p.publish(rn, first, interval)
	if ferr := p.out.flush(); err == nil {
		err = ferr
	}
	p.lastSent = time.Now().UnixNano()
	if err == nil && p.win != nil {
		err = p.drain(ctx, rn.cfg.IdleTimeout)
	}
	return err
}

func (p *publisher) publish(rn *runner, first time.Time, interval time.Duration) error {
	cfg := &rn.cfg
	next := first
	for seq := 0; cfg.Count == 0 || seq < cfg.Count; seq++ {
		if rn.stopping.Load() {
			return nil
		}
		var at int64
		if interval > 0 {
			if wait := time.Until(next); wait > 0 {
				if err := p.out.flush(); err != nil {
					return err
				}
				if !p.sleep(rn, wait) {
					return nil
				}
			}
			at = next.UnixNano()
			next = next.Add(interval)
		}
		if rn.gate.blocked() {
			if err := p.out.flush(); err != nil {
				return err
			}
			if !rn.gate.wait(p.wake, rn.stop, p.c.done, p.timer, cfg.IdleTimeout) {
				return nil
			}
		}
		var id uint16
		if p.win != nil {
			var err error
			if id, err = p.acquire(rn); id == 0 {
				return err
			}
		}
		if at == 0 {
			at = time.Now().UnixNano()
		}
		num, n := p.num, uint32(seq)
		if p.ring != nil {
			p.pkt.Topic, num, n = p.ring.take()
		}
		putHeader(p.payload, at, num, n)
		p.pkt.PacketID = id
		b, err := p.pkt.Append(p.scratch[:0], p.c.v)
		if err != nil {
			return fmt.Errorf("encode PUBLISH: %w", err)
		}
		p.scratch = b
		if err := p.out.write(b); err != nil {
			return err
		}
		p.sent++
		rn.n.sent.Add(1)
	}
	return nil
}

// sleep waits for d, and reports false when the run stops publishing or the connection is lost first.
func (p *publisher) sleep(rn *runner, d time.Duration) bool {
	p.timer.Reset(d)
	select {
	case <-p.timer.C:
		return true
	case <-rn.stop:
	case <-p.c.done:
	}
	p.timer.Stop()
	return false
}

// acquire returns a free packet identifier, flushing and waiting while the window is full. It returns 0 when
// the run stops publishing or the connection is lost first, with an error when the broker acknowledges nothing for
// IdleTimeout.
func (p *publisher) acquire(rn *runner) (uint16, error) {
	idle := rn.cfg.IdleTimeout
	for {
		if id, ok := p.win.acquire(); ok {
			return id, nil
		}
		if err := p.out.flush(); err != nil {
			return 0, err
		}
		_, before := p.win.inFlight()
		p.timer.Reset(idle)
		select {
		case <-p.wake:
			p.timer.Stop()
		case <-rn.stop:
			p.timer.Stop()
			return 0, nil
		case <-p.c.done:
			p.timer.Stop()
			return 0, nil
		case <-p.timer.C:
			if n, done := p.win.inFlight(); done == before {
				return 0, fmt.Errorf("%w: no acknowledgement for %s with %d messages in flight", ErrStalled, idle, n)
			}
		}
	}
}

// drain waits until every message in flight is acknowledged, the connection is lost or ctx is canceled, with an
// error when the broker acknowledges nothing for idle.
func (p *publisher) drain(ctx context.Context, idle time.Duration) error {
	for {
		n, before := p.win.inFlight()
		if n == 0 {
			return nil
		}
		p.timer.Reset(idle)
		select {
		case <-p.wake:
			p.timer.Stop()
		case <-p.c.done:
			p.timer.Stop()
			return nil
		case <-ctx.Done():
			p.timer.Stop()
			return nil
		case <-p.timer.C:
			if n, done := p.win.inFlight(); done == before {
				return fmt.Errorf("%w: %d messages unacknowledged after %s", ErrStalled, n, idle)
			}
		}
	}
}

// onAck handles a PUBACK, PUBREC or PUBCOMP, on the reading goroutine.
func (p *publisher) onAck(c *conn, a *packet.Ack) error {
	if p.win == nil {
		return fmt.Errorf("%w: %s to a QoS 0 publisher", ErrProtocol, a.Kind)
	}
	n := &c.rn.n
	switch {
	case a.Kind == packet.TypePuback && p.qos == 1:
		if !p.win.complete(a.PacketID, idPublished) {
			return notInFlight(a)
		}
		if a.ReasonCode.IsError() {
			n.refused.Add(1)
		} else {
			n.acked.Add(1)
		}
	case a.Kind == packet.TypePubrec && p.qos == 2:
		if a.ReasonCode.IsError() {
			// A failed PUBREC ends the flow: no PUBREL follows (5.0, section 4.3.3).
			if !p.win.complete(a.PacketID, idPublished) {
				return notInFlight(a)
			}
			n.refused.Add(1)
			break
		}
		if !p.win.release(a.PacketID) {
			return notInFlight(a)
		}
		if err := c.sendAck(packet.TypePubrel, a.PacketID); err != nil {
			return err
		}
	case a.Kind == packet.TypePubcomp && p.qos == 2:
		if !p.win.complete(a.PacketID, idReleased) {
			return notInFlight(a)
		}
		n.acked.Add(1)
	default:
		return fmt.Errorf("%w: %s in a QoS %d flow", ErrProtocol, a.Kind, p.qos)
	}
	p.lastAck = c.readAt
	return nil
}

func notInFlight(a *packet.Ack) error {
	return fmt.Errorf("%w: %s for packet identifier %d, which is not in flight", ErrProtocol, a.Kind, a.PacketID)
}
