package broker

import (
	"context"
	"net"

	"github.com/midgemq/midge/packet"
)

// ClientInfo describes a connected (or connecting) client to authentication,
// authorization and observers. It is a copy: changing it changes nothing,
// except for Grants during Authenticate.
type ClientInfo struct {
	ClientID string
	Username string
	Remote   net.Addr
	Version  packet.Version

	// Grants is set by an Authenticator during Authenticate, to what the
	// client's credentials say it may do (such as the topics listed in a
	// token); nil, the default, means nothing. The broker keeps it with the
	// connection and passes it back to the Authorizer with every request.
	// It is not shown to observers or logged.
	Grants any
}

// Authenticator decides whether a client may connect.
//
// Authenticate returns nil to let the client in. To refuse it, it returns an
// error; a *packet.ReasonError chooses the CONNACK reason code (for example
// BadUserNameOrPassword, NotAuthorized, Banned, ServerUnavailable), any other
// error refuses with NotAuthorized. password is nil when the client sent none
// and must not be retained.
type Authenticator interface {
	Authenticate(ctx context.Context, c *ClientInfo, password []byte) error
}

// Action is what an Authorizer is asked to allow.
type Action byte

// The actions an Authorizer decides.
const (
	// ActionPublish is a PUBLISH to a topic name, and a will's topic.
	ActionPublish Action = iota + 1
	// ActionSubscribe is a SUBSCRIBE to a topic filter.
	ActionSubscribe
)

// String returns "publish" or "subscribe".
func (a Action) String() string {
	switch a {
	case ActionPublish:
		return "publish"
	case ActionSubscribe:
		return "subscribe"
	}
	return "unknown"
}

// Authorizer decides what a connected client may do. Authorize reports
// whether c may perform a on topic (a topic name for ActionPublish, a filter
// for ActionSubscribe).
type Authorizer interface {
	Authorize(ctx context.Context, c *ClientInfo, a Action, topic string) bool
}

// IdentifiedConn is a connection that knows its client from the transport,
// such as by the name in a verified TLS client certificate. A client on
// such a connection whose Identity is not empty gets it as its user name
// and is let in without the Authenticator; the Authorizer still decides
// what it may do.
type IdentifiedConn interface {
	net.Conn
	// Identity returns the client's name, or "" when the transport has
	// none (then the client authenticates as usual).
	Identity() string
}
