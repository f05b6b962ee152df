//go:build !linux

package bench

import (
	"errors"
	"net"
)

// loopsSupported reports whether connections can be read by event loops here: only on Linux.
const loopsSupported = false

// eventLoop is not available outside Linux; see loop_linux.go.
type eventLoop struct{}

// fdConn is not available outside Linux; see fdconn_linux.go.
type fdConn struct{ net.Conn }

func newEventLoop() (*eventLoop, error) {
	return nil, errors.New("bench: no event loops on this system")
}

func (l *eventLoop) add(c *conn) error { return errors.New("bench: no event loops on this system") }

func (l *eventLoop) close() {}

// detach takes no socket from the runtime outside Linux.
func detach(nc net.Conn) *fdConn { return nil }
