package main

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/midgemq/midge/config"
	"golang.org/x/sys/unix"
)

// TestDeferAccept: a TCP listener is handed a connection only once the
// client has sent something (TCP_DEFER_ACCEPT), and then with its bytes.
func TestDeferAccept(t *testing.T) {
	l, err := openListener(config.Listener{Type: "tcp", Address: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT) })
	if gerr != nil || v <= 0 {
		t.Fatalf("TCP_DEFER_ACCEPT = %d, %v; want it set", v, gerr)
	}

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case sc := <-accepted:
		sc.Close()
		t.Fatal("a connection that has sent nothing was accepted")
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := c.Write([]byte{0x10, 0x00}); err != nil {
		t.Fatal(err)
	}
	select {
	case sc := <-accepted:
		defer sc.Close()
		sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 2)
		if _, err := io.ReadFull(sc, b); err != nil || b[0] != 0x10 {
			t.Fatalf("read % x, %v; want the bytes sent", b, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not accepted once it had sent its first bytes")
	}
}
