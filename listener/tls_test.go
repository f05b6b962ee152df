package listener_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/midgemq/midge/listener"
)

// handshake is what the server side saw of one connection.
type handshake struct {
	cert *x509.Certificate
	err  error
}

// serveTLS accepts connections on l until the test ends. For each it reads
// the client certificate with PeerCertificate (which runs the handshake),
// reports it, and on success writes "ok\n" and closes.
func serveTLS(t *testing.T, l net.Listener) <-chan handshake {
	t.Helper()
	results := make(chan handshake, 64)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(testTimeout))
				cert := listener.PeerCertificate(c)
				// The handshake already ran; this returns its result.
				err := c.(*tls.Conn).HandshakeContext(context.Background())
				results <- handshake{cert: cert, err: err}
				if err == nil {
					c.Write([]byte("ok\n"))
				}
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return results
}

// dialTLS connects with cfg and waits for the server's "ok\n". In TLS 1.3
// the server checks the client certificate after the client finished its
// handshake, so a refused certificate shows up on this read.
func dialTLS(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil {
		return tls.ConnectionState{}, err
	}
	if string(buf) != "ok\n" {
		return tls.ConnectionState{}, errors.New("unexpected reply " + string(buf))
	}
	return c.ConnectionState(), nil
}

func receive(t *testing.T, results <-chan handshake) handshake {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(testTimeout):
		t.Fatal("no handshake on the server side")
		return handshake{}
	}
}

func newTLS(t *testing.T, o listener.TLSOptions) *listener.TLS {
	t.Helper()
	l, err := listener.NewTLS(listen(t), o, testLogger(t))
	if err != nil {
		t.Fatalf("NewTLS: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestTLSVersions(t *testing.T) {
	p := newPKI(t)
	l := newTLS(t, listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile})
	results := serveTLS(t, l)
	tests := []struct {
		name    string
		min     uint16
		max     uint16
		wantErr bool
	}{
		{name: "tls1.3", min: tls.VersionTLS13, max: tls.VersionTLS13},
		{name: "tls1.2", min: tls.VersionTLS12, max: tls.VersionTLS12},
		{name: "tls1.1", min: tls.VersionTLS10, max: tls.VersionTLS11, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := p.clientConfig(nil)
			cfg.MinVersion, cfg.MaxVersion = tc.min, tc.max
			st, err := dialTLS(l.Addr().String(), cfg)
			r := receive(t, results)
			if tc.wantErr {
				if err == nil || r.err == nil {
					t.Fatalf("handshake succeeded (client err %v, server err %v), want refusal", err, r.err)
				}
				return
			}
			if err != nil || r.err != nil {
				t.Fatalf("client err %v, server err %v", err, r.err)
			}
			if st.Version != tc.max {
				t.Errorf("version %x, want %x", st.Version, tc.max)
			}
			if got := st.PeerCertificates[0].SerialNumber.Int64(); got != 100 {
				t.Errorf("server serial %d, want 100", got)
			}
		})
	}
}

func TestTLSClientAuth(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name       string
		clientAuth string
		cert       *issued
		wantErr    bool
		wantCN     string // "" for no peer certificate
	}{
		{name: "none/no-cert", clientAuth: "none"},
		{name: "none/cert-not-asked", clientAuth: "", cert: p.client},
		{name: "request/no-cert", clientAuth: "request"},
		{name: "request/cert", clientAuth: "request", cert: p.client, wantCN: "alice"},
		{name: "request/foreign-cert", clientAuth: "request", cert: p.foreign, wantErr: true},
		{name: "require/no-cert", clientAuth: "require", wantErr: true},
		{name: "require/cert", clientAuth: "require", cert: p.client, wantCN: "alice"},
		{name: "require/foreign-cert", clientAuth: "require", cert: p.foreign, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile, ClientAuth: tc.clientAuth}
			if tc.clientAuth == "request" || tc.clientAuth == "require" {
				o.ClientCAFile = p.ca.File
			}
			l := newTLS(t, o)
			results := serveTLS(t, l)
			for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				cfg := p.clientConfig(tc.cert)
				cfg.MaxVersion = version
				_, err := dialTLS(l.Addr().String(), cfg)
				r := receive(t, results)
				if tc.wantErr {
					if err == nil || r.err == nil {
						t.Fatalf("version %x: handshake succeeded, want failure", version)
					}
					if r.cert != nil {
						t.Errorf("version %x: PeerCertificate = %s after a failed handshake", version, r.cert.Subject)
					}
					continue
				}
				if err != nil || r.err != nil {
					t.Fatalf("version %x: client err %v, server err %v", version, err, r.err)
				}
				if got := listener.CertUsername(r.cert, "cn"); got != tc.wantCN {
					t.Errorf("version %x: peer CN %q, want %q", version, got, tc.wantCN)
				}
			}
		})
	}
}

