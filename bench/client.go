package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/midgemq/midge/packet"
)

// Sizes of the buffers of a connection.
const (
	// readBufferStart is the first read buffer: enough for a CONNACK and a batch of acknowledgements, so that the
	// many idle connections of a conn run stay small.
	readBufferStart = 1 << 10
	// readBufferMax bounds the doubling of the read buffer of a busy connection; a larger packet still gets a
	// buffer of its size.
	readBufferMax = 256 << 10
	// ackBufferSize is the buffer of the acknowledgements the reading goroutine sends.
	ackBufferSize = 4 << 10
	// closeWait bounds how long closing a connection waits for the broker to close its side after DISCONNECT.
	closeWait = time.Second
)

// conn is one MQTT client connection of a run.
//
// Writes follow one rule: every write to nc carries whole packets. Bulk writes go through a batchWriter owned by
// one goroutine (the publisher's, or the reading goroutine's for acknowledgements), which flushes whole packets;
// rare control packets (SUBSCRIBE, PINGREQ, DISCONNECT) are written directly, in one Write, by whichever
// goroutine sends them. Net.Conn writes are atomic with respect to each other (TLS and TCP hold a lock for the
// whole write; wsConn makes each one a message), so packets never interleave and no lock is held across I/O.
type conn struct {
	rn    *runner
	nc    net.Conn
	id    string
	index int
	v     packet.Version

	// The read side is used by the reading goroutine only, or by connect before the reading goroutine starts.
	rbuf       []byte
	rpos, rend int
	grow       bool  // the last read filled the buffer: double it before the next
	readAt     int64 // Unix nanoseconds of the last read, the receive time of the packets it brought
	ack        packet.Ack
	ackOut     packet.Ack
	ackScratch []byte
	acks       batchWriter

	// sub and pub are the roles of the connection, set before the reading goroutine starts.
	sub *subscriber
	pub *publisher

	// When an event loop reads the connection (nc is then an fdConn, see socket), loopID is its id there,
	// queued tells that it is to be read in the loop's current or next turn, and ended that the kernel has
	// reported the end of the stream (or an error), which a read that does not fill the buffer does not tell.
	loopID uint64
	queued bool
	ended  bool

	// receiveMaximum is the broker's Receive Maximum (5.0), 65535 when it sets none.
	receiveMaximum int
	sessionPresent bool

	suback  chan error
	wrote   atomic.Bool
	closing atomic.Bool
	done    chan struct{}
}

// batchWriter buffers whole packets and writes them in as few writes as possible, each carrying whole packets
// only. It belongs to one goroutine.
type batchWriter struct {
	c    *conn
	size int
	bw   *bufio.Writer
}

// write buffers packet p, flushing first when p does not fit. A packet larger than the buffer is written alone.
func (w *batchWriter) write(p []byte) error {
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(w.c.nc, w.size)
	}
	if w.bw.Available() < len(p) && w.bw.Buffered() > 0 {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if len(p) > w.bw.Available() {
		// bufio writes p in one call, as its buffer is empty.
		w.c.wrote.Store(true)
	}
	if _, err := w.bw.Write(p); err != nil {
		return fmt.Errorf("%w: write: %w", ErrConnectionLost, err)
	}
	return nil
}

// flush writes what is buffered, if anything.
func (w *batchWriter) flush() error {
	if w.bw == nil || w.bw.Buffered() == 0 {
		return nil
	}
	w.c.wrote.Store(true)
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("%w: write: %w", ErrConnectionLost, err)
	}
	return nil
}

// connSpec describes a connection to open.
type connSpec struct {
	// index numbers the connection within the run; it picks the source address.
	index int
	id    string
	// cleanStart is Clean Start (Clean Session for 3.x).
	cleanStart bool
	// persistent asks a 5.0 broker to keep the session after the connection closes.
	persistent bool
}

// persistentExpiry is the Session Expiry Interval, in seconds, of the persistent sessions of a 5.0 backlog run:
// long enough for any backlog, short enough that a run that dies leaves nothing behind for long.
const persistentExpiry = 3600

// socket returns the connection's transport when an event loop reads it, nil when a goroutine does.
func (c *conn) socket() *fdConn {
	f, _ := c.nc.(*fdConn)
	return f
}

func newConn(rn *runner, nc net.Conn, s connSpec) *conn {
	c := &conn{
		rn:             rn,
		nc:             nc,
		id:             s.id,
		index:          s.index,
		v:              rn.cfg.Version,
		rbuf:           make([]byte, readBufferStart),
		receiveMaximum: maxInflight,
		suback:         make(chan error, 1),
		done:           make(chan struct{}),
	}
	c.acks = batchWriter{c: c, size: ackBufferSize}
	return c
}

