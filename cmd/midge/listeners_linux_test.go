package main

import (
	"log/slog"
	"net"
	"syscall"
	"testing"

	"github.com/midgemq/midge/config"
)

// TestListenerMultipathTCP checks that a tcp listener is a plain TCP socket
// unless multipath_tcp asks for Multipath TCP, and that then a client that
// asks for it gets it.
func TestListenerMultipathTCP(t *testing.T) {
	protocol := func(l net.Listener) int {
		t.Helper()
		rc, err := l.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var proto int
		var serr error
		if err := rc.Control(func(fd uintptr) {
			proto, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
		}); err != nil {
			t.Fatal(err)
		}
		if serr != nil {
			t.Fatal(serr)
		}
		return proto
	}
	// accepted dials l as a client that asks for Multipath TCP and reports
	// whether the accepted connection uses it.
	accepted := func(l net.Listener) bool {
		t.Helper()
		var d net.Dialer
		d.SetMultipathTCP(true)
		nc, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		sc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		mp, err := sc.(*net.TCPConn).MultipathTCP()
		return err == nil && mp
	}
	logger := slog.New(slog.DiscardHandler)
	plain, err := openListener(config.Listener{Name: "mqtt", Type: "tcp", Address: "127.0.0.1:0"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if p := protocol(plain); p != syscall.IPPROTO_TCP {
		t.Errorf("default listener: protocol %d, want %d (plain TCP)", p, syscall.IPPROTO_TCP)
	}
	if accepted(plain) {
		t.Error("default listener: a client that asked for Multipath TCP got it")
	}

	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, ipprotoMPTCP)
	if err != nil {
		t.Skipf("this kernel offers no Multipath TCP: %v", err)
	}
	syscall.Close(fd)
	mp, err := openListener(config.Listener{Name: "mqtt", Type: "tcp", Address: "127.0.0.1:0", MultipathTCP: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	if p := protocol(mp); p != ipprotoMPTCP {
		t.Errorf("multipath_tcp listener: protocol %d, want %d (Multipath TCP)", p, ipprotoMPTCP)
	}
	if !accepted(mp) {
		t.Error("multipath_tcp listener: a client that asked for Multipath TCP did not get it")
	}
}

// ipprotoMPTCP is IPPROTO_MPTCP, which package syscall does not name.
const ipprotoMPTCP = 262
