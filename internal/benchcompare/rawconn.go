package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/midgemq/midge/packet"
)

// rawConn is a minimal MQTT 3.1.1 client for loading a broker with retained messages and subscriptions, which
// package bench does not do: it writes packets through a buffer and reads packets one at a time.
type rawConn struct {
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	scratch []byte
	body    []byte
}

// rawVersion is the protocol version of every raw connection.
const rawVersion = packet.V311

// dialRaw connects to addr as client id, with a clean session and no keep alive, and reads the CONNACK.
func dialRaw(ctx context.Context, addr, id string) (*rawConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s to %s: %w", id, addr, err)
	}
	c := &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriterSize(nc, 64<<10)}
	if err := c.send(&packet.Connect{CleanStart: true, ClientID: id}); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.flush(); err != nil {
		nc.Close()
		return nil, err
	}
	p, err := c.until(packet.TypeConnack, 10*time.Second)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", id, err)
	}
	if rc := p.(*packet.Connack).ReasonCode; rc != packet.Success {
		nc.Close()
		return nil, fmt.Errorf("connect %s: refused: %s", id, rc)
	}
	return c, nil
}

// send encodes p into the write buffer.
func (c *rawConn) send(p packet.Packet) error {
	b, err := p.Append(c.scratch[:0], rawVersion)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	c.scratch = b
	if _, err := c.bw.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", p.Type(), err)
	}
	return nil
}

// flush writes what is buffered.
func (c *rawConn) flush() error {
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// until reads packets, discarding those of other types, until one of type t arrives within d, and returns it.
func (c *rawConn) until(t packet.Type, d time.Duration) (packet.Packet, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	for {
		h, err := packet.ReadFixedHeader(c.br, 0)
		if err != nil {
			return nil, fmt.Errorf("read while waiting for %s: %w", t, err)
		}
		if cap(c.body) < h.Remaining {
			c.body = make([]byte, h.Remaining)
		}
		body := c.body[:h.Remaining]
		if _, err := io.ReadFull(c.br, body); err != nil {
			return nil, fmt.Errorf("read %s: %w", h.Type, err)
		}
		if h.Type != t {
			continue
		}
		p, err := packet.Decode(h, body, rawVersion)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", h.Type, err)
		}
		return p, nil
	}
}

// ping sends PINGREQ and waits for the PINGRESP: once it comes, the broker has handled every packet sent before.
func (c *rawConn) ping(d time.Duration) error {
	if err := c.send(&packet.Pingreq{}); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_, err := c.until(packet.TypePingresp, d)
	return err
}

// close sends DISCONNECT and closes the connection.
func (c *rawConn) close() {
	if c.send(&packet.Disconnect{}) == nil {
		c.flush()
	}
	c.nc.Close()
}
