package broker

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// poller watches the sockets of parked connections with an epoll instance
// of its own (the runtime's stays in charge of every read and write) and
// wakes a connection when its socket is readable or closed. Each socket is
// armed once per park (EPOLLONESHOT) and known by an id that is never
// reused, so that an event that comes late finds no connection, or one that
// is not parked, and does nothing.
//
// The poller's goroutine never blocks in epoll_wait: the epoll instance is
// itself watched by the runtime's netpoller, which reports it readable when
// it holds events, and is then read without a timeout. A goroutine blocked
// in a system call keeps its thread and lets the scheduler hand its P to
// another thread, with thread wake-ups on both sides, for every batch of
// events; waiting in the netpoller costs none of that.
type poller struct {
	epfd int
	// ep is epfd as a file of the runtime's netpoller; closing it ends run.
	ep *os.File
	rc syscall.RawConn

	// due is the earliest keep-alive end (UnixNano) of the connections
	// known to the poller, math.MaxInt64 for none: the sweep waits for it.
	due atomic.Int64

	mu     sync.Mutex
	conns  map[uint64]*conn
	lastID uint64
	closed bool
	sweeps int // for tests
	done   chan struct{}
}

// errPollerClosed is returned by arm once the server has closed its poller.
var errPollerClosed = errors.New("broker: poller closed")

// pollerSupported reports whether connections can park here.
const pollerSupported = true

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("broker: poller: epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile hands it to the netpoller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("broker: poller: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	// A file the netpoller could not take has no deadlines: run would not
	// wait, and the connections stay unparked rather.
	if err := ep.SetReadDeadline(time.Time{}); err != nil {
		ep.Close()
		return nil, fmt.Errorf("broker: poller: the netpoller does not take an epoll instance: %w", err)
	}
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("broker: poller: %w", err)
	}
	p := &poller{epfd: epfd, ep: ep, rc: rc, conns: make(map[uint64]*conn), done: make(chan struct{})}
	p.due.Store(math.MaxInt64)
	go p.run()
	return p, nil
}

// arm watches c's socket until it is readable once. The first call gives
// c its id.
func (p *poller) arm(c *conn) error {
	op := syscall.EPOLL_CTL_MOD
	if c.pollID == 0 {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return errPollerClosed
		}
		p.lastID++
		c.pollID = p.lastID
		p.conns[c.pollID] = c
		p.mu.Unlock()
		op = syscall.EPOLL_CTL_ADD
	}
	o := ctlOps.Get().(*ctlOp)
	o.epfd, o.op = p.epfd, op
	o.ev = syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(c.pollID)),
		Pad:    int32(uint32(c.pollID >> 32)),
	}
	// Within Control the socket cannot be closed, nor its number reused.
	cerr := c.raw.Control(o.ctl)
	errno := o.errno
	ctlOps.Put(o)
	if cerr != nil {
		return fmt.Errorf("broker: poller: %w", cerr)
	}
	if errno != 0 {
		return fmt.Errorf("broker: poller: epoll_ctl: %w", errno)
	}
	if end := c.kaEnd.Load(); end != 0 && p.lowerDue(end) {
		p.ep.SetReadDeadline(time.Unix(0, end))
	}
	return nil
}

// lowerDue makes end the next sweep's time if it is earlier, and reports
// whether it was.
func (p *poller) lowerDue(end int64) bool {
	for {
		due := p.due.Load()
		if end >= due {
			return false
		}
		if p.due.CompareAndSwap(due, end) {
			return true
		}
	}
}

// forget drops c, which is closing. The kernel drops its socket from the
// epoll instance when the socket closes.
func (p *poller) forget(c *conn) {
	if c.pollID == 0 {
		return
	}
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
}

// sweepEvery is how often, at most, the poller looks for parked
// connections whose keep-alive has run out: a keep-alive ends up to this
// much late.
const sweepEvery = 250 * time.Millisecond

