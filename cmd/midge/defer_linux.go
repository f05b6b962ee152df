package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// deferAcceptSeconds is how long the kernel holds a new connection that
// has sent nothing before handing it to the broker anyway.
const deferAcceptSeconds = 5

// deferAccept asks the kernel to hand over a new connection only once its
// first bytes have come (TCP_DEFER_ACCEPT), or after deferAcceptSeconds.
// Every client of an MQTT, TLS or WebSocket listener speaks first, so the
// broker's first read finds its CONNECT (or ClientHello, or HTTP request)
// rather than an empty socket and a wait, and a connection that never
// says anything costs the broker nothing for those seconds. A failure only
// loses that: the listener works as before.
func deferAccept(network, address string, c syscall.RawConn) error {
	c.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, deferAcceptSeconds)
	})
	return nil
}
