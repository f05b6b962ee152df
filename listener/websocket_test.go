package listener_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/midgemq/midge/listener"
)

func startWS(t *testing.T, o listener.WebSocketOptions) *listener.WebSocket {
	t.Helper()
	w, err := listener.NewWebSocket(listen(t), o, testLogger(t))
	if err != nil {
		t.Fatalf("NewWebSocket: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func wsURL(l net.Listener, scheme, path string) string {
	return scheme + "://" + l.Addr().String() + path
}

// dialWS opens a client WebSocket asking for protos, closed when the test
// ends.
func dialWS(t *testing.T, url string, protos []string, tlsCfg *tls.Config, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testTimeout, Subprotocols: protos, TLSClientConfig: tlsCfg}
	c, resp, err := d.Dial(url, h)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

func mustDialWS(t *testing.T, url string, tlsCfg *tls.Config) *websocket.Conn {
	t.Helper()
	c, _, err := dialWS(t, url, []string{"mqtt"}, tlsCfg, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

// accept returns the next connection of l, closed when the test ends.
func accept(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Accept: %v", r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(testTimeout):
		t.Fatal("Accept timed out")
		return nil
	}
}

// pair dials a ws listener and returns both ends.
func pair(t *testing.T, w *listener.WebSocket) (*websocket.Conn, net.Conn) {
	t.Helper()
	c := mustDialWS(t, wsURL(w, "ws", "/mqtt"), nil)
	return c, accept(t, w)
}

func TestWebSocketStream(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	h := http.Header{"X-Forwarded-For": {"10.1.2.3"}}
	c, resp, err := dialWS(t, wsURL(w, "ws", "/mqtt"), []string{"mqtt"}, nil, h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "mqtt" {
		t.Fatalf("subprotocol %q, want mqtt", got)
	}
	s := accept(t, w)
	s.SetDeadline(time.Now().Add(testTimeout))

	// The remote address is the TCP peer, not X-Forwarded-For.
	if got, want := s.RemoteAddr().String(), c.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	if got, want := s.LocalAddr().String(), c.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr %s, want %s", got, want)
	}

	// A packet split over messages, an empty message, and a message that
	// holds the end of one packet and the whole of the next.
	for _, m := range []string{"\x10\x0c\x00\x04MQ", "", "TT\x04\x02\x00\x3c\x00\x00", "\xc0\x00\xe0\x00"} {
		if err := c.WriteMessage(websocket.BinaryMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	want := []byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\xc0\x00\xe0\x00")
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatalf("server read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("server read % x, want % x", got, want)
	}

	// Each server Write is one binary message.
	c.SetReadDeadline(time.Now().Add(testTimeout))
	for _, m := range []string{"\x20\x02\x00\x00", "\xd0\x00"} {
		if n, err := s.Write([]byte(m)); err != nil || n != len(m) {
			t.Fatalf("server write: %d, %v", n, err)
		}
	}
	for _, m := range []string{"\x20\x02\x00\x00", "\xd0\x00"} {
		typ, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("client read: %v", err)
		}
		if typ != websocket.BinaryMessage || string(b) != m {
			t.Fatalf("client read type %d % x, want binary % x", typ, b, m)
		}
	}

	// Closing the client ends the server's stream with io.EOF.
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if n, err := s.Read(got); n != 0 || err != io.EOF {
		t.Fatalf("server read after client close: %d, %v; want io.EOF", n, err)
	}
}

func TestWebSocketSubprotocols(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	tests := []struct {
		name       string
		protos     []string
		wantStatus int    // for a refusal
		want       string // the subprotocol of a success
	}{
		{name: "mqtt", protos: []string{"mqtt"}, want: "mqtt"},
		{name: "mqttv3.1", protos: []string{"mqttv3.1"}, want: "mqttv3.1"},
		{name: "prefer-mqtt", protos: []string{"mqttv3.1", "mqtt"}, want: "mqtt"},
		{name: "among-others", protos: []string{"chat", "mqtt"}, want: "mqtt"},
		{name: "none", protos: nil, wantStatus: http.StatusBadRequest},
		{name: "other", protos: []string{"chat"}, wantStatus: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := dialWS(t, wsURL(w, "ws", "/mqtt"), tc.protos, nil, nil)
			if tc.wantStatus != 0 {
				if err == nil {
					t.Fatalf("upgrade succeeded with subprotocol %q", c.Subprotocol())
				}
				if resp == nil || resp.StatusCode != tc.wantStatus {
					t.Fatalf("dial: %v (response %v), want status %d", err, resp, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if c.Subprotocol() != tc.want {
				t.Fatalf("subprotocol %q, want %q", c.Subprotocol(), tc.want)
			}
			accept(t, w)
		})
	}
}

func TestWebSocketHTTPErrors(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{Path: "/ws"})
	base := "http://" + w.Addr().String()
	client := &http.Client{Timeout: testTimeout}
	tests := []struct {
		name    string
		path    string
		upgrade bool
		want    int
	}{
		{name: "default-path-not-served", path: "/mqtt", upgrade: true, want: http.StatusNotFound},
		{name: "other-path", path: "/", want: http.StatusNotFound},
		{name: "plain-get", path: "/ws", want: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var status int
			if tc.upgrade {
				_, resp, err := dialWS(t, wsURL(w, "ws", tc.path), []string{"mqtt"}, nil, nil)
				if err == nil {
					t.Fatal("upgrade succeeded")
				}
				status = resp.StatusCode
			} else {
				resp, err := client.Get(base + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status != tc.want {
				t.Fatalf("status %d, want %d", status, tc.want)
			}
		})
	}
	client.CloseIdleConnections()
}

func TestWebSocketCheckOrigin(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") == "https://good.example"
	}})
	if _, resp, err := dialWS(t, wsURL(w, "ws", "/mqtt"), []string{"mqtt"}, nil,
		http.Header{"Origin": {"https://evil.example"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad origin: %v, want 403", err)
	}
	if _, _, err := dialWS(t, wsURL(w, "ws", "/mqtt"), []string{"mqtt"}, nil,
		http.Header{"Origin": {"https://good.example"}}); err != nil {
		t.Fatalf("good origin: %v", err)
	}
	accept(t, w)
}

func TestWebSocketDeadlines(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	isDeadline := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err %v, want os.ErrDeadlineExceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err %v is not a net.Error timeout", err)
		}
	}

	t.Run("past-deadline-wakes-read", func(t *testing.T) {
		_, s := pair(t, w)
		done := make(chan error, 1)
		go func() {
			_, err := s.Read(make([]byte, 16))
			done <- err
		}()
		// Read may or may not be blocked yet; either way it must end.
		s.SetReadDeadline(time.Unix(1, 0))
		select {
		case err := <-done:
			isDeadline(t, err)
		case <-time.After(testTimeout):
			t.Fatal("Read still blocked after a past read deadline")
		}
	})
	t.Run("deadline-expires", func(t *testing.T) {
		_, s := pair(t, w)
		s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		start := time.Now()
		_, err := s.Read(make([]byte, 16))
		isDeadline(t, err)
		if d := time.Since(start); d > testTimeout {
			t.Fatalf("Read returned after %s", d)
		}
	})
	t.Run("deadline-mid-message", func(t *testing.T) {
		c, s := pair(t, w)
		c.WriteMessage(websocket.BinaryMessage, []byte("abc"))
		s.SetReadDeadline(time.Now().Add(testTimeout))
		buf := make([]byte, 2)
		if n, err := io.ReadFull(s, buf); err != nil || string(buf[:n]) != "ab" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		if n, err := s.Read(buf); err != nil || string(buf[:n]) != "c" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		s.SetDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := s.Read(buf)
		isDeadline(t, err)
	})
	t.Run("past-write-deadline", func(t *testing.T) {
		_, s := pair(t, w)
		s.SetWriteDeadline(time.Unix(1, 0))
		_, err := s.Write([]byte("x"))
		isDeadline(t, err)
	})
	t.Run("write-deadline-cleared", func(t *testing.T) {
		c, s := pair(t, w)
		s.SetWriteDeadline(time.Now().Add(testTimeout))
		s.SetWriteDeadline(time.Time{})
		if _, err := s.Write([]byte("x")); err != nil {
			t.Fatalf("Write: %v", err)
		}
		s.SetWriteDeadline(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
		if _, err := s.Write([]byte("x")); err != nil {
			t.Fatalf("Write: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(testTimeout))
		for range 2 {
			if _, b, err := c.ReadMessage(); err != nil || string(b) != "x" {
				t.Fatalf("client read %q, %v", b, err)
			}
		}
	})
}

// TestWebSocketConcurrentUse runs writers, a reader and deadline changes at
// once, as the broker does, for the race detector.
func TestWebSocketConcurrentUse(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	c, s := pair(t, w)
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				s.SetWriteDeadline(time.Now().Add(testTimeout))
				if _, err := s.Write([]byte("abc")); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range each {
			s.SetReadDeadline(time.Now().Add(testTimeout))
			s.SetWriteDeadline(time.Now().Add(testTimeout))
		}
	})
	readDone := make(chan error, 1)
	go func() {
		s.SetReadDeadline(time.Now().Add(testTimeout))
		buf := make([]byte, 3*writers*each)
		_, err := io.ReadFull(s, buf)
		readDone <- err
	}()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	for range writers * each {
		if _, b, err := c.ReadMessage(); err != nil || string(b) != "abc" {
			t.Fatalf("client read %q, %v", b, err)
		}
		if err := c.WriteMessage(websocket.BinaryMessage, []byte("xyz")); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := <-readDone; err != nil {
		t.Fatalf("server read: %v", err)
	}
}

func TestWebSocketConnClose(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	c, s := pair(t, w)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(testTimeout))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("client read after server Close: %v, want close 1000", err)
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
	if _, err := s.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

func TestWebSocketTextMessage(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	c, s := pair(t, w)
	c.WriteMessage(websocket.TextMessage, []byte("hello"))
	s.SetReadDeadline(time.Now().Add(testTimeout))
	// [MQTT-6.0.0-1] A text message closes the connection.
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, listener.ErrNotBinary) {
		t.Fatalf("Read: %v, want ErrNotBinary", err)
	}
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, listener.ErrNotBinary) {
		t.Fatalf("second Read: %v, want ErrNotBinary again", err)
	}
	c.SetReadDeadline(time.Now().Add(testTimeout))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Fatalf("client read: %v, want close 1003", err)
	}
}

func TestWebSocketReadLimit(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{ReadLimit: 8})
	c, s := pair(t, w)
	c.WriteMessage(websocket.BinaryMessage, []byte("12345678"))
	c.WriteMessage(websocket.BinaryMessage, []byte("123456789"))
	s.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 8)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatalf("read within limit: %v", err)
	}
	if _, err := s.Read(buf); err == nil || err == io.EOF {
		t.Fatalf("read over limit: %v, want an error", err)
	}
	c.SetReadDeadline(time.Now().Add(testTimeout))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("client read: %v, want close 1009", err)
	}
}

