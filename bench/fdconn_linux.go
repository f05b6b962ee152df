package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdConn is a TCP connection taken out of the runtime's netpoller, so that an event loop can read it: a
// non-blocking socket that only this value reads and writes. Writes wait for room with poll(2) on their own
// thread; whole writes never interleave, as with a net.Conn.
//
// The socket stays open while a reference is held: Close shuts it down at once, which wakes every wait and makes
// the socket readable (end of stream) for an event loop, and closes it when the last reference goes.
type fdConn struct {
	// mu guards fd, refs and closed.
	mu     sync.Mutex
	fd     int
	refs   int
	closed bool

	// wmu makes each Write whole.
	wmu sync.Mutex
	// Deadlines in Unix nanoseconds, 0 for none.
	rdeadline, wdeadline atomic.Int64

	local, remote net.Addr
}

// detach takes nc's socket out of the runtime's netpoller and returns it as an fdConn, closing nc. It returns
// nil, and leaves nc as it was, when nc is not a TCP connection or its socket cannot be taken.
func detach(nc net.Conn) *fdConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) {
		// The copy shares the open file, and so its O_NONBLOCK (the net package makes every socket
		// non-blocking); closing nc then takes only the runtime's registration and the original descriptor away.
		fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	})
	if cerr != nil || err != nil {
		return nil
	}
	f := &fdConn{fd: fd, local: tc.LocalAddr(), remote: tc.RemoteAddr()}
	tc.Close()
	return f
}

// acquire takes a reference to the socket, or reports false once the connection is closed.
func (f *fdConn) acquire() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.refs++
	return true
}

// release gives a reference back, closing the socket when it was the last of a closed connection.
func (f *fdConn) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs--
	if f.closed && f.refs == 0 {
		f.closeFDLocked()
	}
}

// closeFDLocked closes the socket. The caller holds mu, the connection is closed and no reference is held.
func (f *fdConn) closeFDLocked() error {
	err := syscall.Close(f.fd)
	f.fd = -1
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// Close shuts the connection down and closes its socket once no reference is held.
func (f *fdConn) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return net.ErrClosed
	}
	f.closed = true
	if f.refs == 0 {
		return f.closeFDLocked()
	}
	// A shut-down socket wakes its waits and reads as ended; its holders close it.
	if err := syscall.Shutdown(f.fd, syscall.SHUT_RDWR); err != nil && !errors.Is(err, syscall.ENOTCONN) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// The socket's reads and writes are raw system calls: they never block (the socket is non-blocking), and the
// scheduler's system-call state would let its monitor hand the P to another thread during one that runs long,
// as reads and writes on loopback do (they run the other side's TCP work too), with thread wake-ups both ways.

// sysRead is read(2) on fd without the scheduler's system-call state.
func sysRead(fd int, b []byte) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), errno
}

// sysWrite is write(2) on fd without the scheduler's system-call state.
func sysWrite(fd int, b []byte) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), errno
}

// readNow reads what the socket holds without waiting: (0, nil) when it holds nothing, io.EOF at the end of the
// stream. The caller holds a reference.
func (f *fdConn) readNow(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, errno := sysRead(f.fd, b)
		switch errno {
		case 0:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, nil
		}
		return 0, fmt.Errorf("read: %w", errno)
	}
}

// Read reads into b, waiting for data until the read deadline.
func (f *fdConn) Read(b []byte) (int, error) {
	if !f.acquire() {
		return 0, net.ErrClosed
	}
	defer f.release()
	for {
		n, err := f.readNow(b)
		if n > 0 || err != nil || len(b) == 0 {
			return n, err
		}
		if err := f.wait(unix.POLLIN, &f.rdeadline); err != nil {
			return 0, err
		}
	}
}

// Write writes all of b, waiting for room until the write deadline.
func (f *fdConn) Write(b []byte) (int, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if !f.acquire() {
		return 0, net.ErrClosed
	}
	defer f.release()
	done := 0
	for done < len(b) {
		n, errno := sysWrite(f.fd, b[done:])
		switch errno {
		case 0:
			done += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			if err := f.wait(unix.POLLOUT, &f.wdeadline); err != nil {
				return done, err
			}
		default:
			return done, fmt.Errorf("write: %w", errno)
		}
	}
	return done, nil
}

// waitSlice bounds each poll(2) of a wait, so that a deadline set during the wait takes effect within it.
const waitSlice = 100 * time.Millisecond

// wait waits with poll(2) until the socket is ready for events, shut down or failed, or the deadline passes.
func (f *fdConn) wait(events int16, deadline *atomic.Int64) error {
	for {
		left := waitSlice
		if d := deadline.Load(); d != 0 {
			if left = min(left, time.Until(time.Unix(0, d))); left <= 0 {
				return os.ErrDeadlineExceeded
			}
		}
		timeout := int((left + time.Millisecond - 1) / time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(f.fd), Events: events}}
		n, err := unix.Poll(fds, timeout)
		if err == syscall.EINTR || (err == nil && n == 0) {
			continue // interrupted, or the slice is over: the deadline check above decides
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		return nil
	}
}

// LocalAddr returns the local address.
func (f *fdConn) LocalAddr() net.Addr { return f.local }

// RemoteAddr returns the broker's address.
func (f *fdConn) RemoteAddr() net.Addr { return f.remote }

// SetDeadline sets both deadlines.
func (f *fdConn) SetDeadline(t time.Time) error {
	f.SetReadDeadline(t)
	return f.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; the zero time means none.
func (f *fdConn) SetReadDeadline(t time.Time) error {
	f.rdeadline.Store(unixNano(t))
	return nil
}

// SetWriteDeadline sets the write deadline; the zero time means none.
func (f *fdConn) SetWriteDeadline(t time.Time) error {
	f.wdeadline.Store(unixNano(t))
	return nil
}

// unixNano returns t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
