package listener

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// proxyHeaderTimeout bounds how long a connection may take to send its
// PROXY protocol header.
const proxyHeaderTimeout = 5 * time.Second

// maxPendingHeaders bounds the connections whose PROXY header is still
// being read; more are closed at once, so a flood of silent connections
// costs at most this many goroutines.
const maxPendingHeaders = 1024

// proxyV2Signature starts a PROXY protocol version 2 header.
var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// ErrProxyHeader is why a connection without a valid PROXY protocol header
// is closed.
var ErrProxyHeader = errors.New("listener: invalid PROXY protocol header")

// Proxy is a net.Listener behind a load balancer that speaks the PROXY
// protocol (version 1 or 2): each connection starts with a header giving
// the client's real address, which its RemoteAddr then returns. A
// connection without a valid header within 5 seconds is closed. Headers
// are read off the accepting goroutine, so a slow client holds up no one.
type Proxy struct {
	inner   net.Listener
	log     *slog.Logger
	ready   chan net.Conn
	pending chan struct{} // one token per header being read
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// NewProxy returns a Proxy reading PROXY protocol headers on the
// connections of inner.
func NewProxy(inner net.Listener, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.Default()
	}
	p := &Proxy{inner: inner, log: log, ready: make(chan net.Conn, 128),
		pending: make(chan struct{}, maxPendingHeaders), done: make(chan struct{})}
	p.wg.Add(1)
	go p.acceptLoop()
	return p
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.inner.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			p.log.Error("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case p.pending <- struct{}{}:
		default:
			p.log.Warn("too many connections still sending their PROXY header; closed", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			pc, err := readProxyHeader(c)
			<-p.pending
			if err != nil {
				p.log.Info("connection without a valid PROXY header closed", "remote", c.RemoteAddr().String(), "err", err)
				c.Close()
				return
			}
			select {
			case p.ready <- pc:
			case <-p.done:
				pc.Close()
			}
		}()
	}
}

// Accept returns the next connection whose header has been read.
func (p *Proxy) Accept() (net.Conn, error) {
	select {
	case c := <-p.ready:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the connections not yet accepted.
func (p *Proxy) Close() error {
	var err error
	p.once.Do(func() {
		close(p.done)
		err = p.inner.Close()
		p.wg.Wait()
		for {
			select {
			case c := <-p.ready:
				c.Close()
			default:
				return
			}
		}
	})
	return err
}

// Addr returns the address of the listener underneath.
func (p *Proxy) Addr() net.Addr { return p.inner.Addr() }

// proxyConn is a connection whose RemoteAddr is the one its PROXY header
// gave, and whose reads start after the header.
type proxyConn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

func (c *proxyConn) Read(b []byte) (int, error) { return c.r.Read(b) }
func (c *proxyConn) RemoteAddr() net.Addr       { return c.remote }

// NetConn returns the connection underneath.
func (c *proxyConn) NetConn() net.Conn { return c.Conn }

// readProxyHeader reads the PROXY header of c. A LOCAL (v2) or UNKNOWN
// (v1) header keeps the connection's own address, as the protocol says.
func readProxyHeader(c net.Conn) (net.Conn, error) {
	c.SetReadDeadline(time.Now().Add(proxyHeaderTimeout))
	defer c.SetReadDeadline(time.Time{})
	r := bufio.NewReaderSize(c, 256)
	start, err := r.Peek(len(proxyV2Signature))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	pc := &proxyConn{Conn: c, r: r, remote: c.RemoteAddr()}
	if bytes.Equal(start, proxyV2Signature) {
		addr, err := readProxyV2(r)
		if err != nil {
			return nil, err
		}
		if addr != nil {
			pc.remote = addr
		}
		return pc, nil
	}
	addr, err := readProxyV1(r)
	if err != nil {
		return nil, err
	}
	if addr != nil {
		pc.remote = addr
	}
	return pc, nil
}

// readProxyV1 reads "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n", at
// most 107 bytes.
func readProxyV1(r *bufio.Reader) (net.Addr, error) {
	var line []byte
	for len(line) < 108 {
		b, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return nil, fmt.Errorf("%w: v1 line not ended by CRLF within 107 bytes", ErrProxyHeader)
	}
	f := strings.Split(s, " ")
	if f[0] != "PROXY" || len(f) < 2 {
		return nil, fmt.Errorf("%w: no PROXY signature", ErrProxyHeader)
	}
	if f[1] == "UNKNOWN" {
		return nil, nil
	}
	if (f[1] != "TCP4" && f[1] != "TCP6") || len(f) != 6 {
		return nil, fmt.Errorf("%w: v1 protocol %q", ErrProxyHeader, f[1])
	}
	ip := net.ParseIP(f[2])
	port, err := strconv.ParseUint(f[4], 10, 16)
	if ip == nil || err != nil || (f[1] == "TCP4") != (ip.To4() != nil) {
		return nil, fmt.Errorf("%w: v1 source %q port %q", ErrProxyHeader, f[2], f[4])
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, nil
}

// readProxyV2 reads the binary header: signature, version/command, family,
// length, addresses (TLVs after them are skipped).
func readProxyV2(r *bufio.Reader) (net.Addr, error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	if head[12]>>4 != 2 {
		return nil, fmt.Errorf("%w: v2 version %d", ErrProxyHeader, head[12]>>4)
	}
	n := int(binary.BigEndian.Uint16(head[14:16]))
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	switch head[12] & 0x0f {
	case 0: // LOCAL: the proxy's own connection (health checks)
		return nil, nil
	case 1: // PROXY
	default:
		return nil, fmt.Errorf("%w: v2 command %d", ErrProxyHeader, head[12]&0x0f)
	}
	switch head[13] {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return nil, fmt.Errorf("%w: v2 IPv4 addresses too short", ErrProxyHeader)
		}
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), body[0:4]...)), Port: int(binary.BigEndian.Uint16(body[8:10]))}, nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return nil, fmt.Errorf("%w: v2 IPv6 addresses too short", ErrProxyHeader)
		}
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), body[0:16]...)), Port: int(binary.BigEndian.Uint16(body[32:34]))}, nil
	case 0x00: // UNSPEC
		return nil, nil
	}
	return nil, fmt.Errorf("%w: v2 family %#x", ErrProxyHeader, head[13])
}
