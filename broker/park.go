package broker

import (
	"bufio"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// A connection that has waited Options.IdleAfter for input parks (after a
// SUBSCRIBE it parks at once when its socket is empty: parkAtOnce): its
// goroutine ends and its read buffer goes back to readers, and the
// server's poller starts a goroutine again once the socket is readable or
// the keep-alive has run out, or another goroutine wakes it (stop). Most
// connections of a fleet of devices are idle most of the time; parked, a
// connection holds no goroutine stack and no read buffer.
//
// parkState moves running → parking → parked, and back to running when a
// goroutine is started for the connection again. A wake that comes while
// the connection is parking moves it to wakeAsked instead, and the parking
// goroutine carries on reading.
const (
	running int32 = iota
	parking
	parked
	wakeAsked
)

// errParked ends a connection's goroutine when the connection has parked.
var errParked = errors.New("broker: connection parked")

// readers and bigReaders hold the read buffers of parked and ended
// connections for reuse, by size.
var (
	readers    = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}
	bigReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bigReadBufferSize) }}
)

// putReader gives br back to the pool of its size.
func putReader(br *bufio.Reader) {
	br.Reset(nil)
	if br.Size() >= bigReadBufferSize {
		bigReaders.Put(br)
	} else {
		readers.Put(br)
	}
}

// newReader returns a read buffer on nc.
func newReader(nc net.Conn) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(nc)
	return br
}

// parkable reports whether nc can park: a socket whose readiness the
// poller can see, with no buffer of its own in front (as TLS and WebSocket
// have).
func parkable(nc net.Conn) (syscall.RawConn, bool) {
	switch nc := nc.(type) {
	case *net.TCPConn:
		rc, err := nc.SyscallConn()
		return rc, err == nil
	case *net.UnixConn:
		rc, err := nc.SyscallConn()
		return rc, err == nil
	}
	return nil, false
}

// waitInput waits until the read buffer holds input. It sets the read
// deadline to the keep-alive's end [MQTT-3.1.2-24] or, when sooner, to the
// time to park; when that comes first it parks the connection and returns
// errParked. resumed is set for the first wait of a goroutine started by
// wake: the keep-alive still runs from the last input (kaEnd).
func (c *conn) waitInput(resumed bool) error {
	now := time.Now()
	var kaEnd time.Time
	switch {
	case resumed:
		if n := c.kaEnd.Load(); n != 0 {
			kaEnd = time.Unix(0, n)
		}
	case c.keepAlive > 0:
		kaEnd = now.Add(c.keepAlive * 3 / 2)
		c.kaEnd.Store(kaEnd.UnixNano())
	default:
		c.kaEnd.Store(0)
	}
	if c.gatherOn {
		c.writeOwn()
	}
	if c.bigNext {
		// The buffer is empty: the big one takes its place.
		c.bigNext = false
		putReader(c.br)
		c.br = bigReaders.Get().(*bufio.Reader)
		c.br.Reset(c.nc)
	}
	if c.parkNext {
		c.parkNext = false
		if c.raw != nil && !c.noPark && !inputPending(c.raw) && c.parkAtOnce() {
			return errParked
		}
	}
	for {
		deadline := kaEnd
		var parkAt time.Time
		if c.raw != nil && !c.noPark {
			parkAt = now.Add(c.idleAfter())
			if deadline.IsZero() || parkAt.Before(deadline) {
				deadline = parkAt
			}
		}
		if parkAt.IsZero() || !deadline.Equal(parkAt) || !c.parksSoonEnough(parkAt) {
			c.setReadDeadline(deadline)
		}
		// The flag is checked after the deadline is set: stop sets the flag,
		// then the deadline, so one of the two always wins.
		if c.stopping.Load() {
			return errStopped
		}
		_, err := c.br.Peek(1)
		if err == nil {
			// A read that filled the buffer may have left more behind: the
			// next wait reads with a big one.
			c.bigNext = c.br.Buffered() == c.br.Size() && c.br.Size() < bigReadBufferSize
			return nil
		}
		if parkAt.IsZero() || !errors.Is(err, os.ErrDeadlineExceeded) || c.stopping.Load() ||
			(!kaEnd.IsZero() && !time.Now().Before(kaEnd)) {
			return err
		}
		if c.park() {
			return errParked
		}
		now = time.Now()
	}
}

