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

// rawWriter is a raw write in the making; write is its bound method,
// made once, so that RawConn.Control takes it with no allocation.
type rawWriter struct {
	buf   []byte
	n     int
	write func(fd uintptr)
}

var rawWriters = sync.Pool{New: func() any {
	w := new(rawWriter)
	w.write = w.do
	return w
}}

func (w *rawWriter) do(fd uintptr) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.buf[0])), uintptr(len(w.buf)))
	if errno == 0 {
		w.n = int(r)
	}
}

// rawWrite writes what of b the socket of rc takes at once, without
// waiting, and returns how much that was: 0 when it takes nothing or the
// write fails (the net package's write then tells why). Control holds the
// socket open for the call.
func rawWrite(rc syscall.RawConn, b []byte) int {
	if len(b) == 0 || len(b) > rawWriteMax {
		return 0
	}
	w := rawWriters.Get().(*rawWriter)
	w.buf, w.n = b, 0
	if rc.Control(w.write) != nil {
		w.n = 0
	}
	n := w.n
	w.buf = nil
	rawWriters.Put(w)
	return n
}

// inputCheck is an inputPending in the making, pooled as rawWriter is.
type inputCheck struct {
	empty bool
	peek  func(fd uintptr)
}

var inputChecks = sync.Pool{New: func() any {
	c := new(inputCheck)
	c.peek = c.do
	return c
}}

func (c *inputCheck) do(fd uintptr) {
	var b [1]byte
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	c.empty = errno == syscall.EAGAIN
}

// inputPending reports whether the socket of rc may have input waiting: it
// peeks without taking anything and without waiting, and reports false
// only when the socket has nothing to read (an end of stream or an error
// counts as input, for the reader to find).
func inputPending(rc syscall.RawConn) bool {
	c := inputChecks.Get().(*inputCheck)
	c.empty = false
	pending := rc.Control(c.peek) != nil || !c.empty
	inputChecks.Put(c)
	return pending
}
