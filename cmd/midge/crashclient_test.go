package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/packet"
)

// The clients of TestCrashKeepsAcknowledged. They behave as a real client
// library does across a broker crash: persistent sessions, several messages
// in flight, and after a reconnect the unacknowledged PUBLISH packets again
// with DUP set and the PUBREL packets of QoS 2 messages already received
// [MQTT-4.4.0-1], in their original order [MQTT-4.6.0-1]. Their errors are
// values, for goroutines that reconnect instead of failing the test; what a
// broker does wrong is collected and checked at the end.

// crashClock orders the events of a run that the checks compare (a message
// sent, acknowledged, a SUBSCRIBE sent, a SUBACK read) across goroutines.
type crashClock struct{ n atomic.Int64 }

func (c *crashClock) now() int64 { return c.n.Add(1) }

// crashConn is a minimal MQTT 3.1.1 or 5.0 client connection.
type crashConn struct {
	nc net.Conn
	br *bufio.Reader
	v  packet.Version
}

// crashSessionExpiry keeps a 5.0 session as 3.1.1 Clean Session 0 does.
const crashSessionExpiry = 0xFFFFFFFF

// crashOpen dials addr and sends a CONNECT resuming the session of id (Clean
// Session 0, or Clean Start 0 with a Session Expiry Interval) with the
// Receive Maximum rm (5.0, 0 for none).
func crashOpen(addr string, v packet.Version, id string, rm uint16) (*crashConn, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	c := &crashConn{nc: nc, br: bufio.NewReader(nc), v: v}
	p := &packet.Connect{Version: v, ClientID: id, KeepAlive: 30}
	if v == packet.V5 {
		p.Properties.SessionExpiryInterval, p.Properties.HasSessionExpiryInterval = crashSessionExpiry, true
		if rm > 0 {
			p.Properties.ReceiveMaximum, p.Properties.HasReceiveMaximum = rm, true
		}
	}
	if err := c.send(p); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// connack reads the CONNACK.
func (c *crashConn) connack() (*packet.Connack, error) {
	p, err := c.read(5 * time.Second)
	if err != nil {
		return nil, err
	}
	ack, ok := p.(*packet.Connack)
	if !ok || ack.ReasonCode != packet.Success {
		return nil, fmt.Errorf("connect: got %+v", p)
	}
	return ack, nil
}

func (c *crashConn) send(p packet.Packet) error {
	b, err := p.Append(nil, c.v)
	if err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = c.nc.Write(b)
	return err
}

// read waits up to d for a packet to begin, then reads all of it: a wait
// that times out leaves the stream where it was.
func (c *crashConn) read(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	if _, err := c.br.Peek(1); err != nil {
		return nil, err
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := packet.ReadFixedHeader(c.br, 0)
	if err != nil {
		return nil, err
	}
	body := make([]byte, h.Remaining)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, err
	}
	return packet.Decode(h, body, c.v)
}

// close ends the connection with a DISCONNECT that keeps the session.
func (c *crashConn) close() {
	c.send(&packet.Disconnect{})
	c.nc.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// crashPub publishes the messages numbered 0 to n-1 on crash/{id} with the
// payload "{id}/{seq}", window of them in flight at once, and records when
// each was first sent and acknowledged.
type crashPub struct {
	id      string
	version packet.Version
	qos     byte
	n       int
	window  int
	clock   *crashClock

	// mu guards the fields below it.
	mu sync.Mutex
	// sent, acked and done hold, per message, the clock when its PUBLISH
	// first went out, when it was acknowledged (PUBACK, or PUBREC for QoS
	// 2: the broker owns it from then on) and when its flow ended (PUBACK
	// or PUBCOMP); 0 until then. routed is the clock before the PUBLISH
	// the broker routed, as far as the publisher can tell: at QoS 1 the
	// one the PUBACK answered, which the broker took as a new message; at
	// QoS 2 the first, as the broker drops a later one it has already
	// received.
	sent, acked, done, routed []int64
	nacked                    int
	// conns holds, per connection, the messages whose PUBLISH went out on
	// it, in that order: ascending, as a reconnect sends the unacknowledged
	// messages again, oldest first, before any new one.
	conns [][]int
	// resentPublish and resentPubrel count what reconnects sent again.
	resentPublish, resentPubrel int
	// errs are the broker's faults the publisher saw.
	errs []string
}

// crashPIDs is the range of packet ids a publisher cycles through: each is
// used again soon after its flow ends, so the broker must have forgotten it
// [MQTT-4.3.3-12].
const crashPIDs = 64

// pubFlight is a message in flight from a publisher.
type pubFlight struct {
	seq int
	pid uint16
	// sent is the clock when its PUBLISH last went out.
	sent int64
	// released is set once PUBREC came and PUBREL went out: from then on
	// only PUBREL is sent again [MQTT-4.3.3-6].
	released bool
}

func (p *crashPub) init() {
	p.sent = make([]int64, p.n)
	p.acked = make([]int64, p.n)
	p.done = make([]int64, p.n)
	p.routed = make([]int64, p.n)
}

func (p *crashPub) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nacked
}

func (p *crashPub) fault(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) < 20 {
		p.errs = append(p.errs, fmt.Sprintf(format, args...))
	}
}

