package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	certFile, keyFile, pool, _, _ = selfSignedCA(t, dir)
	return certFile, keyFile, pool
}

// selfSignedCA is selfSigned that also returns the certificate and key, to
// sign client certificates with.
func selfSignedCA(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool, ca *x509.Certificate, caKey *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "midge test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, cert, key
}

// TestE2ETransports runs the binary with tcp, tls, ws and wss listeners and
// speaks MQTT 3.1.1 over each.
func TestE2ETransports(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	addrs := map[string]string{"tcp": freeAddr(t), "tls": freeAddr(t), "ws": freeAddr(t), "wss": freeAddr(t)}
	cfg := fmt.Sprintf("data_dir = %q\n", filepath.Join(dir, "data"))
	for _, typ := range []string{"tcp", "tls", "ws", "wss"} {
		cfg += fmt.Sprintf("[[listener]]\nname = %q\ntype = %q\naddress = %q\n", typ, typ, addrs[typ])
		if typ == "tls" || typ == "wss" {
			cfg += fmt.Sprintf("cert_file = %q\nkey_file = %q\n", cert, key)
		}
	}
	cfgFile := filepath.Join(dir, "midge.toml")
	os.WriteFile(cfgFile, []byte(cfg), 0o600)
	p := startMidge(t, "serve", "--config", cfgFile)
	dialMidge(t, p, addrs["tcp"]).Close()

	connect := []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00}
	connack := "\x20\x02\x00\x00"
	tlsConf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	c, err := tls.Dial("tcp", addrs["tls"], tlsConf)
	if err != nil {
		t.Fatalf("tls: %v", err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(connect)
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != connack {
		t.Fatalf("tls: CONNACK % x, %v", got, err)
	}
	c.Close()

	for _, scheme := range []string{"ws", "wss"} {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, TLSClientConfig: tlsConf, HandshakeTimeout: 10 * time.Second}
		ws, _, err := d.Dial(scheme+"://"+addrs[scheme]+"/mqtt", nil)
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		if ws.Subprotocol() != "mqtt" {
			t.Fatalf("%s: subprotocol %q", scheme, ws.Subprotocol())
		}
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		ws.WriteMessage(websocket.BinaryMessage, connect)
		_, msg, err := ws.ReadMessage()
		if err != nil || string(msg) != connack {
			t.Fatalf("%s: CONNACK % x, %v", scheme, msg, err)
		}
		ws.Close()
	}
	// SIGHUP reloads the certificates.
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "certificate reloaded") })
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15); code != exitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
}

// TestE2EProxyProtocol: behind a PROXY protocol listener the broker sees
// the client address of the header (a remote one, which needs
// allow_anonymous without other authentication).
func TestE2EProxyProtocol(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "data_dir = %q\nallow_anonymous = true\n[[listener]]\naddress = %q\nproxy_protocol = true\n",
		filepath.Join(dir, "data"), addr), 0o600)
	p := startMidge(t, "serve", "--config", cfg)
	c := dialMidge(t, p, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("PROXY TCP4 198.51.100.23 10.0.0.1 40000 1883\r\n"))
	c.Write([]byte{0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, 'p', 'x'})
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "\x20\x02\x00\x00" {
		t.Fatalf("CONNACK % x, %v\n%s", got, err, p.stderr.String())
	}
	waitFor(t, func() bool { return strings.Contains(p.stderr.String(), "remote=198.51.100.23:40000") })
}
