package broker

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/midgemq/midge/packet"
)

const (
	// readBufferSize is the size of a connection's read buffer. It is kept
	// small because most connections are idle most of the time.
	// bigReadBufferSize is that of a connection whose reads fill it: a
	// client that sends faster than one small read takes gets fewer, larger
	// reads from its next wait on, until it parks or ends (waitInput).
	readBufferSize    = 1024
	bigReadBufferSize = 8 << 10
	// keepScratch and keepSpare bound the buffers a connection keeps between
	// packets; larger ones go back to the garbage collector. keepBusy bounds
	// the output buffer kept for the next write while output keeps coming:
	// a subscriber sent messages faster than one write takes would
	// otherwise grow a new buffer, step by step, for every write. Once the
	// output has stopped for a while, the trimmer takes the buffers back
	// to keepSpare/4 (the spare) and keepSpare.
	keepScratch = 4 << 10
	keepSpare   = 16 << 10
	keepBusy    = 256 << 10
	// closeFlushTime is how long a closing connection may take to write what
	// it still has to say (a CONNACK refusal, a DISCONNECT).
	closeFlushTime = 2 * time.Second
)

// conn is one client network connection. One goroutine (serve) reads and
// handles its packets; output is appended to out and written by a flush
// goroutine that runs only while out is not empty.
type conn struct {
	srv *Server
	nc  net.Conn
	br  *bufio.Reader
	// logp is the connection's logger, made on first use (see logger).
	logp atomic.Pointer[slog.Logger]
	// done holds the channel closed once finish has run (the session is let
	// go): made by the first waiter (doneChan), or the closed one when
	// finish comes first, so that a connection nobody waits for, nearly
	// every one, makes no channel.
	done atomic.Pointer[chan struct{}]

	// Set by serve while handling CONNECT, read-only afterwards (other
	// goroutines see them through session.mu, which they take first).
	// Within each group of fields below, the small ones sit together: the
	// struct fits the 480-byte size class (TestStructSizes).
	version packet.Version
	// aliasMax is the client's Topic Alias Maximum: how many aliases the
	// broker may set towards it (5.0).
	aliasMax  uint16
	willDelay uint32 // Will Delay Interval in seconds (5.0)
	info      ClientInfo
	sess      *session
	will      *Message
	keepAlive time.Duration
	// window is how many QoS 1 and 2 messages may be in flight to the
	// client: MaxInflight, or the client's Receive Maximum if lower
	// [MQTT-3.3.4-9]. maxOut is the client's Maximum Packet Size, 0 for
	// none [MQTT-3.1.2-24].
	window int
	maxOut int
	// maxIn is the largest packet the client may send: MaxPacketSize as it
	// was when the connection began, which a 5.0 client is told in CONNACK.
	maxIn int
	// aliases maps the topic aliases the client has set to their topics
	// (5.0); used only by serve.
	aliases map[uint16]string

	// Used only by serve.
	scratch []byte
	pub     *packet.Publish // reused for every PUBLISH read
	// authMethod is the enhanced authentication method the client logged
	// in with (5.0), "" for none; reauth is a re-authentication in
	// progress, nil for none.
	authMethod string
	reauth     *reauthentication
	// pubLimit holds the client to MaxPublishRate and MaxPublishBandwidth;
	// nil until throttle first needs it.
	pubLimit *pubLimits
	// gracefulExit is set when the client sent DISCONNECT that discards
	// the will.
	gracefulExit bool
	// gatherOn is the reader's copy of gathering, read without the lock.
	gatherOn bool
	// noProblemInfo is set when a 5.0 client asked for no Reason Strings
	// and User Properties outside CONNACK and DISCONNECT [MQTT-3.1.2-29].
	noProblemInfo bool

	// attached is set once the connection holds its session; from then on
	// version, info and sess may be read by other goroutines.
	attached atomic.Bool
	// stopping is set when another goroutine wants serve to return; see stop.
	stopping atomic.Bool
	// stopReason is the reason logged when the server closed the connection.
	stopReason atomic.Pointer[string]

	// raw is the socket for the poller while the connection may park (see
	// park.go), and for raw writes (rawWrite); nil when it never parks.
	// noPark is set by the reader when the poller could not take the
	// connection. parkState and pollID are park's. kaEnd is when the
	// keep-alive runs out (UnixNano; 0 for never), which the poller checks
	// while the connection is parked.
	raw    syscall.RawConn
	noPark bool
	// parkNext is set by the reader when the next wait for input should
	// park at once if the socket is empty, bigNext when it should read
	// with a big buffer (see waitInput).
	parkNext bool
	bigNext  bool
	// idleShift doubles the wait before parking while the connection wakes
	// soon after it parked (see idleAfter); parkedAt is when it last parked
	// (monoNow).
	idleShift uint8
	parkState atomic.Int32
	parkedAt  int64
	pollID    uint64
	kaEnd     atomic.Int64
	// rdeadline is the read deadline the reading goroutine last set on nc
	// (UnixNano), 0 for none.
	rdeadline int64

	// wdeadline is the write deadline last set on nc (UnixNano); only the
	// goroutine that holds the flushing role (a flush goroutine, or the
	// reader in writeOwn) uses it.
	wdeadline int64

	// wmu guards the fields below it.
	wmu   sync.Mutex
	out   []byte
	spare []byte
	// lastWrite is when the last write ended (monoNow), 0 before any.
	lastWrite int64
	// writes counts the writes made; trimAt is its value when the
	// connection was queued with the trimmer (trimQueued).
	writes uint64
	trimAt uint64
	// held takes PUBLISH packets while holding (below).
	held []byte
	// aliasOut maps topics to the aliases the broker has set towards the
	// client, first come first served up to aliasMax.
	aliasOut   map[string]uint16
	closeBy    int64 // when not 0, writes must end by then (UnixNano)
	trimQueued bool
	flushing   bool
	// holding is set from the session's attach until the CONNACK: PUBLISH
	// packets go to held meanwhile.
	holding bool
	closed  bool // no more output is accepted
	// gathering is set while the reading goroutine handles packets: the
	// output they cause (acknowledgements above all), and any other output
	// meanwhile, is gathered into one write, which the reader makes before
	// it waits for the socket again (writeOwn).
	gathering bool
	flushWG   sync.WaitGroup
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc}
	if pollerSupported && s.opts.IdleAfter > 0 {
		c.raw, _ = parkable(nc)
	}
	return c
}