// publish sends the PUBLISH of f on c, recording it for connection k.
func (p *crashPub) publish(c *crashConn, k int, f *pubFlight, dup bool) error {
	p.mu.Lock()
	f.sent = p.clock.now()
	if p.sent[f.seq] == 0 {
		p.sent[f.seq] = f.sent
	}
	p.conns[k] = append(p.conns[k], f.seq)
	if dup {
		p.resentPublish++
	}
	p.mu.Unlock()
	return c.send(&packet.Publish{Topic: "crash/" + p.id, QoS: p.qos, PacketID: f.pid, Dup: dup,
		Payload: fmt.Appendf(nil, "%s/%d", p.id, f.seq)})
}

// run publishes every message, reconnecting as often as it takes, until
// all are acknowledged, the deadline passes or quit is closed.
func (p *crashPub) run(addr string, deadline time.Time, quit <-chan struct{}) error {
	var (
		c        *crashConn
		k        = -1
		inflight []*pubFlight
		next     int
		lastPID  uint16
	)
	drop := func() {
		if c != nil {
			c.nc.Close()
			c = nil
		}
	}
	defer drop()
	for next < p.n || len(inflight) > 0 {
		select {
		case <-quit:
			return fmt.Errorf("stopped with %d of %d messages acknowledged", p.count(), p.n)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d messages acknowledged by the deadline", p.count(), p.n)
		}
		if c == nil {
			var err error
			if c, err = p.connect(addr); err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			k++
			for _, f := range inflight {
				if f.released {
					p.mu.Lock()
					p.resentPubrel++
					p.mu.Unlock()
					err = c.send(&packet.Ack{Kind: packet.TypePubrel, PacketID: f.pid})
				} else {
					err = p.publish(c, k, f, true)
				}
				if err != nil {
					break
				}
			}
			if err != nil {
				drop()
				continue
			}
		}
		var err error
		for next < p.n && len(inflight) < p.window && err == nil {
			f := &pubFlight{seq: next, pid: nextPID(&lastPID, inflight)}
			inflight = append(inflight, f)
			next++
			err = p.publish(c, k, f, false)
		}
		if err != nil {
			drop()
			continue
		}
		pk, err := c.read(10 * time.Second)
		if err != nil {
			drop()
			continue
		}
		if inflight, err = p.handle(c, pk, inflight); err != nil {
			drop()
		}
	}
	if c != nil {
		c.close()
		c = nil
	}
	return nil
}

