package broker

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cl, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); sv.Close() })
	return sv.(*net.TCPConn), cl.(*net.TCPConn)
}

// quietServer returns a Server made with o, logging nothing, shut down
// when the test ends; it serves no listener.
func quietServer(t *testing.T, o Options) *Server {
	t.Helper()
	o.Logger = slog.New(slog.DiscardHandler)
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// TestWriteNow: a write made at once by a routing goroutine leaves what
// the socket does not take, in front of what came meanwhile, to a flush
// goroutine; the client gets every byte in order. A connection written
// within streamGap is left to the flush goroutine.
func TestWriteNow(t *testing.T) {
	srv := quietServer(t, Options{})
	sv, cl := tcpPair(t)
	c := newConn(srv, sv)
	if c.raw == nil {
		t.Skip("no raw socket here")
	}

	// Fill the socket while the client does not read.
	var filler []byte
	chunk := bytes.Repeat([]byte("0123456789"), 6000)
	for range 200 {
		n := rawWrite(c.raw, chunk)
		filler = append(filler, chunk[:n]...)
		if n < len(chunk) {
			break
		}
	}
	first := bytes.Repeat([]byte("a"), 48<<10)
	for i := range first {
		first[i] = byte('a' + i%26)
	}
	c.wmu.Lock()
	c.out = append(c.out, first...)
	buf, now := c.writeNowLocked(monoNow())
	c.wmu.Unlock()
	if !now {
		t.Fatal("a quiet connection is not written at once")
	}
	// What comes during the write waits behind it.
	later := []byte("LATER")
	c.wmu.Lock()
	c.out = append(c.out, later...)
	if _, now := c.writeNowLocked(monoNow()); now {
		t.Fatal("a second writer took the flushing role")
	}
	c.wmu.Unlock()
	c.writeNow(buf)

	// The socket is full and the client does not read: a flush goroutine
	// holds the rest, and cannot be done with it.
	c.wmu.Lock()
	flushing := c.flushing
	c.wmu.Unlock()
	if !flushing {
		t.Fatal("after a write the socket could not take whole, no flush goroutine has the rest")
	}

	want := append(append(filler, first...), later...)
	got := make([]byte, len(want))
	cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(cl, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the client got the bytes out of order")
	}
	c.flushWG.Wait()

	// Written just now: the next message is part of a stream.
	c.wmu.Lock()
	c.lastWrite = monoNow()
	c.out = append(c.out, later...)
	_, now = c.writeNowLocked(monoNow())
	c.wmu.Unlock()
	if now {
		t.Fatal("a connection written within streamGap is written at once")
	}
	c.flushWG.Wait()
	if _, err := io.ReadFull(cl, got[:len(later)]); err != nil || !bytes.Equal(got[:len(later)], later) {
		t.Fatalf("got %q, %v; want %q", got[:len(later)], err, later)
	}
}

// TestBigReadBuffer: after a read that fills the small buffer, the next
// wait for input reads with the big one, and nothing is lost in the swap.
func TestBigReadBuffer(t *testing.T) {
	srv := quietServer(t, Options{IdleAfter: -1})
	sv, cl := tcpPair(t)
	c := newConn(srv, sv)
	c.br = newReader(sv)
	defer func() { putReader(c.br) }()

	sent := make([]byte, 3*readBufferSize)
	for i := range sent {
		sent[i] = byte(i % 251)
	}
	if _, err := cl.Write(sent); err != nil {
		t.Fatal(err)
	}
	var got []byte
	take := func() {
		b, _ := c.br.Peek(c.br.Buffered())
		got = append(got, b...)
		c.br.Discard(len(b))
	}
	// The whole input is in the socket before the first read.
	time.Sleep(50 * time.Millisecond)
	if err := c.waitInput(false); err != nil {
		t.Fatal(err)
	}
	if n := c.br.Buffered(); n != readBufferSize || !c.bigNext {
		t.Fatalf("first read: %d bytes, bigNext %v; want a full small buffer and the big one next", n, c.bigNext)
	}
	take()
	if err := c.waitInput(false); err != nil {
		t.Fatal(err)
	}
	if c.br.Size() != bigReadBufferSize || c.bigNext {
		t.Fatalf("second wait reads with a %d-byte buffer, bigNext %v; want %d and false", c.br.Size(), c.bigNext, bigReadBufferSize)
	}
	take()
	for len(got) < len(sent) {
		if err := c.waitInput(false); err != nil {
			t.Fatal(err)
		}
		take()
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("the input changed across the swap")
	}
}