func TestTLSReload(t *testing.T) {
	p := newPKI(t)
	// The listener's files, which the test overwrites.
	certFile, keyFile := p.dir+"/live.pem", p.dir+"/live.key"
	copyFile(t, p.server.CertFile, certFile)
	copyFile(t, p.server.KeyFile, keyFile)
	l := newTLS(t, listener.TLSOptions{CertFile: certFile, KeyFile: keyFile})
	results := serveTLS(t, l)
	serial := func() int64 {
		t.Helper()
		st, err := dialTLS(l.Addr().String(), p.clientConfig(nil))
		if r := receive(t, results); err != nil || r.err != nil {
			t.Fatalf("client err %v, server err %v", err, r.err)
		}
		return st.PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 100 {
		t.Fatalf("serial %d before reload, want 100", got)
	}

	next := p.ca.issue(t, p.dir, "server2", certSpec{serial: 101, cn: "midge", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	copyFile(t, next.CertFile, certFile)
	copyFile(t, next.KeyFile, keyFile)
	if err := l.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := serial(); got != 101 {
		t.Fatalf("serial %d after reload, want 101", got)
	}

	broken := []struct {
		name string
		cert []byte // nil keeps the file
		key  []byte
	}{
		{name: "garbage-cert", cert: []byte("not a certificate")},
		{name: "key-of-other-cert", key: readFile(t, p.server.KeyFile)},
		{name: "empty-key", cert: readFile(t, next.CertFile), key: []byte{}},
	}
	for _, tc := range broken {
		t.Run(tc.name, func(t *testing.T) {
			copyFile(t, next.CertFile, certFile)
			copyFile(t, next.KeyFile, keyFile)
			if tc.cert != nil {
				writeFile(t, certFile, tc.cert)
			}
			if tc.key != nil {
				writeFile(t, keyFile, tc.key)
			}
			if err := l.Reload(); err == nil {
				t.Fatal("Reload of broken files succeeded")
			}
			if got := serial(); got != 101 {
				t.Fatalf("serial %d after failed reload, want 101 (the old certificate)", got)
			}
		})
	}
	os.Remove(certFile)
	if err := l.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reload of a missing file: %v, want os.ErrNotExist", err)
	}
	if got := serial(); got != 101 {
		t.Fatalf("serial %d after failed reload, want 101", got)
	}
}

func TestTLSReloadClientCA(t *testing.T) {
	p := newPKI(t)
	caFile := p.dir + "/live-ca.pem"
	copyFile(t, p.ca.File, caFile)
	l := newTLS(t, listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile,
		ClientCAFile: caFile, ClientAuth: "require"})
	results := serveTLS(t, l)
	try := func(cert *issued) error {
		t.Helper()
		_, err := dialTLS(l.Addr().String(), p.clientConfig(cert))
		r := receive(t, results)
		if (err == nil) != (r.err == nil) {
			t.Fatalf("client err %v, server err %v", err, r.err)
		}
		return err
	}
	if err := try(p.client); err != nil {
		t.Fatalf("client of the CA refused: %v", err)
	}
	if err := try(p.foreign); err == nil {
		t.Fatal("client of the other CA accepted before reload")
	}

	copyFile(t, p.otherCA.File, caFile)
	if err := l.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := try(p.foreign); err != nil {
		t.Fatalf("client of the new CA refused: %v", err)
	}
	if err := try(p.client); err == nil {
		t.Fatal("client of the dropped CA accepted after reload")
	}

	writeFile(t, caFile, []byte("no certificates here"))
	if err := l.Reload(); !errors.Is(err, listener.ErrNoCACertificates) {
		t.Fatalf("Reload of an empty CA file: %v, want ErrNoCACertificates", err)
	}
	if err := try(p.foreign); err != nil {
		t.Fatalf("failed reload dropped the CA: %v", err)
	}
}

func TestNewTLSErrors(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name string
		o    listener.TLSOptions
		want error
	}{
		{name: "no-files", o: listener.TLSOptions{}, want: listener.ErrNoCertificate},
		{name: "bad-client-auth", o: listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile,
			ClientAuth: "always"}, want: listener.ErrClientAuth},
		{name: "require-without-ca", o: listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile,
			ClientAuth: "require"}, want: listener.ErrNoClientCA},
		{name: "missing-cert", o: listener.TLSOptions{CertFile: p.dir + "/nope.pem", KeyFile: p.server.KeyFile},
			want: os.ErrNotExist},
		{name: "missing-ca", o: listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile,
			ClientCAFile: p.dir + "/nope.pem", ClientAuth: "request"}, want: os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := listen(t)
			defer inner.Close()
			_, err := listener.NewTLS(inner, tc.o, testLogger(t))
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewTLS: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPeerCertificateNotTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := listener.PeerCertificate(a); c != nil {
		t.Fatalf("PeerCertificate of a pipe = %v", c.Subject)
	}
}

func TestCertUsername(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir, "ca")
	full := ca.issue(t, dir, "full", certSpec{serial: 1, cn: "alice", dns: []string{"alice.example", "b.example"},
		emails: []string{"alice@example.com"}, uris: []string{"spiffe://example/alice"}, client: true})
	email := ca.issue(t, dir, "email", certSpec{serial: 2, cn: "bob", emails: []string{"bob@example.com"},
		uris: []string{"spiffe://example/bob"}, client: true})
	uri := ca.issue(t, dir, "uri", certSpec{serial: 3, cn: "carol", uris: []string{"spiffe://example/carol"}, client: true})
	bare := ca.issue(t, dir, "bare", certSpec{serial: 4, client: true})
	tests := []struct {
		name  string
		cert  *x509.Certificate
		field string
		want  string
	}{
		{name: "cn", cert: full.Cert, field: "cn", want: "alice"},
		{name: "san-dns-first", cert: full.Cert, field: "san", want: "alice.example"},
		{name: "san-email", cert: email.Cert, field: "san", want: "bob@example.com"},
		{name: "san-uri", cert: uri.Cert, field: "san", want: "spiffe://example/carol"},
		{name: "san-none", cert: bare.Cert, field: "san", want: ""},
		{name: "cn-none", cert: bare.Cert, field: "cn", want: ""},
		{name: "unknown-field", cert: full.Cert, field: "serial", want: ""},
		{name: "nil-cert", cert: nil, field: "cn", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := listener.CertUsername(tc.cert, tc.field); got != tc.want {
				t.Fatalf("CertUsername(%s) = %q, want %q", tc.field, got, tc.want)
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	writeFile(t, to, readFile(t, from))
}