// connect opens a connection and records it.
func (p *crashPub) connect(addr string) (*crashConn, error) {
	c, err := crashOpen(addr, p.version, p.id, 0)
	if err != nil {
		return nil, err
	}
	ack, err := c.connack()
	if err != nil {
		c.nc.Close()
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ack.SessionPresent && p.nacked > 0 {
		// Its session reached the store before its first message
		// was acknowledged.
		p.errs = append(p.errs, fmt.Sprintf("connection %d: session lost", len(p.conns)))
	}
	p.conns = append(p.conns, nil)
	return c, nil
}

// nextPID returns the packet id after *last that no message in flight has.
func nextPID(last *uint16, inflight []*pubFlight) uint16 {
next:
	for {
		*last = *last%crashPIDs + 1
		for _, f := range inflight {
			if f.pid == *last {
				continue next
			}
		}
		return *last
	}
}

// handle takes the broker's answer pk and returns what is still in flight.
func (p *crashPub) handle(c *crashConn, pk packet.Packet, inflight []*pubFlight) ([]*pubFlight, error) {
	a, ok := pk.(*packet.Ack)
	if !ok {
		p.fault("unexpected %T", pk)
		return inflight, nil
	}
	i := 0
	for i < len(inflight) && inflight[i].pid != a.PacketID {
		i++
	}
	if i == len(inflight) {
		p.fault("%s for packet id %d, not in flight", a.Kind, a.PacketID)
		return inflight, nil
	}
	f := inflight[i]
	remove := func() []*pubFlight { return append(inflight[:i], inflight[i+1:]...) }
	switch {
	case a.Kind == packet.TypePuback && p.qos == 1 && !a.ReasonCode.IsError():
		p.mu.Lock()
		p.acked[f.seq] = p.clock.now()
		p.done[f.seq] = p.acked[f.seq]
		p.routed[f.seq] = f.sent
		p.nacked++
		p.mu.Unlock()
		return remove(), nil
	case a.Kind == packet.TypePubrec && p.qos == 2 && !a.ReasonCode.IsError():
		if !f.released {
			f.released = true
			p.mu.Lock()
			p.acked[f.seq] = p.clock.now()
			p.routed[f.seq] = p.sent[f.seq]
			p.nacked++
			p.mu.Unlock()
		}
		return inflight, c.send(&packet.Ack{Kind: packet.TypePubrel, PacketID: f.pid})
	case a.Kind == packet.TypePubcomp && f.released:
		// After a crash PUBCOMP may say Packet Identifier not found:
		// the broker had forgotten the id, and then stopped.
		p.mu.Lock()
		p.done[f.seq] = p.clock.now()
		p.mu.Unlock()
		return remove(), nil
	}
	p.fault("%s %s for message %d (QoS %d, released %t)", a.Kind, a.ReasonCode, f.seq, p.qos, f.released)
	if a.ReasonCode.IsError() {
		// Refused: not sent again [MQTT-4.4.0-2], and not acknowledged.
		return remove(), nil
	}
	return inflight, nil
}

// crashKey names a message: its publisher's index and its number.
type crashKey struct{ pub, seq int }

// crashPending is a QoS 2 message received and not yet released, and the
// connection it came on.
type crashPending struct {
	key  crashKey
	conn int
}

// crashSub is a persistent subscriber to crash/# that counts what it
// receives. It keeps, as a client's session does, the QoS 2 packet ids it
// has received and not yet seen released, so that a PUBLISH sent again
// under such an id is recognised and not taken as a new message
// [MQTT-4.3.3-10] (5.0) [MQTT-4.3.3-2] (3.1.1).
type crashSub struct {
	id      string
	version packet.Version
	qos     byte
	// receiveMax is the Receive Maximum of a 5.0 subscriber, 0 for none.
	receiveMax uint16
	// slow, while set, delays each acknowledgement by ackDelay.
	slow     atomic.Bool
	ackDelay time.Duration
	pubs     []*crashPub
	clock    *crashClock

	// mu guards the fields below it.
	mu sync.Mutex
	// got counts the deliveries of each message; a QoS 2 PUBLISH sent
	// again under a packet id still pending is not one.
	got     map[crashKey]int
	pending map[uint16]crashPending
	// unreleased holds the QoS 2 packet ids received on this connection and
	// not yet released: with the QoS 1 message being answered, the
	// messages the broker's send quota counts [MQTT-4.9.0-2].
	unreleased map[uint16]bool
	// releasedOn holds the connection where each QoS 2 message was
	// released.
	releasedOn map[crashKey]int
	// conns holds, per connection, the messages received on it in order.
	conns      [][]crashKey
	subscribed bool
	// subscribeSent and subackAt are the clock when the SUBSCRIBE went
	// out and when its SUBACK was read.
	subscribeSent, subackAt int64
	deliveries, resent      int
	errs                    []string
}

func (s *crashSub) fault(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultLocked(format, args...)
}

func (s *crashSub) faultLocked(format string, args ...any) {
	if len(s.errs) < 20 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
}

func (s *crashSub) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveries
}

// open dials and sends CONNECT; connected reads the CONNACK and records the
// connection.
func (s *crashSub) open(addr string) (*crashConn, error) {
	return crashOpen(addr, s.version, s.id, s.receiveMax)
}

