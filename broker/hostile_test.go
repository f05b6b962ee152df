package broker_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// These tests play hostile or broken clients against a live broker. Each
// one checks that the broker stays up, that a well-behaved client beside
// them is unaffected (roundTrip), and that what the broker holds for them
// stays bounded.

// roundTrip checks that a fresh client can still publish to itself through
// the broker at QoS 1.
func roundTrip(t *testing.T, addr string) {
	t.Helper()
	id := fmt.Sprintf("bystander-%d", time.Now().UnixNano())
	c, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: id, CleanStart: true})
	defer c.Close()
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: id, QoS: 1}}})
	c.Expect(packet.TypeSuback)
	c.Send(&packet.Publish{Topic: id, QoS: 1, PacketID: 2, Payload: []byte("still here")})
	for _, p := range readPackets(t, c, 2) {
		if m, ok := p.(*packet.Publish); ok && string(m.Payload) != "still here" {
			t.Fatalf("bystander got %q", m.Payload)
		}
	}
}

// rawConnect opens a connection and sends a valid 3.1.1 CONNECT, returning
// it once the CONNACK is read.
func rawConnect(t *testing.T, addr, id string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	con, err := (&packet.Connect{Version: packet.V311, ClientID: id, CleanStart: true}).Append(nil, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(con); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(nc, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK % x, %v", ack, err)
	}
	return nc
}

// expectEOF fails unless the broker closes nc within d, whatever it sends
// before.
func expectEOF(t *testing.T, nc net.Conn, d time.Duration) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(d))
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Fatalf("connection not closed within %s: %v", d, err)
	}
}

// TestHostileBytes sends broken packets after a valid CONNECT: each closes
// only its own connection [MQTT-4.13.1-1].
func TestHostileBytes(t *testing.T) {
	b := testbroker.Start(t, broker.Options{ConnectTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	cases := []struct {
		name string
		raw  []byte
	}{
		{"reserved flags on SUBSCRIBE", []byte{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}},
		{"PUBLISH with QoS 3", []byte{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}},
		{"remaining length of five bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"non-minimal remaining length", []byte{0xc0, 0x80, 0x00}},
		{"topic length beyond the packet", []byte{0x30, 0x04, 0x00, 0x10, 'a', 'b'}},
		{"topic with invalid UTF-8", []byte{0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 'x'}},
		{"topic with U+0000", []byte{0x30, 0x05, 0x00, 0x02, 'a', 0x00, 'x'}},
		{"topic with a surrogate", []byte{0x30, 0x06, 0x00, 0x03, 0xed, 0xa0, 0x80, 'x'}},
		{"SUBSCRIBE without filters", []byte{0x82, 0x02, 0x00, 0x01}},
		{"PINGREQ with a body", []byte{0xc0, 0x01, 0x00}},
		{"packet type 0", []byte{0x00, 0x00}},
		{"a second CONNECT", []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00}},
		{"PUBREL with flags 0", []byte{0x60, 0x02, 0x00, 0x01}},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			nc := rawConnect(t, b.Addr, fmt.Sprint("hostile-", i))
			if _, err := nc.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			expectEOF(t, nc, 2*time.Second)
		})
	}
	t.Run("truncated packet then silence", func(t *testing.T) {
		// A PUBLISH that announces 100 bytes and sends 10 holds only its
		// own connection, until the keep-alive runs out.
		nc := rawConnect(t, b.Addr, "truncated")
		nc.Write([]byte{0x30, 100, 0x00, 0x01, 'a', 1, 2, 3, 4, 5, 6, 7})
		roundTrip(t, b.Addr)
	})
	roundTrip(t, b.Addr)
}

