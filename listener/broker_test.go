package listener_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/listener"
)

// MQTT 3.1.1 packets used below.
var (
	// connect311 is CONNECT: protocol MQTT level 4, clean session, keep-alive
	// 60 s, empty client id.
	connect311  = []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00}
	connackOK   = []byte{0x20, 0x02, 0x00, 0x00}
	pingreq     = []byte{0xc0, 0x00}
	pingresp    = []byte{0xd0, 0x00}
	disconnect  = []byte{0xe0, 0x00}
	subackQoS0  = []byte{0x90, 0x03, 0x00, 0x01, 0x00}
	testPayload = "hello"
)

// subscribe returns SUBSCRIBE with packet id 1 for topic at QoS 0.
func subscribe(topic string) []byte {
	b := []byte{0x82, byte(2 + 2 + len(topic) + 1), 0x00, 0x01, 0x00, byte(len(topic))}
	return append(append(b, topic...), 0x00)
}

// publish returns a QoS 0 PUBLISH (short packets only).
func publish(topic, payload string) []byte {
	b := []byte{0x30, byte(2 + len(topic) + len(payload)), 0x00, byte(len(topic))}
	return append(append(b, topic...), payload...)
}

// readPacket reads one MQTT packet (fixed header included) from r.
func readPacket(r io.Reader) ([]byte, error) {
	p := make([]byte, 1, 16)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	n, shift := 0, 0
	for {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		p = append(p, b[0])
		n |= int(b[0]&0x7f) << shift
		if b[0]&0x80 == 0 {
			break
		}
		if shift += 7; shift > 21 {
			return nil, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(p, body...), nil
}

func expectPacket(t *testing.T, r io.Reader, want []byte) {
	t.Helper()
	got, err := readPacket(r)
	if err != nil {
		t.Fatalf("read packet: %v (want % x)", err, want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("packet % x, want % x", got, want)
	}
}

// wsStream reads a client WebSocket's binary messages as one stream.
type wsStream struct {
	c *websocket.Conn
	r io.Reader
}

func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			typ, r, err := s.c.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errors.New("text message from the broker")
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if err == io.EOF {
			s.r, err = nil, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// startBroker serves ls with a new broker until the test ends.
func startBroker(t *testing.T, ls ...net.Listener) *broker.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := broker.New(broker.Options{Logger: log})
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() { srv.Serve(l) })
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Shutdown: %v", err)
		}
		wg.Wait()
	})
	return srv
}

// wsClient connects to a broker's WebSocket listener and sends CONNECT,
// split over two messages.
func wsClient(t *testing.T, w *listener.WebSocket) (*websocket.Conn, *wsStream) {
	t.Helper()
	c := mustDialWS(t, wsURL(w, "ws", "/mqtt"), nil)
	c.SetReadDeadline(time.Now().Add(testTimeout))
	c.SetWriteDeadline(time.Now().Add(testTimeout))
	for _, part := range [][]byte{connect311[:5], connect311[5:]} {
		if err := c.WriteMessage(websocket.BinaryMessage, part); err != nil {
			t.Fatal(err)
		}
	}
	s := &wsStream{c: c}
	expectPacket(t, s, connackOK)
	return c, s
}

func TestBrokerOverWebSocket(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	startBroker(t, w)
	c, s := wsClient(t, w)

	send := func(b []byte) {
		t.Helper()
		if err := c.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	send(pingreq)
	expectPacket(t, s, pingresp)
	// SUBSCRIBE and a PUBLISH in one message.
	send(append(subscribe("a/b"), publish("a/b", testPayload)...))
	expectPacket(t, s, subackQoS0)
	expectPacket(t, s, publish("a/b", testPayload))
	send(disconnect)
	if _, err := readPacket(s); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after DISCONNECT: %v, want close 1000", err)
	}
}

func TestBrokerOverTLS(t *testing.T) {
	p := newPKI(t)
	l := newTLS(t, listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile,
		ClientCAFile: p.ca.File, ClientAuth: "require"})
	startBroker(t, l)
	dial := func(cert *issued) (*tls.Conn, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", l.Addr().String(), p.clientConfig(cert))
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(testTimeout))
		if _, err := c.Write(connect311); err != nil {
			return nil, err
		}
		return c, nil
	}

	c, err := dial(p.client)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	expectPacket(t, c, connackOK)
	c.Write(pingreq)
	expectPacket(t, c, pingresp)

	for _, cert := range []*issued{nil, p.foreign} {
		c, err := dial(cert)
		if err != nil {
			continue
		}
		if b, err := readPacket(c); err == nil {
			t.Fatalf("client certificate %v: broker answered % x, want a failed handshake", cert != nil, b)
		}
	}
}

func TestBrokerMosquittoTLS(t *testing.T) {
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("mosquitto_pub not installed (apt-get install mosquitto-clients)")
		}
		t.Fatal("mosquitto_pub not installed: make test installs mosquitto-clients")
	}
	p := newPKI(t)
	tl := newTLS(t, listener.TLSOptions{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile,
		ClientCAFile: p.ca.File, ClientAuth: "require"})
	w := startWS(t, listener.WebSocketOptions{})
	startBroker(t, tl, w)

	// The subscriber speaks WebSocket, the publisher TLS.
	c, s := wsClient(t, w)
	if err := c.WriteMessage(websocket.BinaryMessage, subscribe("midge/tls")); err != nil {
		t.Fatal(err)
	}
	expectPacket(t, s, subackQoS0)

	_, port, _ := net.SplitHostPort(tl.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := []string{"-h", "127.0.0.1", "-p", port, "--cafile", p.ca.File,
		"--cert", p.client.CertFile, "--key", p.client.KeyFile, "-t", "midge/tls", "-m", testPayload}
	if out, err := exec.CommandContext(ctx, pub, args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	c.SetReadDeadline(time.Now().Add(testTimeout))
	expectPacket(t, s, publish("midge/tls", testPayload))

	// Without a client certificate the publisher is refused.
	args = []string{"-h", "127.0.0.1", "-p", port, "--cafile", p.ca.File, "-t", "midge/tls", "-m", "nope"}
	if out, err := exec.CommandContext(ctx, pub, args...).CombinedOutput(); err == nil {
		t.Fatalf("mosquitto_pub without a client certificate succeeded:\n%s", out)
	}
}
