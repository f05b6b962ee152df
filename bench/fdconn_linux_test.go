package bench

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// tcpPair returns a detached client connection and the server's end of it, both closed when the test ends.
func tcpPair(t *testing.T) (*fdConn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f := detach(nc)
	if f == nil {
		nc.Close()
		t.Fatal("detach: nil for a TCP connection")
	}
	t.Cleanup(func() { f.Close() })
	if _, err := nc.Write([]byte("x")); err == nil {
		t.Error("the detached net.Conn still writes")
	}
	return f, srv
}

func TestFdConnReadWrite(t *testing.T) {
	f, srv := tcpPair(t)
	if _, err := f.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	if n, err := f.readNow(buf); n != 0 || err != nil {
		t.Errorf("readNow on an empty socket: %d, %v; want 0, nil", n, err)
	}
	srv.Write([]byte("pong"))
	if _, err := io.ReadFull(f, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read %q, %v", buf, err)
	}
	srv.Close()
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("read after the peer closed: %d, %v; want io.EOF", n, err)
	}
}

func TestFdConnReadDeadline(t *testing.T) {
	f, _ := tcpPair(t)
	f.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err %v, want os.ErrDeadlineExceeded", err)
	}
}

// TestFdConnCloseWakesWaits closes a connection while a read waits on it and an event loop would hold it: the
// read returns, and the socket is closed once the last reference goes.
func TestFdConnCloseWakesWaits(t *testing.T) {
	f, _ := tcpPair(t)
	if !f.acquire() {
		t.Fatal("acquire failed on an open connection")
	}
	read := make(chan error, 1)
	go func() {
		_, err := f.Read(make([]byte, 1))
		read <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the read wait; it ends the same way if it has not started
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-read:
		if err == nil {
			t.Error("the read returned no error after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the read")
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v, want net.ErrClosed", err)
	}
	if err := f.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
	f.mu.Lock()
	open := f.fd >= 0
	f.mu.Unlock()
	if !open {
		t.Fatal("the socket was closed while a reference was held")
	}
	f.release()
	f.mu.Lock()
	open = f.fd >= 0
	f.mu.Unlock()
	if open {
		t.Error("the socket is still open after the last reference went")
	}
}

// TestFdConnWholeWrites has two writers send more than the socket buffers hold while the peer reads slowly: every
// write waits for room and no two interleave.
func TestFdConnWholeWrites(t *testing.T) {
	f, srv := tcpPair(t)
	const (
		chunk  = 256 << 10
		chunks = 16
	)
	var wg sync.WaitGroup
	for _, id := range []byte{'a', 'b'} {
		wg.Go(func() {
			b := bytes.Repeat([]byte{id}, chunk)
			for range chunks {
				if n, err := f.Write(b); n != chunk || err != nil {
					t.Errorf("write: %d, %v", n, err)
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // the writers fill the buffers and wait
	got := make([]byte, chunk)
	counts := map[byte]int{}
	for range 2 * chunks {
		if _, err := io.ReadFull(srv, got); err != nil {
			t.Fatalf("read: %v", err)
		}
		if bytes.Count(got, got[:1]) != chunk {
			t.Fatalf("a %d-byte run mixes writes: starts %q, holds %d of it", chunk, got[0], bytes.Count(got, got[:1]))
		}
		counts[got[0]]++
	}
	wg.Wait()
	if counts['a'] != chunks || counts['b'] != chunks {
		t.Errorf("chunks %v, want %d of each", counts, chunks)
	}
}
