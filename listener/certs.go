package listener

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// CertReloader holds a server certificate with its key and, optionally, a
// pool of CAs for client certificates, read from PEM files, and reads them
// again on Reload. Its GetCertificate method fits tls.Config.GetCertificate.
// It is safe for concurrent use; handshakes never wait for a reload.
type CertReloader struct {
	certFile, keyFile, caFile string

	// cur is replaced whole, so a handshake sees the certificate and the
	// client CAs of the same reload.
	cur atomic.Pointer[certSet]
}

// certSet is what one load read.
type certSet struct {
	cert *tls.Certificate
	cas  *x509.CertPool // nil without a client CA file
}

// NewCertReloader reads certFile (the server certificate, followed by any
// intermediates) and keyFile, and clientCAFile unless it is empty.
func NewCertReloader(certFile, keyFile, clientCAFile string) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile, caFile: clientCAFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. When any of them cannot be read or parsed,
// or the key does not match the certificate, it returns the error and keeps
// the certificate and CAs it had.
func (r *CertReloader) Reload() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("listener: load certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	if cert.Leaf == nil {
		// Only with GODEBUG=x509keypairleaf=0.
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("listener: parse certificate %s: %w", r.certFile, err)
		}
	}
	s := &certSet{cert: &cert}
	if r.caFile != "" {
		pem, err := os.ReadFile(r.caFile)
		if err != nil {
			return fmt.Errorf("listener: load client CAs: %w", err)
		}
		s.cas = x509.NewCertPool()
		if !s.cas.AppendCertsFromPEM(pem) {
			return fmt.Errorf("listener: load client CAs %s: %w", r.caFile, ErrNoCACertificates)
		}
	}
	r.cur.Store(s)
	return nil
}

// GetCertificate returns the current server certificate, whatever the
// client hello says.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load().cert, nil
}

// Leaf returns the parsed current server certificate.
func (r *CertReloader) Leaf() *x509.Certificate {
	return r.cur.Load().cert.Leaf
}

// ClientCAs returns the current pool of client CAs, or nil when there is no
// client CA file. Each Reload that succeeds makes a new pool.
func (r *CertReloader) ClientCAs() *x509.CertPool {
	return r.cur.Load().cas
}