// run waits for events and wakes their connections until close. When the
// earliest keep-alive end of its connections has come (due), and no
// sooner than sweepEvery after the last sweep, it also wakes the parked
// connections whose keep-alive has run out, which then close: a broker
// whose connections are idle does not look at them more often than their
// keep-alives need.
func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	lastSweep := time.Now()
	p.setSweepDeadline(lastSweep)
	for {
		var (
			n       int
			waitErr error
		)
		// The function runs again each time the netpoller finds epfd
		// readable, until it has taken events or failed.
		err := p.rc.Read(func(fd uintptr) bool {
			n, waitErr = syscall.EpollWait(int(fd), events, 0)
			return n > 0 || (waitErr != nil && waitErr != syscall.EINTR)
		})
		if err == nil {
			err = waitErr
		}
		expired := errors.Is(err, os.ErrDeadlineExceeded)
		if err != nil && !expired {
			return // closed
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if c := p.conns[id]; c != nil {
				// wake only flips an atomic and starts a goroutine.
				c.wake()
			}
		}
		if now := time.Now(); now.UnixNano() >= p.due.Load() && now.Sub(lastSweep) >= sweepEvery {
			lastSweep = now
			p.sweepLocked(now.UnixNano())
			p.setSweepDeadline(lastSweep)
		} else if expired {
			// arm set a deadline sooner than sweepEvery allows.
			p.setSweepDeadline(lastSweep)
		}
		p.mu.Unlock()
	}
}

// setSweepDeadline sets the poller's read deadline to the next sweep: due,
// but no sooner than sweepEvery after last. It sets it again if arm lowered
// due meanwhile, so that the deadline is never later than arm wants.
func (p *poller) setSweepDeadline(last time.Time) {
	for {
		due := p.due.Load()
		at := last.Add(sweepEvery)
		if due != math.MaxInt64 && due > at.UnixNano() {
			at = time.Unix(0, due)
		} else if due == math.MaxInt64 {
			at = time.Time{} // no keep-alive to watch
		}
		p.ep.SetReadDeadline(at)
		if p.due.Load() >= due {
			return
		}
	}
}

// sweepLocked wakes the parked connections whose keep-alive ended before
// now (UnixNano), and makes the earliest end of the others the next due.
// The caller holds p.mu.
func (p *poller) sweepLocked(now int64) {
	p.sweeps++
	// arm lowers due meanwhile for the connections it adds.
	p.due.Store(math.MaxInt64)
	next := int64(math.MaxInt64)
	for _, c := range p.conns {
		end := c.kaEnd.Load()
		if end == 0 {
			continue
		}
		if end <= now && c.parkState.Load() == parked {
			c.wake()
			continue
		}
		// A connection that runs, or parks now, is counted too: its end
		// can only move later, so the sweep comes early at worst.
		next = min(next, max(end, now+1))
	}
	p.lowerDue(next)
}

// close ends the poller. Connections still parked stay parked: the server
// closes the poller after its connections have ended.
func (p *poller) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	// Closing the file wakes run; the descriptor itself is closed once run's
	// read has returned.
	p.ep.Close()
	<-p.done
}

// ctlOp is an epoll_ctl(2) call in the making; ctl is its bound method,
// made once, so that RawConn.Control takes it with no allocation (a
// closure over the event would cost three a park). The call is raw: it
// does not block, and the scheduler's system-call state would only wake
// the runtime's monitor (see rawio_linux.go).
type ctlOp struct {
	epfd, op int
	ev       syscall.EpollEvent
	errno    syscall.Errno
	ctl      func(fd uintptr)
}

var ctlOps = sync.Pool{New: func() any {
	o := new(ctlOp)
	o.ctl = o.doCtl
	return o
}}

func (o *ctlOp) doCtl(fd uintptr) {
	_, _, o.errno = syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(o.epfd), uintptr(o.op), fd,
		uintptr(unsafe.Pointer(&o.ev)), 0, 0)
}
