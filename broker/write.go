package broker

import (
	"slices"
	"time"

	"github.com/midgemq/midge/packet"
)

// send appends p to the connection's output. It is for packets that are not
// on the per-message path; sendPublish and sendAck avoid the interface.
func (c *conn) send(p packet.Packet) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	if c.appendFittingLocked(p) {
		c.kickLocked()
	}
}

// appendFittingLocked appends p to the output if it fits the client's
// Maximum Packet Size, leaving out its Reason String and User Properties
// when that makes it fit [MQTT-3.2.2-19] [MQTT-3.14.2-3]; a packet that
// still does not fit is not sent [MQTT-3.1.2-24]. The caller holds c.wmu.
func (c *conn) appendFittingLocked(p packet.Packet) bool {
	out, err := p.Append(c.out, c.version)
	if err != nil {
		c.logger().Error("cannot encode packet", "type", p.Type().String(), "err", err)
		return false
	}
	if c.maxOut == 0 || len(out)-len(c.out) <= c.maxOut {
		c.out = out
		return true
	}
	var pr *packet.Properties
	switch p := p.(type) {
	case *packet.Connack:
		pr = &p.Properties
	case *packet.Disconnect:
		pr = &p.Properties
	case *packet.Suback:
		pr = &p.Properties
	case *packet.Unsuback:
		pr = &p.Properties
	case *packet.Ack:
		pr = &p.Properties
	}
	if pr != nil && (pr.ReasonString != "" || len(pr.UserProperties) > 0) {
		pr.ReasonString, pr.UserProperties = "", nil
		if out, err = p.Append(c.out, c.version); err == nil && len(out)-len(c.out) <= c.maxOut {
			c.out = out
			return true
		}
	}
	c.logger().Warn("packet larger than the client's Maximum Packet Size not sent", "type", p.Type().String(), "max", c.maxOut)
	return false
}

// sendLast appends p, a server DISCONNECT, as the last packet of the
// connection: nothing is written after it [MQTT-3.14.4-1]. Messages
// meant for the connection meanwhile stay with its session. With p nil,
// nothing more is written at all.
func (c *conn) sendLast(p packet.Packet) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	if !c.holding && p != nil {
		c.appendFittingLocked(p)
	}
	// While holding, the session is attached but the CONNACK is not out:
	// no DISCONNECT may come before it [MQTT-3.14.0-1], so a takeover or
	// shutdown in that window closes the connection without one.
	c.closed = true
	c.kickLocked()
}

// sendConnack writes the CONNACK, then the messages that reached the
// session between its attach and now, held back so that CONNACK comes
// first [MQTT-3.2.0-1].
func (c *conn) sendConnack(ack *packet.Connack) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.holding = false
	if c.closed {
		return
	}
	// Encoded here rather than through appendFittingLocked, which takes
	// any packet: ack stays on its caller's stack. Only a CONNACK that
	// does not encode, or is too large for the client, pays for a copy
	// that goes there.
	if out, err := ack.Append(c.out, c.version); !c.takeFittingLocked(out, err) {
		fit := *ack
		c.appendFittingLocked(&fit)
	}
	c.out = append(c.out, c.held...)
	c.held = nil
	c.kickLocked()
}

// sendSuback is send for a SUBACK, which stays on its caller's stack (as
// in sendConnack). Midge's SUBACK has no properties, so the copy for
// appendFittingLocked needs only its codes.
func (c *conn) sendSuback(ack *packet.Suback) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	if out, err := ack.Append(c.out, c.version); c.takeFittingLocked(out, err) {
		c.kickLocked()
		return
	}
	fit := packet.Suback{PacketID: ack.PacketID, ReasonCodes: slices.Clone(ack.ReasonCodes)}
	if c.appendFittingLocked(&fit) {
		c.kickLocked()
	}
}

