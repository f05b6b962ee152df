package bench_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/midgemq/midge/bench"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/listener"
)

// serveOn starts a broker behind the listener wrap makes of a loopback TCP listener, and returns its address.
func serveOn(t *testing.T, wrap func(net.Listener) (net.Listener, error)) string {
	t.Helper()
	srv, err := broker.New(broker.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := wrap(inner)
	if err != nil {
		inner.Close()
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
	return inner.Addr().String()
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key, and returns the two file names.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bench test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTransports(t *testing.T) {
	certFile, keyFile := writeCert(t)
	discard := slog.New(slog.DiscardHandler)
	tlsOpts := listener.TLSOptions{CertFile: certFile, KeyFile: keyFile}
	tlsAddr := serveOn(t, func(l net.Listener) (net.Listener, error) { return listener.NewTLS(l, tlsOpts, discard) })
	wsAddr := serveOn(t, func(l net.Listener) (net.Listener, error) {
		return listener.NewWebSocket(l, listener.WebSocketOptions{}, discard)
	})
	wssAddr := serveOn(t, func(l net.Listener) (net.Listener, error) {
		return listener.NewWebSocket(l, listener.WebSocketOptions{TLS: &tlsOpts}, discard)
	})
	tests := []struct {
		name string
		addr string
		cfg  bench.Config
	}{
		{name: "tls with a CA", addr: tlsAddr, cfg: bench.Config{Transport: bench.TransportTLS, CAFile: certFile}},
		{name: "tls insecure", addr: tlsAddr, cfg: bench.Config{Transport: bench.TransportTLS, InsecureSkipVerify: true}},
		{name: "ws", addr: wsAddr, cfg: bench.Config{Transport: bench.TransportWS}},
		{name: "wss", addr: wssAddr, cfg: bench.Config{Transport: bench.TransportWSS, CAFile: certFile}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Scenario, c.QoS, c.Publishers, c.Subscribers, c.Count, c.PayloadSize = bench.ScenarioFanIn, 2, 2, 2, 100, 3000
			checkFigures(t, runBench(t, tc.addr, c))
		})
	}
	t.Run("tls unknown authority", func(t *testing.T) {
		_, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioConn, Host: tlsAddr,
			Transport: bench.TransportTLS, Connections: 1, Duration: time.Millisecond})
		var ce *bench.ClientError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("err %v, want a ClientError about the certificate", err)
		}
	})
	t.Run("ws wrong path", func(t *testing.T) {
		_, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioConn, Host: wsAddr,
			Transport: bench.TransportWS, WSPath: "/nope", Connections: 1, Duration: time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("err %v, want the 404 of the handshake", err)
		}
	})
}

// recordingListener records the remote addresses of the connections it accepts.
type recordingListener struct {
	net.Listener
	mu      sync.Mutex
	remotes map[string]int
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		l.remotes[host]++
		l.mu.Unlock()
	}
	return c, err
}

// TestSources spreads connections over several loopback source addresses.
func TestSources(t *testing.T) {
	rec := &recordingListener{remotes: make(map[string]int)}
	addr := serveOn(t, func(l net.Listener) (net.Listener, error) {
		rec.Listener = l
		return rec, nil
	})
	res := runBench(t, addr, bench.Config{Scenario: bench.ScenarioP2P, QoS: 1, Publishers: 4, Count: 20,
		Sources: mustSources(t, "127.0.0.1-127.0.0.4")})
	checkFigures(t, res)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := 1; i <= 4; i++ {
		if n := rec.remotes[fmt.Sprintf("127.0.0.%d", i)]; n != 2 {
			t.Errorf("%d connections from 127.0.0.%d, want 2 (remotes %v)", n, i, rec.remotes)
		}
	}
}
