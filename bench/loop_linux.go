package bench

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// eventLoop reads many connections from one goroutine: it watches their sockets with an epoll instance of its
// own and, for each socket the kernel reports readable, reads what it holds and handles the packets. A goroutine
// per connection costs a wake-up, a switch and a read that finds nothing for every delivery; a loop takes a batch
// of ready sockets per wait, which leaves more of the machine to the broker the run measures.
//
// Like the broker's poller, the loop waits in the runtime's netpoller, which watches the epoll instance, rather
// than blocking its thread in epoll_wait. The sockets are edge-triggered: the kernel reports a socket each time
// data comes, so a read that does not fill the buffer has taken everything there was, and no read that finds
// nothing is needed. A socket still full after maxReadsPerTurn reads waits for the next turn, so that one busy
// connection does not hold up the others.
type eventLoop struct {
	epfd int
	// ep is epfd as a file of the runtime's netpoller; closing it ends run.
	ep *os.File
	rc syscall.RawConn

	// mu guards conns and lastID. A connection is known by an id that is never reused, so that a report about
	// a connection dropped in the same batch finds nothing.
	mu     sync.Mutex
	conns  map[uint64]*conn
	lastID uint64

	done chan struct{}
}

// maxReadsPerTurn bounds the reads of one connection in one turn of a loop.
const maxReadsPerTurn = 4

// loopsSupported reports whether connections can be read by event loops here.
const loopsSupported = true

// newEventLoop starts an event loop.
func newEventLoop() (*eventLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("bench: event loop: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("bench: event loop: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("bench: event loop: %w", err)
	}
	l := &eventLoop{epfd: epfd, ep: ep, rc: rc, conns: make(map[uint64]*conn), done: make(chan struct{})}
	go l.run()
	return l, nil
}

// add has the loop read c from now on. c's transport must be an fdConn, which the loop holds a reference to
// until c's reading ends.
func (l *eventLoop) add(c *conn) error {
	f := c.socket()
	if !f.acquire() {
		return fmt.Errorf("%w: closed before reading", ErrConnectionLost)
	}
	l.mu.Lock()
	l.lastID++
	id := l.lastID
	// Set before the socket is watched: the loop may read c as soon as it is.
	c.loopID = id
	l.conns[id] = c
	l.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, f.fd, &ev); err != nil {
		l.mu.Lock()
		delete(l.conns, id)
		l.mu.Unlock()
		f.release()
		return fmt.Errorf("bench: event loop: epoll_ctl: %w", err)
	}
	return nil
}

// drop stops reading c and gives back the loop's reference to its socket. Only the loop's goroutine calls it.
// The socket stays in the epoll instance until it closes: edge-triggered, it is reported only when something
// happens to it again, and such a report finds no connection.
func (l *eventLoop) drop(c *conn) {
	l.mu.Lock()
	delete(l.conns, c.loopID)
	l.mu.Unlock()
	c.socket().release()
}

// close ends the loop once every connection it read has ended, and waits for its goroutine.
func (l *eventLoop) close() {
	l.ep.Close()
	<-l.done
}

// run waits for ready sockets and reads them until close.
func (l *eventLoop) run() {
	defer close(l.done)
	events := make([]syscall.EpollEvent, 256)
	// turn holds the connections to read in this turn, again those to read in the next one whatever the wait
	// brings. A connection is in one of them at most (conn.queued).
	turn := make([]*conn, 0, len(events))
	var again []*conn
	for {
		n, err := l.wait(events, len(again) > 0)
		if err != nil {
			return // closed
		}
		turn = append(turn, again...)
		clear(again)
		again = again[:0]
		l.mu.Lock()
		for _, ev := range events[:n] {
			c := l.conns[uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32]
			if c == nil {
				continue
			}
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				c.ended = true
			}
			if !c.queued {
				c.queued = true
				turn = append(turn, c)
			}
		}
		l.mu.Unlock()
		for _, c := range turn {
			more, err := c.pump()
			switch {
			case err != nil:
				c.queued = false
				l.drop(c)
				c.finish(err)
			case more:
				again = append(again, c)
			default:
				c.queued = false
			}
		}
		clear(turn)
		turn = turn[:0]
	}
}

// wait takes the events there are into events. Unless now is set, it waits in the netpoller for one.
func (l *eventLoop) wait(events []syscall.EpollEvent, now bool) (int, error) {
	var (
		n   int
		err error
	)
	if now {
		for {
			n, err = syscall.EpollWait(l.epfd, events, 0)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err != nil {
			return 0, fmt.Errorf("epoll_wait: %w", err)
		}
		return n, nil
	}
	// The function runs again each time the netpoller finds epfd readable, until it has taken events or failed.
	rerr := l.rc.Read(func(fd uintptr) bool {
		n, err = syscall.EpollWait(int(fd), events, 0)
		return n > 0 || (err != nil && !errors.Is(err, syscall.EINTR))
	})
	if rerr != nil {
		return 0, rerr
	}
	if err != nil {
		return 0, fmt.Errorf("epoll_wait: %w", err)
	}
	return n, nil
}

// pump reads what c's socket holds, without waiting, handles every whole packet and sends their
// acknowledgements. It reports more when the socket may hold more after maxReadsPerTurn reads, and io.EOF at the
// end of the stream. A read that does not fill the buffer took all the data there was, but the end of the stream
// may have come with it, and no report follows for that: once the kernel has reported the end (c.ended), pump
// reads on until a read finds it.
func (c *conn) pump() (more bool, err error) {
	r := (*readNow)(c.socket())
	for range maxReadsPerTurn {
		n, err := c.fill(r)
		if n == 0 || err != nil {
			// Nothing left, or the end.
			return false, errors.Join(err, c.acks.flush())
		}
		// A read that filled the buffer may have left data behind.
		full := c.rend == len(c.rbuf)
		for {
			h, body, ok, err := c.parse()
			if err != nil {
				return false, err
			}
			if !ok {
				break
			}
			if err := c.handle(h, body); err != nil {
				return false, err
			}
		}
		if !full && !c.ended {
			return false, c.acks.flush()
		}
	}
	return true, c.acks.flush()
}

// readNow is an fdConn whose Read does not wait: (0, nil) when the socket holds nothing.
type readNow fdConn

// Read reads what the socket holds. The caller holds a reference.
func (r *readNow) Read(b []byte) (int, error) { return (*fdConn)(r).readNow(b) }
