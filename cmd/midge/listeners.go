package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/midgemq/midge/config"
	"github.com/midgemq/midge/listener"
)

// openListener opens the socket of one [[listener]] table.
func openListener(l config.Listener, logger *slog.Logger) (net.Listener, error) {
	// Without TCP keep-alive probes: MQTT has its own keep-alive, and the
	// broker turns the probes on for a client that asks for none (its
	// Keep Alive is 0), which saves four setsockopt calls per connection.
	lc := net.ListenConfig{KeepAlive: -1}
	// Go makes TCP listeners Multipath TCP sockets where the kernel has
	// it; only a listener configured so gets one here.
	lc.SetMultipathTCP(l.MultipathTCP)
	tcp, err := lc.Listen(context.Background(), "tcp", l.Address)
	if err != nil {
		return nil, err
	}
	if l.ProxyProtocol {
		// The header comes first, before TLS or HTTP.
		tcp = listener.NewProxy(tcp, logger)
	}
	var tlsOpts *listener.TLSOptions
	if l.Type == "tls" || l.Type == "wss" {
		tlsOpts = &listener.TLSOptions{CertFile: l.CertFile, KeyFile: l.KeyFile, ClientCAFile: l.ClientCAFile, ClientAuth: l.ClientAuth}
	}
	var nl net.Listener
	switch l.Type {
	case "tcp":
		return tcp, nil
	case "tls":
		nl, err = listener.NewTLS(tcp, *tlsOpts, logger)
	case "ws", "wss":
		nl, err = listener.NewWebSocket(tcp, listener.WebSocketOptions{Path: l.Path, TLS: tlsOpts}, logger)
	default:
		err = fmt.Errorf("unsupported type %q", l.Type)
	}
	if err != nil {
		tcp.Close()
		return nil, err
	}
	if l.UseIdentityAsUsername != "" {
		nl = identityListener{nl, l.UseIdentityAsUsername}
	}
	return nl, nil
}

// identityListener hands out connections that tell the broker the name in
// their client's verified certificate (broker.IdentifiedConn).
type identityListener struct {
	net.Listener
	field string
}

func (l identityListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return identityConn{c, l.field}, nil
}

// Reload passes SIGHUP's certificate reload to the listener underneath.
func (l identityListener) Reload() error {
	if r, ok := l.Listener.(interface{ Reload() error }); ok {
		return r.Reload()
	}
	return nil
}

type identityConn struct {
	net.Conn
	field string
}

// Identity implements broker.IdentifiedConn.
func (c identityConn) Identity() string {
	return listener.CertUsername(listener.PeerCertificate(c.Conn), c.field)
}

// NetConn lets listener.PeerCertificate look through the wrapper.
func (c identityConn) NetConn() net.Conn { return c.Conn }

// reloadCerts re-reads the certificates of the tls and wss listeners; one
// that fails keeps the certificate it had.
func reloadCerts(ls []net.Listener, cfg []config.Listener, logger *slog.Logger) {
	for i, l := range ls {
		if cfg[i].Type != "tls" && cfg[i].Type != "wss" {
			continue
		}
		r, ok := l.(interface{ Reload() error })
		if !ok {
			continue
		}
		if err := r.Reload(); err != nil {
			logger.Error("certificate not reloaded; the previous one stays", "listener", cfg[i].Name, "err", err)
		} else {
			logger.Info("certificate reloaded", "listener", cfg[i].Name)
		}
	}
}