func TestWebSocketAcceptQueue(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	url := wsURL(w, "ws", "/mqtt")
	const queued = 128
	clients := make([]*websocket.Conn, 0, queued)
	for range queued {
		clients = append(clients, mustDialWS(t, url, nil))
	}
	_, resp, err := dialWS(t, url, []string{"mqtt"}, nil, nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial with a full queue: %v, want 503", err)
	}
	if got := w.Refused(); got != 1 {
		t.Fatalf("Refused() = %d, want 1", got)
	}
	accept(t, w)
	mustDialWS(t, url, nil)

	// Closing the listener closes the connections still queued.
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	last := clients[len(clients)-1]
	last.SetReadDeadline(time.Now().Add(testTimeout))
	if _, _, err := last.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("queued client read after Close: %v, want close 1000", err)
	}
	if _, err := w.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if _, _, err := dialWS(t, url, []string{"mqtt"}, nil, nil); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

func TestWebSocketAcceptUnblockedByClose(t *testing.T) {
	w, err := listener.NewWebSocket(listen(t), listener.WebSocketOptions{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.Accept()
		done <- err
	}()
	w.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept: %v, want net.ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Accept still blocked after Close")
	}
}

func TestWebSocketInnerFailure(t *testing.T) {
	inner := listen(t)
	w, err := listener.NewWebSocket(inner, listener.WebSocketOptions{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	inner.Close()
	done := make(chan error, 1)
	go func() {
		_, err := w.Accept()
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Accept succeeded on a closed inner listener")
		}
	case <-time.After(testTimeout):
		t.Fatal("Accept blocked after the inner listener failed")
	}
}

func TestWSS(t *testing.T) {
	p := newPKI(t)
	certFile, keyFile := p.dir+"/live.pem", p.dir+"/live.key"
	copyFile(t, p.server.CertFile, certFile)
	copyFile(t, p.server.KeyFile, keyFile)
	w := startWS(t, listener.WebSocketOptions{TLS: &listener.TLSOptions{CertFile: certFile, KeyFile: keyFile,
		ClientCAFile: p.ca.File, ClientAuth: "require"}})
	url := wsURL(w, "wss", "/mqtt")
	serial := func(c *websocket.Conn) int64 {
		return c.NetConn().(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}

	c := mustDialWS(t, url, p.clientConfig(p.client))
	if got := serial(c); got != 100 {
		t.Fatalf("server serial %d, want 100", got)
	}
	s := accept(t, w)
	if got := listener.CertUsername(listener.PeerCertificate(s), "san"); got != "alice.example" {
		t.Fatalf("peer SAN %q, want alice.example", got)
	}
	c.WriteMessage(websocket.BinaryMessage, []byte("\xc0\x00"))
	s.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "\xc0\x00" {
		t.Fatalf("server read % x, %v", buf, err)
	}

	if _, _, err := dialWS(t, url, []string{"mqtt"}, p.clientConfig(nil), nil); err == nil {
		t.Fatal("wss dial without a client certificate succeeded")
	}
	if _, _, err := dialWS(t, url, []string{"mqtt"}, p.clientConfig(p.foreign), nil); err == nil {
		t.Fatal("wss dial with another CA's certificate succeeded")
	}

	next := p.ca.issue(t, p.dir, "server2", certSpec{serial: 101, cn: "midge", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	copyFile(t, next.CertFile, certFile)
	copyFile(t, next.KeyFile, keyFile)
	if err := w.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	c2 := mustDialWS(t, url, p.clientConfig(p.client))
	if got := serial(c2); got != 101 {
		t.Fatalf("server serial after reload %d, want 101", got)
	}
	accept(t, w)
	writeFile(t, certFile, []byte("broken"))
	if err := w.Reload(); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("Reload of a broken file: %v, want an error naming it", err)
	}
	c3 := mustDialWS(t, url, p.clientConfig(p.client))
	if got := serial(c3); got != 101 {
		t.Fatalf("server serial after failed reload %d, want 101", got)
	}
	accept(t, w)
}

func TestWebSocketPeerCertificatePlain(t *testing.T) {
	w := startWS(t, listener.WebSocketOptions{})
	_, s := pair(t, w)
	if c := listener.PeerCertificate(s); c != nil {
		t.Fatalf("PeerCertificate of a ws connection = %v", c.Subject)
	}
	if err := w.Reload(); err != nil {
		t.Fatalf("Reload of a ws listener: %v", err)
	}
}
