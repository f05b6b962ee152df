package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/topic"
)

// connect reads and handles the CONNECT packet. On success the connection
// holds its session and the CONNACK is on its way.
func (c *conn) connect() error {
	c.maxIn = c.srv.limits().MaxPacketSize
	h, err := packet.ReadFixedHeader(c.br, c.maxIn)
	if err != nil {
		return err
	}
	if h.Type != packet.TypeConnect {
		// [MQTT-3.1.0-1] The first packet must be CONNECT.
		return &packet.ReasonError{Code: packet.ProtocolError, Msg: "first packet is " + h.Type.String() + ", not CONNECT"}
	}
	body := make([]byte, h.Remaining)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return err
	}
	var p packet.Connect
	if err := p.Decode(h, body, 0); err != nil {
		var re *packet.ReasonError
		if errors.As(err, &re) && re.Code == packet.UnsupportedProtocolVersion {
			// [MQTT-3.1.2-2] Answer an unknown protocol level with CONNACK
			// 0x01 (3.1.1 encoding, which every version can read), then close.
			c.version = packet.V311
			c.send(&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion})
		}
		return err
	}
	c.version = p.Version
	c.srv.counters.bytesIn.Add(int64(h.Remaining + 1 + packet.SizeVarint(h.Remaining)))
	// CONNACK, and what the session has waiting, go out in one write from
	// this goroutine before it first waits for input.
	c.gatherOwn()
	return c.accept(&p)
}

// refuse answers CONNECT with a failure reason code; the caller then closes
// the connection [MQTT-3.2.2-5].
func (c *conn) refuse(code packet.ReasonCode, why string) error {
	c.audit(auditConnectRefused, slog.String("reason_code", code.String()), slog.String("reason", why))
	return c.refuseQuietly(code, why)
}

// refuseAuth refuses a CONNECT whose authentication failed with err.
func (c *conn) refuseAuth(code packet.ReasonCode, why string, err error) error {
	c.audit(auditAuthFailure, slog.String("reason_code", code.String()), slog.String("reason", why),
		slog.String("err", err.Error()))
	return c.refuseQuietly(code, why)
}

// refuseQuietly refuses a CONNECT without an audit record.
func (c *conn) refuseQuietly(code packet.ReasonCode, why string) error {
	ack := packet.Connack{ReasonCode: code}
	if c.version == packet.V5 {
		ack.Properties.ReasonString = why // CONNACK may always carry one [MQTT-3.1.2-29]
	}
	c.send(&ack)
	c.logger().Info("connection refused", "client_id", c.info.ClientID, "username", c.info.Username,
		"reason_code", code.String(), "reason", why)
	return &packet.ReasonError{Code: code, Msg: why}
}

