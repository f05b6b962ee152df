//go:build !linux

package broker

import "syscall"

// rawWrite writes nothing outside Linux: every write goes through the net
// package.
func rawWrite(rc syscall.RawConn, b []byte) int { return 0 }

// inputPending reports true outside Linux: nothing tells it otherwise, so
// a connection never parks before its wait (connections do not park there
// anyway).
func inputPending(rc syscall.RawConn) bool { return true }