// TestDeepTopics: topics of tens of thousands of levels (the most a 65535
// byte topic can have) are refused by MaxTopicLevels before they reach
// the index; with the limit off, the index takes them and still works.
func TestDeepTopics(t *testing.T) {
	deepFilter := strings.Repeat("+/", 32766) + "#"
	deepName := strings.Repeat("/", 65535)
	for _, limit := range []int{0, -1} {
		t.Run(fmt.Sprint("MaxTopicLevels=", limit), func(t *testing.T) {
			b := testbroker.Start(t, broker.Options{MaxTopicLevels: limit})
			c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "deep", CleanStart: true})
			c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: deepFilter, QoS: 0}}})
			rc := c.Expect(packet.TypeSuback).(*packet.Suback).ReasonCodes
			c.Send(&packet.Publish{Topic: deepName, Payload: []byte("deep")})
			if limit == 0 {
				if !rc[0].IsError() {
					t.Fatalf("a filter of 32767 levels granted %v under the default limit", rc[0])
				}
				c.ExpectNothing(200 * time.Millisecond)
			} else {
				if rc[0].IsError() {
					t.Fatalf("SUBACK %v with no level limit", rc[0])
				}
				if p := c.Expect(packet.TypePublish).(*packet.Publish); len(p.Topic) != len(deepName) {
					t.Fatalf("delivered a topic of %d bytes", len(p.Topic))
				}
			}
			roundTrip(t, b.Addr)
		})
	}
}

// TestConnectFlood opens connections that never send CONNECT and
// connections that connect and vanish, from several goroutines at once:
// the silent ones are closed after ConnectTimeout, the broker ends with no
// connection left, and a bystander is served throughout.
func TestConnectFlood(t *testing.T) {
	b := testbroker.Start(t, broker.Options{ConnectTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	con, _ := (&packet.Connect{Version: packet.V311, ClientID: "", CleanStart: true}).Append(nil, packet.V311)
	const workers, each = 8, 100
	var wg sync.WaitGroup
	var silent sync.Map
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				nc, err := net.Dial("tcp", b.Addr)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				if (w+i)%2 == 0 {
					silent.Store(nc, true) // says nothing: slowloris
					continue
				}
				nc.Write(con)
				nc.Close()
			}
		})
	}
	roundTrip(t, b.Addr)
	wg.Wait()
	roundTrip(t, b.Addr)
	testbroker.Eventually(t, 10*time.Second, func() error {
		if n := b.Stats().ConnectionsCurrent; n != 0 {
			return fmt.Errorf("%d connections still open", n)
		}
		return nil
	})
	silent.Range(func(k, _ any) bool {
		k.(net.Conn).Close()
		return true
	})
	if n := b.Stats().Dropped["connect_timeout"]; n != workers*each/2 {
		t.Fatalf("connect_timeout drops = %d, want %d", n, workers*each/2)
	}
}

// TestClientThatNeverReads subscribes and then never reads: the QoS 0
// messages for it beyond MaxOutputBytes are dropped and counted, the
// publisher and another subscriber are not held back, and the broker's
// memory stays bounded.
func TestClientThatNeverReads(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxOutputBytes: 64 << 10, Logger: slog.New(slog.DiscardHandler)})
	stuck := rawConnect(t, b.Addr, "stuck")
	sub, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "flood", QoS: 0}}}).Append(nil, packet.V311)
	stuck.Write(sub) // and never read again

	good, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "good", CleanStart: true})
	good.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "flood", QoS: 0}}})
	good.Expect(packet.TypeSuback)
	testbroker.Eventually(t, 2*time.Second, func() error {
		if n := b.Stats().Subscriptions; n != 2 {
			return fmt.Errorf("%d subscriptions", n)
		}
		return nil
	})

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n, size, batch = 20000, 1024, 32
	payload := bytes.Repeat([]byte{'x'}, size)
	pubConn := rawConnect(t, b.Addr, "flooder")
	// The publisher sends in batches that the good subscriber reads before
	// the next, so that only the stuck client falls behind.
	var buf []byte
	for sent := 0; sent < n; sent += batch {
		buf = buf[:0]
		for range batch {
			buf, _ = (&packet.Publish{Topic: "flood", Payload: payload}).Append(buf, packet.V311)
		}
		pubConn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := pubConn.Write(buf); err != nil {
			t.Fatalf("publisher held back after %d messages: %v", sent, err)
		}
		for i := range batch {
			p, err := good.Read(10 * time.Second)
			if err != nil {
				t.Fatalf("good subscriber: message %d: %v", sent+i, err)
			}
			if m, ok := p.(*packet.Publish); !ok || len(m.Payload) != size {
				t.Fatalf("good subscriber got %T", p)
			}
		}
	}
	if d := b.Stats().Dropped["output_full"]; d == 0 {
		t.Fatal("no output_full drops for a client that never reads")
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// 20 MB went through; what stays is the stuck client's bounded output.
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 16<<20 {
		t.Fatalf("heap grew by %d bytes for a client that never reads", grew)
	}
	roundTrip(t, b.Addr)
}