// accept decides a decoded CONNECT: client id, authentication, will, then
// the session, and answers CONNACK.
func (c *conn) accept(p *packet.Connect) error {
	c.info = ClientInfo{ClientID: p.ClientID, Username: p.Username, Remote: c.nc.RemoteAddr(), Version: p.Version}
	var connack packet.Connack
	if p.Version == packet.V5 {
		c.noProblemInfo = p.Properties.HasRequestProblemInformation && p.Properties.RequestProblemInformation == 0
		n := len(p.Properties.UserProperties)
		if p.Will != nil {
			n = max(n, len(p.Will.Properties.UserProperties))
		}
		if re := c.srv.checkUserProperties(n); re != nil {
			c.srv.drop(DropPropertyLimit, p.ClientID)
			return c.refuse(re.Code, re.Msg)
		}
	}
	if p.Version == packet.V5 && p.Properties.HasMaximumPacketSize {
		c.maxOut = int(p.Properties.MaximumPacketSize) // for the CONNACK too
	}

	// How long the session outlives the connection: in 3.1 and 3.1.1 a
	// session without Clean Session persists until the client ends it; in
	// 5.0 Clean Start only says how the session begins, and Session Expiry
	// Interval how long it stays (absent means 0) [MQTT-3.1.2-23].
	var expiryInterval uint32
	if !p.CleanStart {
		expiryInterval = neverExpires
	}
	if p.Version == packet.V5 {
		expiryInterval = p.Properties.SessionExpiryInterval
	}

	if p.ClientID == "" {
		switch {
		case p.Version != packet.V5 && !p.CleanStart:
			// [MQTT-3.1.3-8] An empty id is only allowed with Clean Session.
			// 3.1 asks for 1 to 23 characters; like 3.1.1, Midge assigns
			// one to a clean session rather than refuse the client.
			return c.refuse(packet.ClientIdentifierNotValid, "empty client identifier without clean session")
		}
		// [MQTT-3.1.3-6] Assign a unique client identifier.
		c.info.ClientID = newClientID()
		if p.Version == packet.V5 {
			connack.Properties.AssignedClientIdentifier = c.info.ClientID // [MQTT-3.2.2-16]
		}
	}
	c.logp.Store(nil) // made again, with the client id

	identified := false
	if ic, ok := c.nc.(IdentifiedConn); ok {
		if id := ic.Identity(); id != "" {
			c.info.Username, identified = id, true
		}
	}
	if identified {
		// The transport vouches for the client (a verified certificate).
		c.logger().Info("client identified by its transport", "username", c.info.Username)
	} else if p.Version == packet.V5 && p.Properties.AuthenticationMethod != "" {
		// Enhanced authentication stands in for the Authenticator.
		if c.srv.guard.banned(c.info.Remote, time.Now()) {
			c.srv.drop(DropBanned, c.info.ClientID)
			return c.refuse(packet.Banned, "address banned after repeated authentication failures")
		}
		if err := c.enhancedAuth(p, &connack); err != nil {
			return err
		}
	} else if a := c.srv.opts.Authenticator; a != nil {
		if c.srv.guard.banned(c.info.Remote, time.Now()) {
			// Too many failures from this address: refused without asking
			// the Authenticator, so guessing costs the guesser time only.
			c.srv.drop(DropBanned, c.info.ClientID)
			return c.refuse(packet.Banned, "address banned after repeated authentication failures")
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.ConnectTimeout)
		err := a.Authenticate(ctx, &c.info, passwordOf(p))
		cancel()
		if err != nil {
			code := packet.NotAuthorized
			var re *packet.ReasonError
			if errors.As(err, &re) {
				code = re.Code
			}
			if code == packet.BadUserNameOrPassword || code == packet.NotAuthorized {
				// Only refused credentials count towards a ban: clients
				// retrying while an authentication backend is down
				// (ServerUnavailable) are not guessing.
				c.authFailed()
			}
			return c.refuseAuth(code, "authentication failed", err)
		}
		c.srv.guard.succeeded(c.info.Remote)
	}

	if w := p.Will; w != nil {
		if err := topic.ValidateName(w.Topic); err != nil {
			return c.refuse(packet.TopicNameInvalid, "invalid will topic")
		}
		if re := c.srv.checkTopic(w.Topic, false); re != nil {
			c.srv.drop(DropTopicLimit, c.info.ClientID)
			return c.refuse(re.Code, "will "+re.Msg)
		}
		if !c.authorize(ActionPublish, w.Topic) {
			return c.refuse(packet.NotAuthorized, "will topic not authorized")
		}
		c.will = c.willMessage(w)
		if p.Version == packet.V5 && w.Properties.HasWillDelayInterval {
			c.willDelay = w.Properties.WillDelayInterval
		}
	}

	if err := c.claim(); err != nil {
		c.logger().Warn("client id claim failed", "err", err)
		return c.refuse(packet.ServerUnavailable, "client id claim failed")
	}
	c.window = c.srv.limits().MaxInflight
	if p.Version == packet.V5 {
		if pr := &p.Properties; pr.HasReceiveMaximum {
			c.window = min(c.window, int(pr.ReceiveMaximum)) // [MQTT-3.3.4-9]
		}
		if pr := &p.Properties; pr.HasTopicAliasMaximum {
			c.aliasMax = pr.TopicAliasMaximum
		}
		c.capabilities(&connack)
	}
	c.wmu.Lock()
	c.holding = true
	c.wmu.Unlock()
	from := c.srv.persist.mark() // the session's record is written after it (see below)
	sess, present, cancelled := c.srv.attach(c, c.info.ClientID, p.CleanStart, expiryInterval)
	c.sess = sess
	c.attached.Store(true)
	if c.will != nil {
		// The store holds the will while the connection lasts, so that a
		// broker crash does not lose it (see will.go).
		sess.setWill(c.will, c.willDelay)
	}
	c.authorizeSession(sess, present)
	if expiryInterval > 0 {
		// CONNACK tells the client that the broker keeps its session (and
		// will): it waits until the store has the session's record, and
		// is refused when the batch that held it failed.
		if err := c.srv.persist.waitSince(from); err != nil {
			return c.refuseUnstored(present, cancelled, err)
		}
	}
	keepAlive := p.KeepAlive
	if m := c.srv.limits().MaxKeepAlive; m > 0 && p.Version == packet.V5 && (keepAlive == 0 || int(keepAlive) > m) {
		// The broker's limit wins, and the client is told [MQTT-3.2.2-21].
		keepAlive = uint16(m)
		connack.Properties.ServerKeepAlive, connack.Properties.HasServerKeepAlive = keepAlive, true
	}
	c.keepAlive = time.Duration(keepAlive) * time.Second
	if keepAlive == 0 {
		tcpKeepAlive(c.nc)
	}
	if p.Version == packet.V5 && p.Properties.HasRequestResponseInformation && p.Properties.RequestResponseInformation == 1 {
		// The base of the response topics this client may use (3.1.2.11.7).
		connack.Properties.ResponseInformation = "response/" + c.info.ClientID + "/"
	}
	// [MQTT-3.2.2-1] [MQTT-3.2.2-2] Session Present is set only when an
	// existing session is resumed.
	connack.SessionPresent = present
	c.sendConnack(&connack)
	// Logged without the connection's own logger, which it would make and
	// keep for the life of the connection.
	if logInfo(c.srv.log) {
		c.srv.log.Info("client connected", "remote", c.nc.RemoteAddr().String(), "client_id", c.info.ClientID,
			"version", p.Version.String(), "username", c.info.Username,
			"clean_start", p.CleanStart, "keep_alive", p.KeepAlive, "session_present", present)
	}
	c.audit(auditConnect, slog.String("protocol", p.Version.String()), slog.String("auth", c.authHow(identified)),
		slog.Bool("clean_start", p.CleanStart), slog.Bool("session_present", present))
	c.srv.counters.connected(p.Version)
	c.srv.observe(event{kind: eventConnect, info: c.info})
	sess.resume()
	return nil
}

