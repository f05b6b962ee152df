package broker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/midgemq/midge/packet"
)

// EnhancedAuthenticator implements one MQTT 5.0 enhanced authentication
// method (section 4.12): a challenge and response exchange of AUTH packets
// between CONNECT and CONNACK.
type EnhancedAuthenticator interface {
	// Method is the Authentication Method it implements, such as
	// "SCRAM-SHA-512".
	Method() string
	// Begin starts the exchange with a client.
	Begin(ctx context.Context, c *ClientInfo) AuthExchange
}

// AuthExchange is one client's enhanced authentication in progress.
type AuthExchange interface {
	// Step takes the client's Authentication Data (from CONNECT, then from
	// each AUTH) and returns the broker's. With done the client is in, and
	// the data goes in the CONNACK; otherwise it goes in an AUTH that asks
	// for more. An error refuses the client: a *packet.ReasonError carries
	// the reason code, any other error means Not authorized. Step may set
	// the client's Username.
	Step(data []byte) (answer []byte, done bool, err error)
}

// errAuthExchange is why an exchange ended that the client broke off.
var errAuthExchange = errors.New("enhanced authentication: unexpected packet")

// enhancedAuth runs the exchange of the method p names, reading AUTH packets
// until the authenticator is done, and puts its last data in connack. It
// returns the error that refuses the client, after sending the CONNACK
// that says so.
func (c *conn) enhancedAuth(p *packet.Connect, connack *packet.Connack) error {
	method := p.Properties.AuthenticationMethod
	var ea EnhancedAuthenticator
	for _, a := range c.srv.opts.EnhancedAuth {
		if a.Method() == method {
			ea = a
			break
		}
	}
	if ea == nil {
		// [MQTT-4.12.0-1] A method the broker lacks: refused, closed.
		return c.refuse(packet.BadAuthenticationMethod, "unsupported authentication method "+method)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.ConnectTimeout)
	defer cancel()
	ex := ea.Begin(ctx, &c.info)
	data := p.Properties.AuthenticationData
	deadline := time.Now().Add(c.srv.opts.ConnectTimeout)
	for {
		answer, done, err := ex.Step(data)
		if err != nil {
			code := packet.NotAuthorized
			var re *packet.ReasonError
			if errors.As(err, &re) && re.Code.IsError() {
				code = re.Code
			}
			c.authFailed()
			return c.refuseAuth(code, "enhanced authentication failed", err) // [MQTT-4.12.0-4]
		}
		if done {
			c.authMethod = method
			connack.Properties.AuthenticationMethod = method
			connack.Properties.AuthenticationData = answer
			c.srv.guard.succeeded(c.info.Remote)
			return nil
		}
		// [MQTT-4.12.0-2] More is needed: AUTH with Continue authentication.
		a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
		a.Properties.AuthenticationMethod, a.Properties.AuthenticationData = method, answer
		c.send(a)
		if c.gatherOn {
			c.writeOwn()
		}
		c.setReadDeadline(deadline)
		h, body, err := c.readPacket()
		if err != nil {
			return err
		}
		if h.Type != packet.TypeAuth {
			return c.refuse(packet.ProtocolError, "expected AUTH during enhanced authentication")
		}
		var in packet.Auth
		if err := in.Decode(h, body, c.version); err != nil {
			return err
		}
		if in.ReasonCode != packet.ContinueAuthentication || in.Properties.AuthenticationMethod != method {
			// [MQTT-4.12.0-5] the method stays the same throughout.
			return c.refuse(packet.ProtocolError, errAuthExchange.Error())
		}
		data = in.Properties.AuthenticationData
	}
}

// reauthentication is a re-authentication in progress (section 4.12.1).
type reauthentication struct {
	ex     AuthExchange
	info   ClientInfo // the copy the exchange works on
	cancel context.CancelFunc
}

// handleAuth handles an AUTH packet after CONNACK: a 5.0 client that logged
// in with an enhanced authentication method may authenticate again with
// the same method at any time, while its other packets flow on
// [MQTT-4.12.1-1]. A failed re-authentication ends the connection with a
// DISCONNECT that says why [MQTT-4.12.1-2]; the identity it proves must be
// the one the connection has.
func (c *conn) handleAuth(h packet.FixedHeader, body []byte) error {
	var p packet.Auth
	if err := p.Decode(h, body, c.version); err != nil {
		return err
	}
	if c.authMethod == "" {
		// [MQTT-4.12.0-7] A client that gave no method sends no AUTH.
		return &packet.ReasonError{Code: packet.ProtocolError, Msg: "AUTH without an authentication method"}
	}
	if p.Properties.AuthenticationMethod != c.authMethod {
		return &packet.ReasonError{Code: packet.ProtocolError, Msg: "re-authentication with another method"}
	}
	switch {
	case p.ReasonCode == packet.ReAuthenticate && c.reauth == nil:
		var ea EnhancedAuthenticator
		for _, a := range c.srv.opts.EnhancedAuth {
			if a.Method() == c.authMethod {
				ea = a
				break
			}
		}
		if ea == nil {
			// The method was removed since the client logged in.
			return &packet.ReasonError{Code: packet.BadAuthenticationMethod, Msg: "authentication method no longer supported"}
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.ConnectTimeout)
		r := &reauthentication{info: c.info, cancel: cancel}
		r.ex = ea.Begin(ctx, &r.info)
		c.reauth = r
	case p.ReasonCode == packet.ContinueAuthentication && c.reauth != nil:
	default:
		return &packet.ReasonError{Code: packet.ProtocolError, Msg: "AUTH " + p.ReasonCode.String() + " out of turn"}
	}
	answer, done, err := c.reauth.ex.Step(p.Properties.AuthenticationData)
	if err == nil && done && c.reauth.info.Username != c.info.Username {
		err = &packet.ReasonError{Code: packet.NotAuthorized, Msg: "re-authenticated as another user"}
	}
	if err != nil {
		c.endReauth()
		code := packet.NotAuthorized
		var re *packet.ReasonError
		if errors.As(err, &re) && re.Code.IsError() {
			code = re.Code
		}
		c.authFailed()
		c.audit(auditAuthFailure, slog.String("reason_code", code.String()), slog.String("reason", "re-authentication failed"),
			slog.String("err", err.Error()))
		return &packet.ReasonError{Code: code, Msg: "re-authentication failed"}
	}
	reply := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
	if done {
		c.endReauth()
		c.srv.guard.succeeded(c.info.Remote)
		reply.ReasonCode = packet.Success
		c.logger().Info("client re-authenticated", "method", c.authMethod)
		c.audit(auditReauth, slog.String("method", c.authMethod))
	}
	reply.Properties.AuthenticationMethod, reply.Properties.AuthenticationData = c.authMethod, answer
	c.send(reply)
	return nil
}

// endReauth ends a re-authentication in progress, if any.
func (c *conn) endReauth() {
	if c.reauth != nil {
		c.reauth.cancel()
		c.reauth = nil
	}
}
