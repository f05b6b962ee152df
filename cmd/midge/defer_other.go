//go:build !linux

package main

import "syscall"

// deferAccept does nothing outside Linux, which alone has TCP_DEFER_ACCEPT.
func deferAccept(network, address string, c syscall.RawConn) error { return nil }