func (s *crashSub) connected(c *crashConn) error {
	ack, err := c.connack()
	if err != nil {
		c.nc.Close()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subscribed && !ack.SessionPresent {
		// The SUBACK came after the store had the subscription.
		s.faultLocked("connection %d: session lost", len(s.conns))
	}
	s.conns = append(s.conns, nil)
	clear(s.unreleased)
	return nil
}

// subscribe makes the session and its subscription.
func (s *crashSub) subscribe(addr string) error {
	s.got = make(map[crashKey]int)
	s.pending = make(map[uint16]crashPending)
	s.unreleased = make(map[uint16]bool)
	s.releasedOn = make(map[crashKey]int)
	c, err := s.open(addr)
	if err != nil {
		return err
	}
	if err := s.connected(c); err != nil {
		return err
	}
	defer c.close()
	s.mu.Lock()
	s.subscribeSent = s.clock.now()
	s.mu.Unlock()
	err = c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "crash/#", QoS: s.qos}}})
	if err != nil {
		return err
	}
	for {
		pk, err := c.read(5 * time.Second)
		if err != nil {
			return fmt.Errorf("suback: %w", err)
		}
		if ack, ok := pk.(*packet.Suback); ok {
			if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != packet.ReasonCode(s.qos) {
				return fmt.Errorf("suback: %+v", ack)
			}
			break
		}
		if err := s.answer(c, pk); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.subackAt = s.clock.now()
	s.subscribed = true
	s.mu.Unlock()
	return nil
}

// reconnectAt says when a reconnecting subscriber lets the broker be
// killed: once its CONNECT is sent, or once the CONNACK is read and the
// session resumes.
type reconnectAt int

const (
	afterConnect reconnectAt = iota
	afterConnack
)

// reconnect asks a consuming subscriber to drop its connection and
// connect again; done is closed at the moment at says.
type reconnect struct {
	at   reconnectAt
	done chan struct{}
}

// consume keeps the subscriber connected, reconnecting after errors, until
// stop. With online > 0 it goes away for a while every online or so, as
// rng decides; a request on reconnects makes it reconnect at once.
func (s *crashSub) consume(addr string, stop <-chan struct{}, online time.Duration, rng func(time.Duration) time.Duration,
	reconnects <-chan reconnect) {
	var req *reconnect
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := s.open(addr)
		if err == nil && req != nil && req.at == afterConnect {
			close(req.done)
			req = nil
		}
		if err == nil {
			err = s.connected(c)
		}
		if req != nil {
			close(req.done)
			req = nil
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		until := time.Now().Add(time.Hour)
		if online > 0 {
			until = time.Now().Add(rng(online))
		}
	serve:
		for time.Now().Before(until) {
			select {
			case <-stop:
				c.close()
				return
			case r := <-reconnects:
				req = &r
				break serve
			default:
			}
			if err := s.handle(c, 20*time.Millisecond); err != nil && !isTimeout(err) {
				break
			}
		}
		c.close()
		if online > 0 && req == nil {
			select {
			case <-stop:
				return
			case <-time.After(rng(online / 2)):
			}
		}
	}
}

// drain connects and takes what is left until nothing has come for quiet.
func (s *crashSub) drain(addr string, quiet, limit time.Duration) error {
	c, err := s.open(addr)
	if err != nil {
		return err
	}
	if err := s.connected(c); err != nil {
		return err
	}
	defer c.close()
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		if err := s.handle(c, quiet); err != nil {
			if isTimeout(err) {
				return nil
			}
			return err
		}
	}
	return errors.New("still receiving after the limit")
}

// handle reads one packet and answers it.
func (s *crashSub) handle(c *crashConn, d time.Duration) error {
	pk, err := c.read(d)
	if err != nil {
		return err
	}
	return s.answer(c, pk)
}

func (s *crashSub) answer(c *crashConn, pk packet.Packet) error {
	switch pk := pk.(type) {
	case *packet.Publish:
		s.receive(pk)
		if s.slow.Load() {
			time.Sleep(s.ackDelay)
		}
		switch pk.QoS {
		case 1:
			return c.send(&packet.Ack{Kind: packet.TypePuback, PacketID: pk.PacketID})
		case 2:
			return c.send(&packet.Ack{Kind: packet.TypePubrec, PacketID: pk.PacketID})
		}
	case *packet.Ack:
		if pk.Kind == packet.TypePubrel {
			s.mu.Lock()
			if p, ok := s.pending[pk.PacketID]; ok {
				s.releasedOn[p.key] = len(s.conns) - 1
			}
			delete(s.pending, pk.PacketID)
			delete(s.unreleased, pk.PacketID)
			s.mu.Unlock()
			return c.send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: pk.PacketID})
		}
		s.fault("unexpected %s", pk.Kind)
	case *packet.Disconnect:
		// A 5.0 broker says why it closes a connection (Keep Alive
		// timeout, for a subscriber that sent nothing for long): the
		// subscriber reconnects.
		return fmt.Errorf("disconnected by the broker: %s", pk.ReasonCode)
	default:
		s.fault("unexpected %T", pk)
	}
	return nil
}

