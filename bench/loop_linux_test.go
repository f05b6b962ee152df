package bench

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLoopSeesEndAfterData: when a packet and the end of the stream are both in the socket by the time the loop
// reads it, as when a broker answers and closes at once, the one report the kernel makes must lead to the end as
// well: the read that takes the packet does not fill the buffer, and nothing is reported again after it.
func TestLoopSeesEndAfterData(t *testing.T) {
	f, srv := tcpPair(t)
	// A PINGRESP, then the end of the stream, both in the client's socket before the loop first looks at it.
	if _, err := srv.Write([]byte{0xd0, 0x00}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	fds := []unix.PollFd{{Fd: int32(f.fd), Events: unix.POLLRDHUP}}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if n, err := unix.Poll(fds, 100); err == nil && n == 1 && fds[0].Revents&unix.POLLRDHUP != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the end of the stream did not reach the client")
		}
	}

	rn := &runner{}
	c := newConn(rn, f, connSpec{id: "ended"})
	l, err := newEventLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	rn.readers.Add(1)
	if err := l.add(c); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not find the end of the stream")
	}
	if got := rn.connLost.Load(); got != 1 {
		t.Fatalf("%d connections lost, want 1", got)
	}
	if err := rn.failure(); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("failure %v, want ErrConnectionLost", err)
	}
}