// takeFittingLocked makes out, the output with one packet appended (or
// the error of its encoding), the connection's output when the packet
// encoded and fits the client's Maximum Packet Size, and reports whether
// it did; otherwise appendFittingLocked has the rest to do. The caller
// holds c.wmu.
func (c *conn) takeFittingLocked(out []byte, err error) bool {
	if err != nil || (c.maxOut > 0 && len(out)-len(c.out) > c.maxOut) {
		return false
	}
	c.out = out
	return true
}

// sendAck appends a PUBACK, PUBREC, PUBREL or PUBCOMP.
func (c *conn) sendAck(kind packet.Type, id uint16, code packet.ReasonCode) {
	a := packet.Ack{Kind: kind, PacketID: id, ReasonCode: code}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	out, err := a.Append(c.out, c.version)
	if err != nil {
		c.logger().Error("cannot encode packet", "type", kind.String(), "err", err)
		return
	}
	c.out = out
	c.kickLocked()
}

// sendPublish appends a PUBLISH of msg. A QoS 0 message that finds the
// output over MaxOutputBytes is dropped and counted; QoS 1 and 2 messages
// are bounded by the inflight window instead. A PUBLISH larger than the
// client's Maximum Packet Size is not sent [MQTT-3.1.2-24]: sendPublish
// counts it and reports tooLarge, and the caller treats the message as
// delivered [MQTT-3.1.2-25]. routed, when not 0, is when the message was
// routed (monoNow): the delivery latency is observed once the PUBLISH is
// in the output.
func (c *conn) sendPublish(msg *Message, qos byte, retain bool, id uint16, dup bool, ids []uint32, routed int64) (tooLarge bool) {
	p := packet.Publish{
		Dup:      dup,
		QoS:      qos,
		Retain:   retain,
		Topic:    msg.Topic,
		PacketID: id,
		Payload:  msg.Payload,
	}
	if c.version == packet.V5 {
		if msg.Properties != nil {
			p.Properties = *msg.Properties
		}
		p.Properties.SubscriptionIdentifiers = ids
		if msg.Expiry != 0 {
			// The receiver gets what is left of the interval
			// [MQTT-3.3.2-6], at least a second.
			left := (time.Until(time.Unix(0, msg.Expiry)) + time.Second - 1) / time.Second
			p.Properties.MessageExpiryInterval = uint32(max(left, 1))
			p.Properties.HasMessageExpiryInterval = true
		}
	}
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return false
	}
	if limit := c.srv.limits().MaxOutputBytes; qos == 0 && len(c.out) >= limit &&
		(!retain || len(c.out) >= limit*RetainedOutputFactor) {
		c.wmu.Unlock()
		c.srv.drop(DropOutputFull, c.info.ClientID)
		return false
	}
	if c.holding {
		// Before CONNACK: kept aside until sendConnack.
		if out, err := p.Append(c.held, c.version); err == nil {
			c.held = out
		}
		c.wmu.Unlock()
		return false
	}
	newAlias := c.aliasLocked(&p)
	before := len(c.out)
	out, err := p.Append(c.out, c.version)
	if err != nil {
		c.wmu.Unlock()
		c.logger().Error("cannot encode PUBLISH", "topic", msg.Topic, "err", err)
		return false
	}
	if c.maxOut > 0 && len(out)-before > c.maxOut {
		c.out = out[:before]
		if newAlias {
			delete(c.aliasOut, msg.Topic) // never sent
		}
		c.wmu.Unlock()
		c.srv.drop(DropTooLargeForClient, c.info.ClientID)
		return true
	}
	c.out = out
	// One clock reading serves the stream check and the latency: the
	// PUBLISH is in the output now.
	inOut := monoNow()
	buf, direct := c.writeNowLocked(inOut)
	c.wmu.Unlock()
	if direct {
		c.writeNow(buf)
	}
	c.srv.counters.sent(qos, len(out)-before)
	if routed != 0 {
		c.srv.counters.delivery.observe(time.Duration(inOut - routed))
	}
	return false
}