// handshake sends CONNECT and reads the CONNACK.
func (c *conn) handshake(s connSpec, cfg *Config) (*packet.Connack, error) {
	p := packet.Connect{Version: c.v, CleanStart: s.cleanStart, ClientID: s.id}
	if cfg.KeepAlive > 0 {
		p.KeepAlive = uint16(min(max(cfg.KeepAlive/time.Second, 1), 65535))
	}
	if cfg.Username != "" {
		p.UsernameFlag, p.Username = true, cfg.Username
		if cfg.Password != "" {
			p.PasswordFlag, p.Password = true, []byte(cfg.Password)
		}
	}
	if s.persistent && c.v == packet.V5 {
		p.Properties.SessionExpiryInterval, p.Properties.HasSessionExpiryInterval = persistentExpiry, true
	}
	b, err := p.Append(nil, c.v)
	if err != nil {
		return nil, fmt.Errorf("encode CONNECT: %w", err)
	}
	if err := c.writeDirect(b); err != nil {
		return nil, err
	}
	h, body, err := c.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the broker closed the connection before CONNACK", ErrConnectionLost)
		}
		return nil, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if h.Type != packet.TypeConnack {
		return nil, fmt.Errorf("%w: %s before CONNACK", ErrProtocol, h.Type)
	}
	var ack packet.Connack
	if err := ack.Decode(h, body, c.v); err != nil {
		return nil, fmt.Errorf("%w: CONNACK: %w", ErrProtocol, err)
	}
	if ack.ReasonCode.IsError() {
		return nil, fmt.Errorf("%w: CONNACK %s", ErrRefused, reasonText(ack.ReasonCode, ack.Properties.ReasonString))
	}
	if pr := &ack.Properties; pr.HasReceiveMaximum {
		c.receiveMaximum = int(pr.ReceiveMaximum)
	}
	if pr := &ack.Properties; pr.HasMaximumQoS && cfg.QoS > pr.MaximumQoS && c.v == packet.V5 {
		return nil, fmt.Errorf("%w: the broker's Maximum QoS is %d", ErrRefused, pr.MaximumQoS)
	}
	c.sessionPresent = ack.SessionPresent
	return &ack, nil
}

// reasonText describes a reason code, with the broker's reason string when it sent one.
func reasonText(code packet.ReasonCode, reason string) string {
	s := fmt.Sprintf("%s (0x%02x)", code, byte(code))
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// writeDirect writes whole packets in one write, bypassing the batch writers.
func (c *conn) writeDirect(b []byte) error {
	c.wrote.Store(true)
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("%w: write: %w", ErrConnectionLost, err)
	}
	return nil
}

