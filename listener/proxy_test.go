package listener_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/midgemq/midge/listener"
)

func proxyListener(t *testing.T) *listener.Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := listener.NewProxy(l, nil)
	t.Cleanup(func() { p.Close() })
	return p
}

func v2Header(cmd, family byte, addrs []byte) []byte {
	h := append([]byte("\r\n\r\n\x00\r\nQUIT\n"), 0x20|cmd, family, 0, 0)
	binary.BigEndian.PutUint16(h[14:], uint16(len(addrs)))
	return append(h, addrs...)
}

// TestProxyProtocol: the address in a PROXY header (v1 or v2) becomes the
// connection's RemoteAddr, and the bytes after the header are the stream.
func TestProxyProtocol(t *testing.T) {
	v4 := []byte{203, 0, 113, 7, 10, 0, 0, 1, 0x30, 0x39, 0x07, 0x5b} // 203.0.113.7:12345 -> 10.0.0.1:1883
	v6 := make([]byte, 36)
	copy(v6, net.ParseIP("2001:db8::7"))
	copy(v6[16:], net.ParseIP("2001:db8::1"))
	binary.BigEndian.PutUint16(v6[32:], 4242)
	tests := []struct {
		name, want string
		header     []byte
	}{
		{"v1 tcp4", "198.51.100.9:5555", []byte("PROXY TCP4 198.51.100.9 10.0.0.1 5555 1883\r\n")},
		{"v1 tcp6", "[2001:db8::9]:6666", []byte("PROXY TCP6 2001:db8::9 2001:db8::1 6666 1883\r\n")},
		{"v1 unknown", "", []byte("PROXY UNKNOWN\r\n")},
		{"v2 ipv4", "203.0.113.7:12345", v2Header(1, 0x11, v4)},
		{"v2 ipv6", "[2001:db8::7]:4242", v2Header(1, 0x21, v6)},
		{"v2 local", "", v2Header(0, 0x00, nil)},
	}
	p := proxyListener(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", p.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(append(append([]byte(nil), tt.header...), "MQTT"...))
			sc, err := p.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			want := tt.want
			if want == "" {
				want = c.LocalAddr().String() // LOCAL and UNKNOWN keep the real peer
			}
			if got := sc.RemoteAddr().String(); got != want {
				t.Fatalf("RemoteAddr %s, want %s", got, want)
			}
			sc.SetReadDeadline(time.Now().Add(testTimeout))
			buf := make([]byte, 4)
			if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "MQTT" {
				t.Fatalf("stream after the header: %q, %v", buf, err)
			}
		})
	}
}

// TestProxyBadHeader: a connection without a valid header is closed, and a
// client that sends nothing holds up no other connection.
func TestProxyBadHeader(t *testing.T) {
	p := proxyListener(t)
	silent, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, bad := range []string{"GET / HTTP/1.1\r\n\r\n", "PROXY TCP4 1.2.3.4\r\n", "PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n"} {
		c, err := net.Dial("tcp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(bad))
		c.SetReadDeadline(time.Now().Add(testTimeout))
		var ne net.Error
		if _, err := c.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("%q: connection not closed: %v", bad, err)
		}
		c.Close()
	}
	good, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	good.Write([]byte("PROXY TCP4 198.51.100.1 10.0.0.1 1 2\r\n"))
	done := make(chan error, 1)
	go func() {
		sc, err := p.Accept()
		if err == nil {
			sc.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("a silent client held up the next connection")
	}
}