// receive counts a PUBLISH.
func (s *crashSub) receive(pk *packet.Publish) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.parse(pk)
	if !ok {
		s.faultLocked("message never published: topic %q payload %q", pk.Topic, pk.Payload)
		return
	}
	pub := s.pubs[key.pub]
	if want := min(pub.qos, s.qos); pk.QoS != want {
		// [MQTT-3.8.4-8]
		s.faultLocked("%s/%d came at QoS %d, want %d", pub.id, key.seq, pk.QoS, want)
	}
	conn := len(s.conns) - 1
	s.conns[conn] = append(s.conns[conn], key)
	if s.receiveMax > 0 && len(s.unreleased)+1 > int(s.receiveMax) && !s.unreleased[pk.PacketID] {
		// [MQTT-3.3.4-9]
		s.faultLocked("%s/%d came with %d messages unacknowledged, over the Receive Maximum %d", pub.id, key.seq,
			len(s.unreleased), s.receiveMax)
	}
	if pk.QoS == 2 {
		s.unreleased[pk.PacketID] = true
		if prev, ok := s.pending[pk.PacketID]; ok {
			switch {
			case prev.key != key:
				s.faultLocked("packet id %d of %s/%d used for %s/%d before PUBREL", pk.PacketID,
					s.pubs[prev.key.pub].id, prev.key.seq, pub.id, key.seq)
			case !pk.Dup:
				// [MQTT-3.3.1-1]
				s.faultLocked("%s/%d sent again without DUP", pub.id, key.seq)
			case prev.conn == conn && s.version == packet.V5:
				// [MQTT-4.4.0-1] Only a reconnect sends it again.
				s.faultLocked("%s/%d sent again on the connection that had it", pub.id, key.seq)
			}
			s.resent++
			return
		}
		s.pending[pk.PacketID] = crashPending{key, conn}
		if rel, ok := s.releasedOn[key]; ok {
			// [MQTT-4.3.3-6]
			s.faultLocked("%s/%d sent again (DUP %t, packet id %d) on connection %d after its PUBREL on connection %d",
				pub.id, key.seq, pk.Dup, pk.PacketID, conn, rel)
		}
	}
	s.got[key]++
	s.deliveries++
}

// parse finds the message pk carries.
func (s *crashSub) parse(pk *packet.Publish) (crashKey, bool) {
	id, num, ok := strings.Cut(string(pk.Payload), "/")
	if !ok || pk.Topic != "crash/"+id {
		return crashKey{}, false
	}
	seq, err := strconv.Atoi(num)
	for i, p := range s.pubs {
		if p.id == id && err == nil && seq >= 0 && seq < p.n {
			return crashKey{i, seq}, true
		}
	}
	return crashKey{}, false
}

// inOrder reports whether got, the messages of one publisher received on
// one connection, came in an order the broker may have received them in:
// got must be a subsequence of the publisher's connections, one after the
// other, each ascending. It returns the index of the first message out of
// order, or -1. So a connection may see 5 6 7 6 7 8 (6 and 7 published
// again after a crash), never 5 7 6.
func inOrder(got []int, conns [][]int) int {
	k, i := 0, 0
	for j, seq := range got {
		for {
			if k == len(conns) {
				return j
			}
			run := conns[k][i:]
			if x := sort.SearchInts(run, seq); x < len(run) && run[x] == seq {
				i += x + 1
				break
			}
			k, i = k+1, 0
		}
	}
	return -1
}

func TestCrashInOrder(t *testing.T) {
	conns := [][]int{{0, 1, 2, 3, 4, 5}, {4, 5, 6, 7}, {7, 8, 9}}
	for _, tc := range []struct {
		name string
		got  []int
		want int
	}{
		{name: "nothing", got: nil, want: -1},
		{name: "all once", got: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, want: -1},
		{name: "gaps", got: []int{1, 3, 6, 9}, want: -1},
		{name: "again after a reconnect", got: []int{3, 4, 5, 4, 5, 6, 7, 7, 8}, want: -1},
		{name: "again without a reconnect", got: []int{0, 1, 2, 1}, want: 3},
		{name: "swapped", got: []int{0, 2, 1}, want: 2},
		{name: "third time", got: []int{7, 7, 7}, want: 2},
		{name: "never sent", got: []int{0, 10}, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inOrder(tc.got, conns); got != tc.want {
				t.Errorf("inOrder(%v) = %d, want %d", tc.got, got, tc.want)
			}
		})
	}
}
