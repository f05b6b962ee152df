package bench

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT of linux/in.h, missing from package syscall.
const ipBindAddressNoPort = 24

// bindNoPort asks the kernel to choose the local port at connect rather than at bind, so that a source address
// is not limited to one connection per ephemeral port across every remote address.
func bindNoPort(network, address string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		// A kernel without the option still connects, with the port chosen at bind, so a failure is ignored.
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
}
