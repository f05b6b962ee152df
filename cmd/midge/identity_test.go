package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/midgemq/midge/packet"
)

// TestE2ECertificateIdentity: on a TLS listener with
// use_identity_as_username, a client with a verified certificate logs in
// as its common name without a password, and the ACL rules of that name
// apply.
func TestE2ECertificateIdentity(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool, ca, caKey := selfSignedCA(t, dir)
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sensor-7"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	passwd, acl := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	os.WriteFile(passwd, nil, 0o600)
	os.WriteFile(acl, []byte("user sensor-7\ntopic readwrite sensors/7/#\n"), 0o600)
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, `data_dir = %q
password_file = %q
acl_file = %q
[[listener]]
type = "tls"
address = %q
cert_file = %q
key_file = %q
client_ca_file = %q
client_auth = "require"
use_identity_as_username = "cn"
`, filepath.Join(dir, "data"), passwd, acl, addr, certFile, keyFile, certFile), 0o600)
	p := startMidge(t, "serve", "--config", cfg)
	dialMidge(t, p, addr).Close()

	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: clientKey}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	send := func(pk packet.Packet) {
		b, _ := pk.Append(nil, packet.V5)
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	read := func() packet.Packet {
		h, err := packet.ReadFixedHeader(br, 0)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, h.Remaining)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		pk, err := packet.Decode(h, body, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		return pk
	}
	send(&packet.Connect{Version: packet.V5, ClientID: "s7", CleanStart: true})
	if ack := read().(*packet.Connack); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v\n%s", ack.ReasonCode, p.stderr.String())
	}
	send(&packet.Publish{Topic: "sensors/7/temp", QoS: 1, PacketID: 1, Payload: []byte("21")})
	if a := read().(*packet.Ack); a.ReasonCode != packet.Success {
		t.Fatalf("own topic: PUBACK %v", a.ReasonCode)
	}
	send(&packet.Publish{Topic: "sensors/8/temp", QoS: 1, PacketID: 2, Payload: []byte("21")})
	if a := read().(*packet.Ack); a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("other topic: PUBACK %v, want NotAuthorized", a.ReasonCode)
	}
}
