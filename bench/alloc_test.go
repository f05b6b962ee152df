package bench

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/midgemq/midge/packet"
)

// discardConn is a connection that takes every write and has nothing to read: the allocation tests drive the
// packet handling directly.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// testConn returns a connection of a fanin run with cfg's QoS and version, writing nowhere.
func testConn(t *testing.T, qos byte, v packet.Version) *conn {
	t.Helper()
	cfg := Config{Scenario: ScenarioFanIn, QoS: qos, Version: v}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rn := newRunner(cfg, nil)
	return newConn(rn, discardConn{}, connSpec{id: "test"})
}

// feed hands the encoding of p to c as if it had been read.
func feed(t *testing.T, c *conn, p packet.Packet, buf *[]byte) {
	b, err := p.Append((*buf)[:0], c.v)
	if err != nil {
		t.Fatal(err)
	}
	*buf = b
	h, n, err := packet.ParseFixedHeader(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.handle(h, b[n:]); err != nil {
		t.Fatal(err)
	}
}

// TestDeliveryAllocs checks that receiving a message, acknowledging it and recording it allocates nothing once
// the run is going.
func TestDeliveryAllocs(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for qos := range byte(3) {
			t.Run(fmt.Sprintf("v%s/qos%d", v, qos), func(t *testing.T) {
				c := testConn(t, qos, v)
				c.sub = newSubscriber(qos, c.rn.hists[0])
				payload := newPayload(64)
				pub := &packet.Publish{QoS: qos, Topic: "bench/fanin/3", Payload: payload}
				rel := &packet.Ack{Kind: packet.TypePubrel}
				var buf []byte
				seq := uint32(0)
				allocs := testing.AllocsPerRun(2000, func() {
					seq++
					putHeader(payload, time.Now().UnixNano(), 3, seq)
					if qos > 0 {
						pub.PacketID = uint16(seq%65535 + 1)
					}
					c.readAt = time.Now().UnixNano()
					feed(t, c, pub, &buf)
					if qos == 2 {
						rel.PacketID = pub.PacketID
						feed(t, c, rel, &buf)
					}
				})
				if allocs != 0 {
					t.Errorf("%g allocations per delivery", allocs)
				}
				if got := c.rn.n.received.Load(); got != int64(seq) {
					t.Errorf("received %d of %d", got, seq)
				}
				if d := c.rn.n.duplicates.Load(); d != 0 {
					t.Errorf("%d duplicates", d)
				}
			})
		}
	}
}

// TestPublishAllocs checks that sending a message and handling its acknowledgements allocates nothing once the
// run is going.
func TestPublishAllocs(t *testing.T) {
	t.Run("qos0 loop", func(t *testing.T) {
		c := testConn(t, 0, packet.V311)
		c.rn.cfg.Count = 1000
		p := newPublisher(c, 1, "bench/fanin/1", &c.rn.cfg)
		allocs := testing.AllocsPerRun(5, func() {
			if err := p.publish(c.rn, time.Now(), 0); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%g allocations per 1000 messages", allocs)
		}
	})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("v%s/qos%d", v, qos), func(t *testing.T) {
				c := testConn(t, qos, v)
				p := newPublisher(c, 1, "bench/fanin/1", &c.rn.cfg)
				c.pub = p
				ack := &packet.Ack{}
				var buf []byte
				seq := uint32(0)
				allocs := testing.AllocsPerRun(2000, func() {
					seq++
					id, ok := p.win.acquire()
					if !ok {
						t.Fatal("window full")
					}
					putHeader(p.payload, time.Now().UnixNano(), p.num, seq)
					p.pkt.PacketID = id
					b, err := p.pkt.Append(p.scratch[:0], v)
					if err != nil {
						t.Fatal(err)
					}
					p.scratch = b
					if err := p.out.write(b); err != nil {
						t.Fatal(err)
					}
					*ack = packet.Ack{Kind: packet.TypePuback, PacketID: id}
					if qos == 2 {
						ack.Kind = packet.TypePubrec
						feed(t, c, ack, &buf)
						*ack = packet.Ack{Kind: packet.TypePubcomp, PacketID: id}
					}
					feed(t, c, ack, &buf)
				})
				if allocs != 0 {
					t.Errorf("%g allocations per message", allocs)
				}
				if got := c.rn.n.acked.Load(); got != int64(seq) {
					t.Errorf("acked %d of %d", got, seq)
				}
			})
		}
	}
}
