package broker

import (
	"context"
	"log/slog"
)

// The events of the audit log (Options.Audit), one record each. Every
// record carries the client's id, user name and remote address; none ever
// carries a password, a token or authentication data.
const (
	auditConnect        = "connect"         // a client is in
	auditConnectRefused = "connect_refused" // CONNACK with a failure code, for a reason other than authentication
	auditAuthFailure    = "auth_failure"    // credentials or an enhanced authentication refused
	auditBanned         = "address_banned"  // an address is refused for AuthBanTime
	auditReauth         = "reauthenticated" // a 5.0 re-authentication succeeded
	auditDenied         = "denied"          // the Authorizer refused a publish, subscribe or will
	auditDisconnect     = "disconnect"      // a client's connection ended
	auditRevoked        = "revoked"         // a subscription taken back after a change of the Authorizer's rules
)

// audit writes one record of event about this connection's client to the
// audit log, if there is one.
func (c *conn) audit(event string, attrs ...slog.Attr) {
	c.srv.auditClient(event, &c.info, attrs...)
}

// auditClient writes one record of event about the client info to the
// audit log, if there is one.
func (s *Server) auditClient(event string, info *ClientInfo, attrs ...slog.Attr) {
	a := s.opts.Audit
	if a == nil {
		return
	}
	remote := ""
	if info.Remote != nil {
		remote = info.Remote.String()
	}
	all := make([]slog.Attr, 0, 3+len(attrs))
	all = append(all, slog.String("client_id", info.ClientID), slog.String("username", info.Username),
		slog.String("remote", remote))
	all = append(all, attrs...)
	a.LogAttrs(context.Background(), slog.LevelInfo, event, all...)
}

// authHow names how the client proved who it is, for the audit log.
func (c *conn) authHow(identified bool) string {
	switch {
	case identified:
		return "transport" // a verified client certificate
	case c.authMethod != "":
		return c.authMethod
	case c.srv.opts.Authenticator == nil:
		return "none"
	}
	return "authenticator"
}
