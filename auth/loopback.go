package auth

import (
	"context"
	"net"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/packet"
)

// LoopbackOnly returns a broker.Authenticator that lets in every client
// connecting from a loopback address (127.0.0.0/8, ::1), whatever its
// credentials, and refuses every other client with NotAuthorized. It is
// what a broker without any configured authentication uses, so that it is
// usable from its own machine (and through a local proxy without the PROXY
// protocol) but not open to the network until an operator says so.
func LoopbackOnly() broker.Authenticator { return loopbackOnly{} }

type loopbackOnly struct{}

// errNotLocal refuses a client that is not on this machine.
var errNotLocal = &packet.ReasonError{Code: packet.NotAuthorized,
	Msg: "anonymous access is limited to this machine (allow_anonymous = false and no authentication configured)"}

// Authenticate lets c in when its remote address is a loopback address.
func (loopbackOnly) Authenticate(_ context.Context, c *broker.ClientInfo, _ []byte) error {
	if isLoopback(c.Remote) {
		return nil
	}
	return errNotLocal
}

// isLoopback reports whether a is an IP address of this machine's loopback
// interface.
func isLoopback(a net.Addr) bool {
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	case nil:
		return false
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return false
		}
		ip = net.ParseIP(host)
	}
	return ip != nil && ip.IsLoopback()
}