// subscribe subscribes to filter and waits for the SUBACK, which the reading goroutine passes on.
func (c *conn) subscribe(ctx context.Context, filter string, qos byte, timeout time.Duration) error {
	p := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}
	b, err := p.Append(nil, c.v)
	if err != nil {
		return fmt.Errorf("encode SUBSCRIBE: %w", err)
	}
	if err := c.writeDirect(b); err != nil {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-c.suback:
		return err
	case <-c.done:
		return ErrConnectionLost
	case <-t.C:
		return fmt.Errorf("no SUBACK within %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onSuback checks a SUBACK and passes the outcome to subscribe.
func (c *conn) onSuback(h packet.FixedHeader, body []byte, want byte) error {
	var s packet.Suback
	if err := s.Decode(h, body, c.v); err != nil {
		return fmt.Errorf("%w: SUBACK: %w", ErrProtocol, err)
	}
	var err error
	switch code := s.ReasonCodes[0]; {
	case code.IsError():
		err = fmt.Errorf("%w: SUBACK %s", ErrRefused, reasonText(code, s.Properties.ReasonString))
	case byte(code) < want:
		// A lower QoS would change what loss and duplicates mean.
		err = fmt.Errorf("%w: SUBACK granted QoS %d, not %d", ErrRefused, byte(code), want)
	}
	select {
	case c.suback <- err:
	default:
	}
	return nil
}

// next returns the next packet, reading more as needed. The body aliases the read buffer: it is valid until the
// next call. Before it blocks on a read, next flushes the acknowledgements the packets before queued, so that
// the acknowledgements of all the packets of one read go in one write.
func (c *conn) next() (packet.FixedHeader, []byte, error) {
	for {
		h, body, ok, err := c.parse()
		if ok || err != nil {
			return h, body, err
		}
		if err := c.acks.flush(); err != nil {
			return packet.FixedHeader{}, nil, err
		}
		n, err := c.fill(c.nc)
		if n > 0 {
			continue
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return packet.FixedHeader{}, nil, err
	}
}

// parse takes the next whole packet from the read buffer. When the buffer holds none, ok is false and the buffer
// has room for the rest of the packet it starts.
func (c *conn) parse() (h packet.FixedHeader, body []byte, ok bool, err error) {
	if c.rpos >= c.rend {
		c.rpos, c.rend = 0, 0
		return h, nil, false, nil
	}
	h, n, err := packet.ParseFixedHeader(c.rbuf[c.rpos:c.rend], 0)
	switch {
	case err == nil:
		if end := c.rpos + n + h.Remaining; end <= c.rend {
			body = c.rbuf[c.rpos+n : end]
			c.rpos = end
			return h, body, true, nil
		}
		c.room(n + h.Remaining)
	case errors.Is(err, packet.ErrShortBuffer):
		c.room(5)
	default:
		return h, nil, false, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return h, nil, false, nil
}

// fill reads once from r into the free end of the read buffer, growing it first when the last read filled it.
func (c *conn) fill(r io.Reader) (int, error) {
	if c.rend == len(c.rbuf) || c.grow {
		c.room(len(c.rbuf) - c.rpos + 1)
	}
	free := len(c.rbuf) - c.rend
	n, err := r.Read(c.rbuf[c.rend:])
	if n > 0 {
		c.rend += n
		c.readAt = time.Now().UnixNano()
		c.grow = n == free && len(c.rbuf) < readBufferMax
	}
	return n, err
}

// room makes the read buffer hold need bytes from rpos: it moves the unread bytes to the front, and grows the
// buffer (at least doubling it) when that is not enough or when the last read filled it.
func (c *conn) room(need int) {
	if c.rpos+need <= len(c.rbuf) && !c.grow {
		return
	}
	size := len(c.rbuf)
	if need > size || c.grow {
		size = max(need, 2*size)
	}
	c.grow = false
	if size == len(c.rbuf) {
		copy(c.rbuf, c.rbuf[c.rpos:c.rend])
	} else {
		b := make([]byte, size)
		copy(b, c.rbuf[c.rpos:c.rend])
		c.rbuf = b
	}
	c.rend -= c.rpos
	c.rpos = 0
}

// readLoop is the reading goroutine: it handles every packet until the connection fails or is closed.
func (c *conn) readLoop() {
	c.finish(c.serve())
}

// finish ends the reading of the connection, which err ended, and reports the connection lost unless it was
// being closed.
func (c *conn) finish(err error) {
	defer c.rn.readers.Done()
	defer close(c.done)
	if c.closing.Load() {
		return
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: the broker closed the connection", ErrConnectionLost)
	} else if !errors.Is(err, ErrConnectionLost) && !errors.Is(err, ErrProtocol) {
		err = fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	c.rn.lost(&ClientError{ClientID: c.id, Err: err})
}

// serve reads and handles packets until an error.
func (c *conn) serve() error {
	for {
		h, body, err := c.next()
		if err != nil {
			return err
		}
		if err := c.handle(h, body); err != nil {
			return err
		}
	}
}

// handle handles one packet from the broker.
func (c *conn) handle(h packet.FixedHeader, body []byte) error {
	switch h.Type {
	case packet.TypePublish:
		if c.sub == nil {
			return fmt.Errorf("%w: PUBLISH to a client that did not subscribe", ErrProtocol)
		}
		return c.sub.onPublish(c, h, body)
	case packet.TypePuback, packet.TypePubrec, packet.TypePubcomp:
		if err := c.ack.Decode(h, body, c.v); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrProtocol, h.Type, err)
		}
		if c.pub == nil {
			return fmt.Errorf("%w: %s to a client that did not publish", ErrProtocol, h.Type)
		}
		return c.pub.onAck(c, &c.ack)
	case packet.TypePubrel:
		if err := c.ack.Decode(h, body, c.v); err != nil {
			return fmt.Errorf("%w: PUBREL: %w", ErrProtocol, err)
		}
		if c.sub == nil {
			return fmt.Errorf("%w: PUBREL to a client that did not subscribe", ErrProtocol)
		}
		return c.sub.onPubrel(c, c.ack.PacketID)
	case packet.TypeSuback:
		return c.onSuback(h, body, c.rn.cfg.QoS)
	case packet.TypePingresp:
		return nil
	case packet.TypeDisconnect:
		var d packet.Disconnect
		if err := d.Decode(h, body, c.v); err != nil {
			return fmt.Errorf("%w: DISCONNECT: %w", ErrProtocol, err)
		}
		return fmt.Errorf("%w: the broker sent DISCONNECT %s", ErrConnectionLost,
			reasonText(d.ReasonCode, d.Properties.ReasonString))
	}
	return fmt.Errorf("%w: unexpected %s", ErrProtocol, h.Type)
}

// sendAck queues an acknowledgement of kind for id; next flushes it.
func (c *conn) sendAck(kind packet.Type, id uint16) error {
	c.ackOut = packet.Ack{Kind: kind, PacketID: id}
	b, err := c.ackOut.Append(c.ackScratch[:0], c.v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", kind, err)
	}
	c.ackScratch = b
	return c.acks.write(b)
}

// close sends DISCONNECT, waits a little for the broker to close its side (so that the DISCONNECT is read rather
// than reset away), and closes the connection. The reading goroutine then ends without reporting an error.
func (c *conn) close() {
	if c.closing.Swap(true) {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(closeWait))
	if b, err := (&packet.Disconnect{}).Append(nil, c.v); err == nil {
		// The connection goes either way; a failed DISCONNECT changes nothing.
		_ = c.writeDirect(b)
	}
	t := time.NewTimer(closeWait)
	select {
	case <-c.done:
	case <-t.C:
	}
	t.Stop()
	c.nc.Close()
}
