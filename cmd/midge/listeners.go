package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/midgemq/midge/config"
	"github.com/midgemq/midge/listener"
)

// openListener opens the socket of one [[listener]] table.
func openListener(l config.Listener, logger *slog.Logger) (net.Listener, error) {
	tcp, err := net.Listen("tcp", l.Address)
	if err != nil {
		return nil, err
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
	return nl, nil
}

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
