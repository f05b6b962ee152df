package broker

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
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

	mu     sync.Mutex
	conns  map[uint64]*conn
	lastID uint64
	closed bool
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
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("broker: poller: %w", err)
	}
	p := &poller{epfd: epfd, ep: ep, rc: rc, conns: make(map[uint64]*conn), done: make(chan struct{})}
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
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(c.pollID)),
		Pad:    int32(uint32(c.pollID >> 32)),
	}
	var err error
	// Within Control the socket cannot be closed, nor its number reused.
	cerr := c.raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if cerr != nil {
		return fmt.Errorf("broker: poller: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("broker: poller: epoll_ctl: %w", err)
	}
	return nil
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

// sweepEvery is how often the poller looks for parked connections whose
// keep-alive has run out: a keep-alive ends up to this much late.
const sweepEvery = 250 * time.Millisecond

// run waits for events and wakes their connections until close; every
// sweepEvery it also wakes the parked connections whose keep-alive has run
// out, which then close.
func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	nextSweep := time.Now().Add(sweepEvery)
	p.ep.SetReadDeadline(nextSweep)
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
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
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
		if now := time.Now(); !now.Before(nextSweep) {
			nextSweep = now.Add(sweepEvery)
			p.ep.SetReadDeadline(nextSweep)
			p.sweepLocked(now.UnixNano())
		}
		p.mu.Unlock()
	}
}

// sweepLocked wakes the parked connections whose keep-alive ended before
// now (UnixNano). The caller holds p.mu.
func (p *poller) sweepLocked(now int64) {
	for _, c := range p.conns {
		if c.parkState.Load() != parked {
			continue
		}
		if end := c.kaEnd.Load(); end != 0 && end <= now {
			c.wake()
		}
	}
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