// end closes the connection (finish), gives its read buffer back and lets
// the server forget it.
func (c *conn) end(err error) {
	c.finish(err)
	if c.br != nil {
		putReader(c.br)
		c.br = nil
	}
	c.srv.release(c)
}

// serve runs the connection from CONNECT until it parks or closes.
func (c *conn) serve() {
	c.br = newReader(c.nc)
	err := c.connectWithin()
	if err == nil {
		err = c.loop(false)
	}
	if err == errParked {
		return
	}
	c.end(err)
}

// connectWithin reads and handles the CONNECT, which must come within
// ConnectTimeout.
//
// A connection that may park first waits only until it would park: the
// CONNECT almost always comes well before, and the waits after CONNACK
// keep that deadline (parksSoonEnough), so that the handshake costs one
// timer, set once. A deadline moved sooner, as ConnectTimeout's would be
// by the first wait, makes the runtime look through every timer of its P
// when the next one is due; in a connection storm that is thousands of
// timers, thousands of times a second. A CONNECT that has not come, or not
// whole, by then gets the rest of ConnectTimeout (a later deadline costs
// nothing of the sort).
//
// The deadline is left in place after: the next read that waits on the
// socket sets its own first (waitInput, loop).
func (c *conn) connectWithin() error {
	now := time.Now()
	end := now.Add(c.srv.opts.ConnectTimeout)
	if first := now.Add(c.idleAfter()); c.raw != nil && !c.noPark && first.Before(end) {
		c.setReadDeadline(first)
		_, err := c.br.Peek(1) // nothing is taken from the buffer: a timeout can be waited out again
		switch {
		case err == nil && c.packetBuffered():
			return c.connect()
		case err != nil && !errors.Is(err, os.ErrDeadlineExceeded):
			return err
		}
	}
	c.setReadDeadline(end)
	return c.connect()
}

