// Package mqtttest is a raw MQTT client for tests: it sends and expects
// single packets over a real TCP connection, so tests can check the broker
// packet by packet, including what a well-behaved client library would
// never send.
package mqtttest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/midgemq/midge/packet"
)

// DefaultTimeout bounds each Expect.
const DefaultTimeout = 5 * time.Second

// Conn is a raw MQTT connection.
type Conn struct {
	t       testing.TB
	nc      net.Conn
	br      *bufio.Reader
	Version packet.Version
}

// Dial connects to addr, speaking version v, and closes the connection when
// the test ends.
func Dial(t testing.TB, addr string, v packet.Version) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, DefaultTimeout)
	if err != nil {
		t.Fatalf("mqtttest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Conn{t: t, nc: nc, br: bufio.NewReader(nc), Version: v}
}

// Connect dials addr and completes a CONNECT/CONNACK exchange with p
// (Version and, for 3.1, ProtocolName filled in from v), failing the test
// unless the CONNACK is a success.
func Connect(t testing.TB, addr string, v packet.Version, p *packet.Connect) (*Conn, *packet.Connack) {
	t.Helper()
	c := Dial(t, addr, v)
	p.Version = v
	c.Send(p)
	ack := c.Expect(packet.TypeConnack).(*packet.Connack)
	if ack.ReasonCode != packet.Success {
		t.Fatalf("mqtttest: CONNACK %s", ack.ReasonCode)
	}
	return c, ack
}

// Send writes p.
func (c *Conn) Send(p packet.Packet) {
	c.t.Helper()
	b, err := p.Append(nil, c.Version)
	if err != nil {
		c.t.Fatalf("mqtttest: encode %s: %v", p.Type(), err)
	}
	c.SendRaw(b)
}

// SendRaw writes b as it is.
func (c *Conn) SendRaw(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("mqtttest: write: %v", err)
	}
}

// Read reads the next packet within d.
func (c *Conn) Read(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	h, err := packet.ReadFixedHeader(c.br, 0)
	if err != nil {
		return nil, err
	}
	body := make([]byte, h.Remaining)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, err
	}
	return packet.Decode(h, body, c.Version)
}

// Expect reads the next packet and fails the test unless it has type want.
func (c *Conn) Expect(want packet.Type) packet.Packet {
	c.t.Helper()
	p, err := c.Read(DefaultTimeout)
	if err != nil {
		c.t.Fatalf("mqtttest: waiting for %s: %v", want, err)
	}
	if p.Type() != want {
		c.t.Fatalf("mqtttest: got %s %+v, want %s", p.Type(), p, want)
	}
	return p
}

// ExpectNothing fails the test if a packet arrives within d.
func (c *Conn) ExpectNothing(d time.Duration) {
	c.t.Helper()
	p, err := c.Read(d)
	if err == nil {
		c.t.Fatalf("mqtttest: got %s %+v, want nothing", p.Type(), p)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("mqtttest: want nothing, connection ended: %v", err)
	}
}

// ExpectClosed fails the test unless the broker closes the connection
// within d (packets before the close, such as a DISCONNECT, are skipped and
// returned).
func (c *Conn) ExpectClosed(d time.Duration) []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	deadline := time.Now().Add(d)
	for {
		p, err := c.Read(time.Until(deadline))
		if err == nil {
			got = append(got, p)
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.t.Fatalf("mqtttest: connection still open after %s", d)
		}
		return got
	}
}

// Close closes the network connection without DISCONNECT.
func (c *Conn) Close() { c.nc.Close() }

// ReadRaw reads exactly n bytes within d, without decoding them.
func (c *Conn) ReadRaw(n int, d time.Duration) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, n)
	_, err := io.ReadFull(c.br, b)
	return b, err
}
