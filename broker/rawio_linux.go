package broker

import (
	"sync"
	"syscall"
	"unsafe"
)

// A write to a socket through the net package enters the scheduler's
// system-call state: the runtime's monitor may hand the P to another
// thread while the call runs, and the thread must win a P back after. A
// write to a non-blocking socket does not block, and on loopback it runs
// the receiving side as well, long enough to be caught: in a connection
// storm that costs the broker more than the writes themselves. rawWrite
// makes the write a raw system call instead; only the rest of a write
// the socket did not take goes through the net package, which waits for
// room.

// rawOp is a raw system call on a socket in the making; write and peek
// are its bound methods, made once, so that RawConn.Control takes them
// with no allocation.
type rawOp struct {
	buf   []byte
	n     int
	errno syscall.Errno
	one   [1]byte
	write func(fd uintptr)
	peek  func(fd uintptr)
}

var rawOps = sync.Pool{New: func() any {
	o := new(rawOp)
	o.write = o.doWrite
	o.peek = o.doPeek
	return o
}}

func (o *rawOp) doWrite(fd uintptr) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&o.buf[0])), uintptr(len(o.buf)))
	o.n, o.errno = int(r), errno
}

func (o *rawOp) doPeek(fd uintptr) {
	_, _, o.errno = syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&o.one[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
}

// rawWrite writes what of b the socket of rc takes at once, without
// waiting, and returns how much that was: 0 when it takes nothing or the
// write fails (the net package's write then tells why). Control holds the
// socket open for the call.
func rawWrite(rc syscall.RawConn, b []byte) int {
	if len(b) == 0 || len(b) > rawWriteMax {
		return 0
	}
	o := rawOps.Get().(*rawOp)
	o.buf = b
	n := 0
	if rc.Control(o.write) == nil && o.errno == 0 {
		n = o.n
	}
	o.buf = nil
	rawOps.Put(o)
	return n
}

// inputPending reports whether the socket of rc may have input waiting: it
// peeks without taking anything and without waiting, and reports false
// only when the socket has nothing to read (an end of stream or an error
// counts as input, for the reader to find).
func inputPending(rc syscall.RawConn) bool {
	o := rawOps.Get().(*rawOp)
	pending := rc.Control(o.peek) != nil || o.errno != syscall.EAGAIN
	rawOps.Put(o)
	return pending
}