// setReadDeadline sets the read deadline of nc to d, if it is not so
// already; the zero time means none.
func (c *conn) setReadDeadline(d time.Time) {
	var at int64
	if !d.IsZero() {
		at = d.UnixNano()
	}
	if at != c.rdeadline {
		c.nc.SetReadDeadline(d)
		c.rdeadline = at
	}
}

// loop reads and handles packets until the connection parks (errParked)
// or ends. resumed is set when a parked connection was woken.
func (c *conn) loop(resumed bool) error {
	for {
		if c.br.Buffered() == 0 {
			if err := c.waitInput(resumed); err != nil {
				return err
			}
			resumed = false
		}
		if !c.packetBuffered() {
			if c.gatherOn {
				c.writeOwn()
			}
			// The rest of the packet is still to come: no parking in the
			// middle of it, and [MQTT-3.1.2-24] a client silent for one and
			// a half keep-alive periods is disconnected. The deadline
			// matters only to a read that waits on the socket: while a
			// whole packet is buffered already, the clock and the timer
			// are left alone.
			var d time.Time
			if c.keepAlive > 0 {
				d = time.Now().Add(c.keepAlive * 3 / 2)
			}
			c.setReadDeadline(d)
		}
		if c.stopping.Load() {
			return errStopped
		}
		h, body, err := c.readPacket()
		if err != nil {
			return err
		}
		if !c.gatherOn {
			c.gatherOwn()
		}
		if err := c.handle(h, body); err != nil {
			return err
		}
	}
}

// packetBuffered reports whether the read buffer holds a whole packet, so
// that reading it will not touch the socket.
func (c *conn) packetBuffered() bool {
	n := c.br.Buffered()
	if n < 2 {
		return false
	}
	b, _ := c.br.Peek(min(n, 5))
	remaining, mult := 0, 1
	for i := 1; i < len(b); i++ {
		remaining += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			return n >= i+1+remaining
		}
		mult <<= 7
	}
	return false
}

// errStopped ends serve when the server closed the connection.
var errStopped = errors.New("broker: connection closed by server")