// minAliasedTopic is the shortest topic worth an alias: an alias costs 3
// bytes, the topic its length plus 2.
const minAliasedTopic = 4

// aliasLocked gives p a Topic Alias towards a 5.0 client that allows them
// [MQTT-3.3.2-11]: the alias already set for the topic, with the topic left
// out, or a new one while the client's maximum allows. It reports whether
// it set a new alias. The caller holds c.wmu, which orders the packets, so
// an alias is always set before it is used.
func (c *conn) aliasLocked(p *packet.Publish) bool {
	if c.aliasMax == 0 || c.version != packet.V5 || len(p.Topic) < minAliasedTopic {
		return false
	}
	if a, ok := c.aliasOut[p.Topic]; ok {
		p.Properties.TopicAlias, p.Properties.HasTopicAlias = a, true
		p.Topic = ""
		return false
	}
	if len(c.aliasOut) >= int(c.aliasMax) {
		return false
	}
	if c.aliasOut == nil {
		c.aliasOut = make(map[string]uint16)
	}
	a := uint16(len(c.aliasOut) + 1)
	c.aliasOut[p.Topic] = a
	p.Properties.TopicAlias, p.Properties.HasTopicAlias = a, true
	return true
}

// gatherMax bounds the output gathered while the reader handles packets:
// past it a flush goroutine starts writing, so that a SUBSCRIBE that
// matches many retained messages streams them instead of holding them all.
const gatherMax = 64 << 10

// rawWriteMax bounds a raw write (rawWrite), which keeps its thread from
// the scheduler (and from stopping the world) until it returns.
const rawWriteMax = 64 << 10

// streamGap is how recently a connection must have been written to for a
// message to it to count as part of a stream: one that comes later goes
// out at once from the goroutine that routes it (writeNowLocked).
const streamGap = 20 * time.Millisecond

// writeNowLocked decides who writes the PUBLISH just appended, at now
// (monoNow), to the output by a goroutine other than the connection's
// reader. A connection
// written within streamGap gets a stream of messages: a flush goroutine
// writes them, and those that come while it writes go out together in its
// next write (kickLocked). Otherwise, when nothing is being written or
// gathered, the caller takes the flushing role and the output (the spare
// buffer takes its place) and reports true: it writes them at once
// (writeNow), which saves starting a goroutine for a lone message, as
// every message to one of many quiet subscribers is.
func (c *conn) writeNowLocked(now int64) ([]byte, bool) {
	if c.raw == nil || c.flushing || c.gathering || c.closed || len(c.out) > rawWriteMax ||
		now-c.lastWrite < int64(streamGap) {
		c.kickLocked()
		return nil, false
	}
	c.flushing = true
	c.flushWG.Add(1) // finish waits for this write as for a flush goroutine
	buf := c.out
	c.out, c.spare = c.spare[:0], nil
	return buf, true
}

// writeNow writes buf, taken by writeNowLocked, with one raw write, which
// never waits, and gives up the flushing role. What the socket does not
// take, and what came meanwhile, is left to a flush goroutine, which also
// finds out why a write failed.
func (c *conn) writeNow(buf []byte) {
	defer c.flushWG.Done()
	n := rawWrite(c.raw, buf)
	c.srv.counters.bytesOut.Add(int64(n))

	c.wmu.Lock()
	c.writes++
	c.lastWrite = monoNow()
	if n < len(buf) {
		// The rest goes first, before what came during the write.
		rest := copy(buf, buf[n:])
		next := c.out
		c.out = append(buf[:rest], next...)
		if cap(next) <= keepBusy {
			c.spare = next[:0]
		}
	} else if cap(buf) <= keepBusy {
		c.spare = buf[:0]
	}
	c.flushing = false
	if len(c.out) == 0 {
		c.queueTrimLocked()
	} else {
		c.kickLocked()
	}
	c.wmu.Unlock()
}

