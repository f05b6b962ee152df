package listener

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// TLSOptions configure a TLS listener, or the TLS of a wss listener.
type TLSOptions struct {
	// CertFile and KeyFile name the PEM files of the server certificate
	// (followed by any intermediate certificates) and of its private key.
	// Both are required.
	CertFile, KeyFile string

	// ClientCAFile names a PEM file of the CAs that sign client
	// certificates. It is required when ClientAuth is "request" or
	// "require", and read again by Reload.
	ClientCAFile string

	// ClientAuth says what a client must show: "none" (the default, also
	// for "") asks for no certificate; "request" asks for one and verifies
	// it if the client sends one; "require" fails the handshake of a client
	// without a certificate signed by a CA of ClientCAFile.
	ClientAuth string
}

// clientAuth maps ClientAuth to its crypto/tls value.
func (o TLSOptions) clientAuth() (tls.ClientAuthType, error) {
	switch o.ClientAuth {
	case "", "none":
		return tls.NoClientCert, nil
	case "request":
		return tls.VerifyClientCertIfGiven, nil
	case "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("listener: client_auth %q: %w", o.ClientAuth, ErrClientAuth)
}

// handshakeTimeout bounds the handshake PeerCertificate runs.
const handshakeTimeout = 10 * time.Second

// TLS is a net.Listener that serves TLS 1.2 and 1.3 on the connections of
// another listener. Its certificate and client CAs can be reloaded while it
// runs. Accept does not run the handshake: it happens on the connection's
// first Read or Write (bounded by the connection's deadlines), or in
// PeerCertificate, so one slow client cannot hold up the accept loop.
type TLS struct {
	inner net.Listener
	certs *CertReloader
	log   *slog.Logger
	// cfg is the listener's configuration. With client certificates its
	// GetConfigForClient returns clientCfg, a copy of cfg with the current
	// client CAs, remade when a reload changes them.
	cfg       *tls.Config
	clientCfg atomic.Pointer[tls.Config]
}

// NewTLS returns a TLS listener on inner, configured by o. It reads the
// certificate, key and client CA files before returning. A nil log means
// slog.Default(). Closing the TLS listener closes inner; when NewTLS
// fails, inner stays open.
func NewTLS(inner net.Listener, o TLSOptions, log *slog.Logger) (*TLS, error) {
	return newTLS(inner, o, log, nil)
}

// newTLS is NewTLS with the ALPN protocols to offer.
func newTLS(inner net.Listener, o TLSOptions, log *slog.Logger, nextProtos []string) (*TLS, error) {
	if log == nil {
		log = slog.Default()
	}
	auth, err := o.clientAuth()
	if err != nil {
		return nil, err
	}
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, ErrNoCertificate
	}
	if auth != tls.NoClientCert && o.ClientCAFile == "" {
		return nil, fmt.Errorf("listener: client_auth %s: %w", o.ClientAuth, ErrNoClientCA)
	}
	certs, err := NewCertReloader(o.CertFile, o.KeyFile, o.ClientCAFile)
	if err != nil {
		return nil, err
	}
	log = log.With("listener", inner.Addr().String())
	if auth == tls.NoClientCert && o.ClientCAFile != "" {
		log.Warn("client CA file set but client certificates not requested", "client_ca_file", o.ClientCAFile)
	}
	t := &TLS{inner: inner, certs: certs, log: log}
	t.cfg = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.GetCertificate,
		ClientAuth:     auth,
		ClientCAs:      certs.ClientCAs(),
		NextProtos:     nextProtos,
	}
	if auth != tls.NoClientCert {
		t.cfg.GetConfigForClient = t.configForClient
	}
	return t, nil
}

// configForClient returns the configuration with the current client CAs.
// crypto/tls checks a resumed session's client certificate against these
// CAs too, so a reload that drops a CA also ends resumption for its clients.
func (t *TLS) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	cas := t.certs.ClientCAs()
	if c := t.clientCfg.Load(); c != nil && c.ClientCAs == cas {
		return c, nil
	}
	c := t.cfg.Clone()
	c.GetConfigForClient = nil
	c.ClientCAs = cas
	// Two handshakes racing here store equal configurations; either wins.
	t.clientCfg.Store(c)
	return c, nil
}

// Accept waits for the next connection of the inner listener and returns it
// as a *tls.Conn whose handshake has not run yet. Errors of the inner
// listener are returned as they are, so that callers (net/http, the
// broker's accept loop) can still recognise temporary ones.
func (t *TLS) Accept() (net.Conn, error) {
	c, err := t.inner.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, t.cfg), nil
}

// Close closes the inner listener. Connections already accepted stay open.
func (t *TLS) Close() error {
	return t.inner.Close()
}

// Addr returns the inner listener's address.
func (t *TLS) Addr() net.Addr {
	return t.inner.Addr()
}

// Reload reads the certificate, key and client CA files again; handshakes
// that start afterwards use them. When it fails, the listener keeps its
// current files and Reload returns the error.
func (t *TLS) Reload() error {
	if err := t.certs.Reload(); err != nil {
		return err
	}
	leaf := t.certs.Leaf()
	t.log.Info("tls certificate reloaded", "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
	return nil
}

// PeerCertificate returns the verified client certificate (the leaf) of c,
// a connection accepted from a TLS listener or a wss WebSocket listener. It
// returns nil when c is not such a connection, when the client sent no
// certificate, or when the handshake fails.
//
// When the handshake has not run yet, PeerCertificate runs it, for at most
// ten seconds or until c's deadlines. The broker may call it when the
// CONNECT packet arrives: by then the handshake is done and the call does
// not block. When another goroutine is running the handshake,
// PeerCertificate waits for it to end.
func PeerCertificate(c net.Conn) *x509.Certificate {
	tc := tlsConnOf(c)
	if tc == nil {
		return nil
	}
	if !tc.ConnectionState().HandshakeComplete {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil
		}
	}
	chains := tc.ConnectionState().VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return nil
	}
	return chains[0][0]
}

// tlsConnOf returns the TLS connection under c, or nil. It looks through
// WebSocket connections and through wrappers that expose their connection
// with a NetConn method.
func tlsConnOf(c net.Conn) *tls.Conn {
	for range 8 {
		switch v := c.(type) {
		case *tls.Conn:
			return v
		case *wsConn:
			return v.tls
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// CertUsername returns a user name taken from cert: for field "cn" the
// subject's common name; for "san" the first DNS name of the subject
// alternative names, else the first e-mail address, else the first URI.
// It returns "" for a nil cert, another field, or a missing value.
func CertUsername(cert *x509.Certificate, field string) string {
	if cert == nil {
		return ""
	}
	switch field {
	case "cn":
		return cert.Subject.CommonName
	case "san":
		switch {
		case len(cert.DNSNames) > 0:
			return cert.DNSNames[0]
		case len(cert.EmailAddresses) > 0:
			return cert.EmailAddresses[0]
		case len(cert.URIs) > 0:
			return cert.URIs[0].String()
		}
	}
	return ""
}