// parksSoonEnough reports whether the read deadline set by the last wait
// can stay for a wait that would park at parkAt: it is at most half the
// wait sooner, and the connection parks that much sooner. A client that
// answers at once (CONNACK, then SUBSCRIBE) costs one timer, not two.
func (c *conn) parksSoonEnough(parkAt time.Time) bool {
	at := parkAt.UnixNano()
	return c.rdeadline != 0 && c.rdeadline <= at && c.rdeadline >= at-int64(c.idleAfter()/2)
}

// parkAtOnce parks the connection without waiting IdleAfter first, as
// waitInput does after a SUBSCRIBE when the socket is empty: a client that
// has just subscribed mostly waits for messages, and a park costs less
// than a wait to park (a timer, and a wake-up of the goroutine when it
// fires). A client that sends again soon after is woken by the poller and
// waits longer before its next park (adaptIdle). The read deadline set
// for the handshake goes, so that its timer does not fire for nothing.
func (c *conn) parkAtOnce() bool {
	c.setReadDeadline(time.Time{})
	return c.park()
}

// park gives up the connection's goroutine and read buffer until wake. It
// reports false when the connection must carry on instead: a wake came
// while it was parking, or the poller cannot take it.
func (c *conn) park() bool {
	c.parkState.Store(parking)
	if c.stopping.Load() {
		c.parkState.Store(running)
		return false
	}
	p := c.srv.poller()
	if p == nil {
		c.parkState.Store(running)
		c.noPark = true // never again
		return false
	}
	putReader(c.br)
	c.br = nil
	if err := p.arm(c); err != nil {
		c.logger().Warn("cannot park idle connection", "err", err)
		c.noPark = true
		c.br = newReader(c.nc)
		c.parkState.Store(running)
		return false
	}
	// Once the swap to parked is made, another goroutine may own the
	// connection: nothing of it is touched after.
	parkedNow := &c.srv.counters.parked
	parkedNow.Add(1)
	c.parkedAt = monoNow()
	if c.parkState.CompareAndSwap(parking, parked) {
		return true
	}
	parkedNow.Add(-1)
	c.br = newReader(c.nc) // woken while parking
	c.parkState.Store(running)
	return false
}

// wake starts a goroutine for a parked connection, or stops one that is
// parking from doing so. The poller calls it when the socket is readable or
// the keep-alive has run out, stop when the connection must end.
func (c *conn) wake() {
	for {
		switch c.parkState.Load() {
		case parked:
			if c.parkState.CompareAndSwap(parked, running) {
				c.srv.counters.parked.Add(-1)
				c.srv.workers.run(task{c: c, resume: true})
				return
			}
		case parking:
			if c.parkState.CompareAndSwap(parking, wakeAsked) {
				return
			}
		default:
			return
		}
	}
}

// A park and a wake cost a few system calls and goroutine switches, some
// tens of microseconds: worth it for a connection that then stays quiet for
// seconds, not for one that sends every second or so. A connection woken
// within busyGaps times Options.IdleAfter of its park waits twice as long
// before it parks next time, up to maxIdleFactor times IdleAfter; one that
// stayed parked longer is back to IdleAfter. With the default 30 ms, a
// client that sends every second parks six times and then no more (the
// wait reaches 1.92 s); one that sends every few seconds parks each time.
const (
	busyGaps      = 40
	maxIdleFactor = 64
)

// idleAfter is how long the connection waits for input before it parks.
func (c *conn) idleAfter() time.Duration {
	return c.srv.opts.IdleAfter << c.idleShift
}

// adaptIdle sets the next wait before parking from how long the last park
// lasted (nanoseconds).
func (c *conn) adaptIdle(parkedFor int64) {
	if parkedFor < int64(busyGaps*c.srv.opts.IdleAfter) {
		if 1<<(c.idleShift+1) <= maxIdleFactor {
			c.idleShift++
		}
	} else {
		c.idleShift = 0
	}
}

// resume runs a woken connection until it parks again or ends.
func (c *conn) resume() {
	c.adaptIdle(monoNow() - c.parkedAt)
	c.br = newReader(c.nc)
	err := c.loop(true)
	if err == errParked {
		return
	}
	c.end(err)
}
