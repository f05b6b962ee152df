package broker

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// wrapped hides a connection behind NetConn, as TLS and WebSocket do.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

// TestTCPKeepAlive turns TCP keep-alive probes on for a connection accepted
// without them, through a wrapper.
func TestTCPKeepAlive(t *testing.T) {
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	probes := func() (on, idle int) {
		raw, err := server.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		raw.Control(func(fd uintptr) {
			on, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
			idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		})
		return on, idle
	}
	if on, _ := probes(); on != 0 {
		t.Fatal("keep-alive probes on before tcpKeepAlive")
	}
	tcpKeepAlive(wrapped{wrapped{server}})
	if on, idle := probes(); on != 1 || idle != int(tcpProbe.Idle.Seconds()) {
		t.Fatalf("after tcpKeepAlive: SO_KEEPALIVE %d, TCP_KEEPIDLE %d; want 1, %v", on, idle, tcpProbe.Idle)
	}
}
