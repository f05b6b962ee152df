package listener_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/midgemq/midge/internal/leakcheck"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 5 * time.Second

// TestMain fails the package when goroutines of the listener or the broker
// outlive the tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m, "github.com/midgemq/midge/listener", "github.com/midgemq/midge/broker")
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is the CA certificate's PEM file.
	File string
}

// certSpec describes a certificate for testCA.issue.
type certSpec struct {
	serial int64
	cn     string
	dns    []string
	emails []string
	uris   []string
	ips    []net.IP
	client bool
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newCA makes a CA called name and writes its certificate to dir.
func newCA(t testing.TB, dir, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, File: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// pool returns a pool holding the CA.
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issued is a certificate and key, parsed and in PEM files.
type issued struct {
	Cert     *x509.Certificate
	TLS      tls.Certificate
	CertFile string
	KeyFile  string
}

// issue signs a certificate for s and writes it and its key to
// dir/name.pem and dir/name.key.
func (ca *testCA) issue(t testing.TB, dir, name string, s certSpec) *issued {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(s.serial),
		Subject:        pkix.Name{CommonName: s.cn},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(24 * time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		DNSNames:       s.dns,
		EmailAddresses: s.emails,
		IPAddresses:    s.ips,
	}
	for _, u := range s.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if s.client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	is := &issued{CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+".key")}
	writePEM(t, is.CertFile, "CERTIFICATE", der)
	writePEM(t, is.KeyFile, "PRIVATE KEY", keyDER)
	if is.Cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	is.TLS = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: is.Cert}
	return is
}

// pki is the usual set: a CA, a server certificate for 127.0.0.1 and a
// client certificate for "alice", and a second CA with its own client.
type pki struct {
	dir     string
	ca      *testCA
	server  *issued
	client  *issued
	otherCA *testCA
	foreign *issued // client certificate of otherCA
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{dir: dir, ca: newCA(t, dir, "ca"), otherCA: newCA(t, dir, "other-ca")}
	p.server = p.ca.issue(t, dir, "server", certSpec{serial: 100, cn: "midge", dns: []string{"localhost"},
		ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	p.client = p.ca.issue(t, dir, "client", certSpec{serial: 200, cn: "alice", dns: []string{"alice.example"}, client: true})
	p.foreign = p.otherCA.issue(t, dir, "foreign", certSpec{serial: 300, cn: "mallory", client: true})
	return p
}

// clientConfig returns a client TLS configuration trusting the CA, with
// the given client certificate (none when nil).
func (p *pki) clientConfig(cert *issued) *tls.Config {
	c := &tls.Config{RootCAs: p.ca.pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		// Always send the certificate, even when the server asks for
		// another CA's (crypto/tls would otherwise send none).
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert.TLS, nil
		}
	}
	return c
}

// listen returns a TCP listener on 127.0.0.1 and a free port.
func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