// kickLocked starts the flush goroutine if output is waiting and none runs.
func (c *conn) kickLocked() {
	if c.flushing || len(c.out) == 0 || (c.gathering && !c.closed && len(c.out) < gatherMax) {
		return
	}
	c.flushing = true
	c.flushWG.Add(1)
	go c.flush()
}

// flush writes the output until none is left, then ends. Everything queued
// while a write is under way goes out in the next single write.
func (c *conn) flush() {
	defer c.flushWG.Done()
	for c.writeOnce() {
	}
}

// writeOwn ends the gathering of output: the reading goroutine calls it
// before it waits for input. What was gathered is written at once, from
// that goroutine, which saves the hand-over to a flush goroutine for the
// packets a client's own packets cause (CONNACK, SUBACK, acknowledgements,
// the messages a freed inflight slot lets out); output that comes while the
// write is under way, and while the reader waits, is the flush goroutine's.
func (c *conn) writeOwn() {
	c.gatherOn = false
	c.wmu.Lock()
	c.gathering = false
	if c.flushing || len(c.out) == 0 || c.closed {
		c.kickLocked()
		c.wmu.Unlock()
		return
	}
	c.flushing = true
	c.wmu.Unlock()
	if c.writeOnce() {
		c.wmu.Lock()
		c.flushing = false
		c.kickLocked()
		c.wmu.Unlock()
	}
}

// gatherOwn starts gathering the output of the packets the reading
// goroutine handles, until writeOwn.
func (c *conn) gatherOwn() {
	c.gatherOn = true
	c.wmu.Lock()
	c.gathering = true
	c.wmu.Unlock()
}

// writeOnce writes the output with one write. The caller holds the flushing
// role (flushing set); writeOnce gives it up, and reports false, when it
// finds nothing to write or the write fails.
func (c *conn) writeOnce() bool {
	c.wmu.Lock()
	if len(c.out) == 0 {
		// The output has stopped, maybe only until the next message: the
		// buffers stay, and the trimmer lets large ones go if it stays so.
		c.flushing = false
		c.queueTrimLocked()
		c.wmu.Unlock()
		return false
	}
	buf := c.out
	c.out, c.spare = c.spare[:0], nil
	now := time.Now().UnixNano()
	wt := int64(c.srv.limits().WriteTimeout)
	deadline := now + wt
	if c.closeBy != 0 && c.closeBy < deadline {
		deadline = c.closeBy
	}
	c.wmu.Unlock()

	// A socket that takes the whole output at once needs no deadline.
	var (
		n   int
		err error
	)
	if c.raw != nil {
		n = rawWrite(c.raw, buf)
	}
	if n < len(buf) {
		// Moving the deadline costs more than the clock: it is moved only
		// when less than three quarters of WriteTimeout are left, or to
		// bring it closer, so a write may block between 0.75 and 1 times
		// WriteTimeout before the connection counts as dead.
		if deadline < c.wdeadline || c.wdeadline-now < wt*3/4 {
			c.nc.SetWriteDeadline(time.Unix(0, deadline))
			c.wdeadline = deadline
		}
		var m int
		m, err = c.nc.Write(buf[n:])
		n += m
	}
	c.srv.counters.bytesOut.Add(int64(n))

	c.wmu.Lock()
	c.writes++
	c.lastWrite = monoNow()
	if cap(buf) <= keepBusy {
		c.spare = buf[:0]
	}
	if err != nil {
		c.out = nil
		c.closed = true
		c.flushing = false
		c.wmu.Unlock()
		// Wake the reader: the connection is dead.
		reason := "write failed: " + err.Error()
		c.stopReason.Store(&reason)
		c.stopping.Store(true)
		c.nc.SetReadDeadline(time.Unix(1, 0))
		c.wake()
		return false
	}
	c.wmu.Unlock()
	return true
}
