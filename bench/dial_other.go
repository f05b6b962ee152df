//go:build !linux

package bench

import "syscall"

// bindNoPort does nothing outside Linux.
func bindNoPort(network, address string, c syscall.RawConn) error { return nil }