// readPacket reads one whole packet. A PUBLISH or CONNECT body gets its own
// buffer, since the message keeps it; other packets reuse a scratch buffer.
func (c *conn) readPacket() (packet.FixedHeader, []byte, error) {
	h, err := packet.ReadFixedHeader(c.br, c.maxIn)
	if err != nil {
		return h, nil, err
	}
	var body []byte
	if h.Type == packet.TypePublish || h.Type == packet.TypeConnect {
		body = make([]byte, h.Remaining)
	} else {
		if cap(c.scratch) < h.Remaining {
			c.scratch = make([]byte, h.Remaining)
		}
		body = c.scratch[:h.Remaining]
	}
	if _, err := io.ReadFull(c.br, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	if cap(c.scratch) > keepScratch {
		c.scratch = nil
	}
	c.srv.counters.bytesIn.Add(int64(h.Remaining + 1 + packet.SizeVarint(h.Remaining)))
	return h, body, nil
}

// handle dispatches one packet after CONNECT.
func (c *conn) handle(h packet.FixedHeader, body []byte) error {
	switch h.Type {
	case packet.TypePublish:
		return c.handlePublish(h, body)
	case packet.TypePuback, packet.TypePubrec, packet.TypePubrel, packet.TypePubcomp:
		return c.handleAck(h, body)
	case packet.TypeSubscribe:
		return c.handleSubscribe(h, body)
	case packet.TypeUnsubscribe:
		return c.handleUnsubscribe(h, body)
	case packet.TypePingreq:
		var p packet.Pingreq
		if err := p.Decode(h, body, c.version); err != nil {
			return err
		}
		c.send(&packet.Pingresp{})
		return nil
	case packet.TypeDisconnect:
		var p packet.Disconnect
		if err := p.Decode(h, body, c.version); err != nil {
			return err
		}
		if p.Properties.HasSessionExpiryInterval {
			// A 5.0 client may change how long its session stays, but not
			// make a session that ends with the connection stay
			// [MQTT-3.14.2-2].
			if !c.sess.setExpiry(p.Properties.SessionExpiryInterval) {
				return &packet.ReasonError{Code: packet.ProtocolError, Msg: "session expiry set on a session that ends with its connection"}
			}
		}
		// [MQTT-3.14.4-3] A DISCONNECT discards the will, except that a 5.0
		// client may ask for it to be sent anyway.
		c.gracefulExit = p.ReasonCode != packet.DisconnectWithWillMessage
		return io.EOF
	case packet.TypeConnect:
		// [MQTT-3.1.0-2] A second CONNECT is a protocol violation.
		return &packet.ReasonError{Code: packet.ProtocolError, Msg: "second CONNECT"}
	case packet.TypeAuth:
		if c.version < packet.V5 {
			return &packet.ReasonError{Code: packet.MalformedPacket, Msg: "AUTH before MQTT 5.0"}
		}
		return c.handleAuth(h, body)
	default:
		return &packet.ReasonError{Code: packet.ProtocolError, Msg: "unexpected " + h.Type.String() + " from a client"}
	}
}

// finish closes the connection after serve's loop has ended: it tells a 5.0
// client why, lets the session go, publishes the will when the connection
// ended without DISCONNECT [MQTT-3.1.2-8], and waits for output to drain.
func (c *conn) finish(err error) {
	if re := reasonOf(err); re != nil {
		if re.Code == packet.PacketTooLarge {
			c.srv.drop(DropPacketTooLarge, c.info.ClientID)
		}
		if c.sess != nil && c.version == packet.V5 {
			// [MQTT-4.13.1-1] Tell a 5.0 client which rule it broke.
			d := &packet.Disconnect{ReasonCode: re.Code}
			d.Properties.ReasonString = re.Msg // DISCONNECT may always carry one
			c.sendLast(d)
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && !c.stopping.Load() {
		if c.sess == nil {
			c.srv.dropRemote(DropConnectTimeout, c.nc.RemoteAddr())
		} else if c.version == packet.V5 {
			// The keep-alive ran out: a 5.0 client is told why.
			c.sendLast(&packet.Disconnect{ReasonCode: packet.KeepAliveTimeout})
		}
	}
	c.endReauth()
	c.wmu.Lock()
	c.gathering = false
	c.closed = true
	if c.closeBy == 0 {
		c.closeBy = time.Now().Add(closeFlushTime).UnixNano()
	}
	c.kickLocked() // what was gathered goes out
	c.wmu.Unlock()
	c.flushWG.Wait()
	// [MQTT-3.14.4-3] A DISCONNECT discards the will: it leaves the store
	// before the socket closes, so that no crash after the client has seen
	// the close can publish it.
	discarded := c.sess != nil && c.will != nil && c.gracefulExit && c.sess.clearWill(c.will)
	// The session lets go before the socket closes, so that a client that
	// sees the close finds its session offline (or gone) at once.
	if c.sess != nil {
		c.srv.detach(c.sess, c, false)
	}
	if discarded {
		c.srv.persist.waitDurable()
	}
	c.srv.unlist(c)
	c.nc.Close()

	if c.sess != nil {
		if c.will != nil && !c.gracefulExit && c.willDelay > 0 && c.sess.delayWill(c.will, c.willDelay) {
			// The session outlives the connection: the will waits for its
			// delay, and is dropped if the client comes back first
			// [MQTT-3.1.3-9].
		} else if c.will != nil && !c.gracefulExit {
			// Publishing the will and removing it from the store reach the
			// store together.
			c.srv.persist.beginGroup()
			c.srv.publishWill(c.will, c.info)
			c.sess.clearWill(c.will)
			c.srv.persist.endGroup()
		}
		reason := "client disconnected"
		if r := c.stopReason.Load(); r != nil {
			reason = *r
		} else if !c.gracefulExit {
			reason = describeEnd(err)
		}
		if logInfo(c.srv.log) {
			c.logger().Info("client disconnected", "reason", reason)
		}
		c.audit(auditDisconnect, slog.String("reason", reason))
		c.srv.counters.disconnected(c.gracefulExit)
		c.srv.observe(event{kind: eventDisconnect, info: c.info, err: endErr(c.gracefulExit, err)})
	} else if logDebug(c.srv.log) {
		c.logger().Debug("connection closed before CONNECT completed", "err", err)
	}
	c.markDone()
}

// closedDone is the done channel of every connection that ended before
// anyone waited for it.
var closedDone = func() *chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return &ch
}()

// doneChan returns a channel closed once the connection has ended (finish
// has run, and its session is let go).
func (c *conn) doneChan() <-chan struct{} {
	for {
		if p := c.done.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if c.done.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// markDone closes the channel of those waiting for the connection's end;
// later waiters get closedDone.
func (c *conn) markDone() {
	if p := c.done.Swap(closedDone); p != nil && p != closedDone {
		close(*p)
	}
}

// reasonOf returns the *packet.ReasonError in err's chain, nil if there is
// none. The end of the stream, the usual end, is ruled out first: the
// target errors.As needs lives on the heap.
func reasonOf(err error) *packet.ReasonError {
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	var re *packet.ReasonError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

func endErr(graceful bool, err error) error {
	if graceful {
		return nil
	}
	return err
}

// describeEnd turns the error that ended a connection into a short reason.
func describeEnd(err error) string {
	var re *packet.ReasonError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "keep-alive timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by client"
	case errors.As(err, &re):
		return re.Error()
	case err == nil:
		return "closed"
	}
	return err.Error()
}

// stop asks serve to end. The reading goroutine is woken by a past read
// deadline; output already queued still gets until closeFlushTime.
func (c *conn) stop(reason string) {
	c.stopReason.Store(&reason)
	c.wmu.Lock()
	if c.closeBy == 0 {
		c.closeBy = time.Now().Add(closeFlushTime).UnixNano()
	}
	c.wmu.Unlock()
	// Set the flag before the deadline: serve sets its deadline, then checks
	// the flag, so one of the two always wins.
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Unix(1, 0))
	c.wake()
}

// takeover ends the connection because a new connection took its session.
func (c *conn) takeover() {
	if c.version == packet.V5 {
		c.sendLast(&packet.Disconnect{ReasonCode: packet.SessionTakenOver}) // [MQTT-3.1.4-3]
	}
	c.stop("session taken over")
}

// abort ends the connection, from any goroutine, because the broker could
// not keep what the client sent. Nothing is written after what is in the
// output already, acknowledgements included, except that a 5.0 client
// gets a DISCONNECT with code and why as its Reason String [MQTT-4.13.2-1].
func (c *conn) abort(code packet.ReasonCode, why string) {
	var last packet.Packet
	if c.version == packet.V5 {
		d := &packet.Disconnect{ReasonCode: code}
		d.Properties.ReasonString = why // DISCONNECT may always carry one
		last = d
	}
	c.sendLast(last)
	c.stop(why)
}

// serverClose ends the connection because the server shuts down.
func (c *conn) serverClose() {
	if c.attached.Load() && c.version == packet.V5 {
		c.sendLast(&packet.Disconnect{ReasonCode: packet.ServerShuttingDown})
	}
	c.stop("server shutting down")
}

// logger returns the connection's logger, which names its remote address
// and, once the CONNECT is accepted, its client id. It is made on first use
// and kept: most connections log nothing between their connect and
// disconnect lines, and an idle connection then holds no logger of its own.
func (c *conn) logger() *slog.Logger {
	if l := c.logp.Load(); l != nil {
		return l
	}
	args := []any{"remote", c.nc.RemoteAddr().String()}
	if c.attached.Load() || c.info.ClientID != "" {
		args = append(args, "client_id", c.info.ClientID)
	}
	l := c.srv.log.With(args...)
	c.logp.CompareAndSwap(nil, l)
	return c.logp.Load()
}
