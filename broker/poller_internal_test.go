//go:build linux

package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/midgemq/midge/packet"
)

// dialConnected opens a connection to addr and completes its CONNECT with
// keep-alive keepAlive seconds.
func dialConnected(t *testing.T, addr string, id string, keepAlive uint16) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	b, err := (&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: keepAlive}).Append(nil, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(nc, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK % x, %v", ack, err)
	}
	return nc
}

// TestSweepWaitsForKeepAlive: the poller does not look at parked
// connections until the earliest of their keep-alives can have run out,
// and then closes the one that has.
func TestSweepWaitsForKeepAlive(t *testing.T) {
	srv, err := New(Options{IdleAfter: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	const n = 20
	for i := range n {
		dialConnected(t, l.Addr().String(), "long-"+string(rune('a'+i)), 60)
	}
	parked := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); srv.counters.parked.Load() != want; {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections parked, want %d", srv.counters.parked.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	sweeps := func() int {
		p := srv.poller()
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.sweeps
	}
	parked(n)
	// Four sweep periods: a keep-alive of 60 s ends in 90 s at the soonest.
	time.Sleep(4 * sweepEvery)
	if got := sweeps(); got != 0 {
		t.Errorf("%d sweeps of connections whose keep-alives end in 90 s", got)
	}

	short := dialConnected(t, l.Addr().String(), "short", 1)
	parked(n + 1)
	// [MQTT-3.1.2-24] The broker closes it after one and a half keep-alive
	// periods; the sweep that finds it is the first.
	short.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := short.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on the connection whose keep-alive ran out: %v, want EOF", err)
	}
	if got := sweeps(); got != 1 {
		t.Errorf("%d sweeps until the keep-alive of 1 s ran out, want 1", got)
	}
	parked(n)
}

// TestArmAllocatesNothing: watching a socket again, as every park after the
// first does, allocates nothing; an armed socket that becomes readable is
// reported, and an error of epoll_ctl is returned.
func TestArmAllocatesNothing(t *testing.T) {
	srv := quietServer(t, Options{IdleAfter: time.Hour})
	p := srv.poller()
	if p == nil {
		t.Fatal("no poller")
	}
	sv, cl := tcpPair(t)
	c := newConn(srv, sv)
	if c.raw == nil {
		t.Fatal("the connection has no raw socket")
	}
	// Listed as accept lists it, so that it can end as any connection.
	srv.mu.Lock()
	srv.conns[c] = struct{}{}
	srv.connWG.Add(1)
	srv.mu.Unlock()
	srv.counters.connsCurrent.Add(1)
	c.parkState.Store(parked)
	if err := p.arm(c); err != nil { // EPOLL_CTL_ADD, and the id in the poller's map
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := p.arm(c); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("arm allocates %.0f times, want 0", n)
	}
	// Woken by input: the poller starts a goroutine for the connection
	// (which ends it, a PINGREQ before CONNECT being a protocol error).
	if _, err := cl.Write([]byte{0xc0, 0}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.parkState.Load() == parked && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s := c.parkState.Load(); s == parked {
		t.Fatal("the armed connection was not woken by input")
	}
	select {
	case <-c.doneChan():
	case <-time.After(5 * time.Second):
		t.Fatal("the woken connection did not end")
	}
	// A socket the poller does not know cannot be modified: the error comes back.
	c2 := newConn(srv, sv)
	c2.pollID = 1 << 40
	sv2, _ := tcpPair(t)
	c2.raw, _ = parkable(sv2)
	if err := p.arm(c2); err == nil {
		t.Error("EPOLL_CTL_MOD of a socket not in the epoll set succeeded")
	}
}