// refuseUnstored refuses the CONNECT, which attached the session already,
// because the store could not write the session's record: the client gets
// Server unavailable, and nothing of the connection stays with the session.
// A session this CONNECT made is ended; one it resumed is let go as if its
// client had gone, without the will of this connection, and with the
// delayed will of its last connection that the CONNECT cancelled, which
// waits for its time again: the client did not come back.
func (c *conn) refuseUnstored(present bool, cancelled delayedWill, err error) error {
	c.logger().Error("session not stored; connection refused", "err", err)
	sess := c.sess
	if c.will != nil {
		sess.clearWill(c.will)
		c.will = nil
	}
	c.srv.detach(sess, c, !present)
	if present && sess.restoreWill(cancelled) {
		c.srv.expiry.add(sess.id, cancelled.at)
	}
	c.sess = nil
	// What the session sent while CONNACK waited stays with the session,
	// which sends it again to its next connection.
	c.wmu.Lock()
	c.holding = false
	c.held = nil
	c.wmu.Unlock()
	refused := c.refuse(packet.ServerUnavailable, "session state could not be stored")
	// Nothing follows the refusal, not even a DISCONNECT of a shutdown.
	c.sendLast(nil)
	return refused
}

// claim takes the client id in the SessionRegistry, within ConnectTimeout.
// The local registry, which takes every id at once, is not given a context
// with its timer.
func (c *conn) claim() error {
	reg := c.srv.opts.Registry
	if _, ok := reg.(localRegistry); ok {
		return reg.Claim(context.Background(), c.info.ClientID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.ConnectTimeout)
	defer cancel()
	return reg.Claim(ctx, c.info.ClientID)
}

// capabilities tells a 5.0 client in its CONNACK what the broker allows.
// Every feature is available, so only the limits are sent: the largest
// packet the broker takes [MQTT-3.2.2-15] and how many topic aliases the
// client may set [MQTT-3.2.2-17]. Absent properties mean "available" for
// Retain, Wildcard, Subscription Identifier and Shared Subscription, QoS 2
// and a Receive Maximum of 65535.
func (c *conn) capabilities(ack *packet.Connack) {
	pr := &ack.Properties
	pr.MaximumPacketSize, pr.HasMaximumPacketSize = uint32(c.maxIn), true
	if n := c.srv.opts.TopicAliasMaximum; n > 0 {
		pr.TopicAliasMaximum, pr.HasTopicAliasMaximum = uint16(n), true
	}
}

func passwordOf(p *packet.Connect) []byte {
	if !p.PasswordFlag {
		return nil
	}
	return p.Password
}

// newClientID makes an identifier for a client that sent none.
func newClientID() string {
	var b [12]byte
	rand.Read(b[:])
	return "midge-" + hex.EncodeToString(b[:])
}

// authorize asks the Authorizer, if any, whether this client may do a.
func (c *conn) authorize(a Action, t string) bool {
	az := c.srv.opts.Authorizer
	if az == nil {
		return true
	}
	if az.Authorize(context.Background(), &c.info, a, t) {
		return true
	}
	action := a.String()
	if c.sess == nil && a == ActionPublish {
		action = "will" // asked while the CONNECT is decided
	}
	c.audit(auditDenied, slog.String("action", action), slog.String("topic", t))
	return false
}

// willMessage is the message that w asks to publish.
func (c *conn) willMessage(w *packet.Will) *Message {
	msg := &Message{
		Topic:     w.Topic,
		Payload:   w.Payload,
		QoS:       w.QoS,
		Retain:    w.Retain, // [MQTT-3.1.2-17]
		Publisher: c.info.ClientID,
	}
	if c.version == packet.V5 {
		msg.Properties = forwardProperties(&w.Properties)
	}
	return msg
}

// publishWill publishes a will message [MQTT-3.1.2-8], as a message of its
// own: the same will may be published once per connection.
func (s *Server) publishWill(w *Message, info ClientInfo) {
	msg := *w
	msg.ID = s.seq.next()
	msg.setExpiry(time.Now())
	s.counters.received(msg.QoS, 0)
	s.router.Publish(&msg, nil)
	s.counters.routedMsg(msg.QoS)
	s.observe(event{kind: eventPublish, msg: &msg, info: info})
}
