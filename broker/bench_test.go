package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// BenchmarkRoute measures messages through the broker over real sockets:
// one publisher, `subs` subscribers of the topic, 64-byte payloads. The
// clock stops only after every subscriber has read every message. The
// publisher pauses while more than routeOwed messages are owed to a
// subscriber, so that QoS 0 measures what the broker sustains rather than
// what it drops when its output limit is reached.
func BenchmarkRoute(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		for _, subs := range []int{1, 10} {
			b.Run(fmt.Sprintf("qos=%d/subs=%d", qos, subs), func(b *testing.B) {
				benchRoute(b, qos, subs)
			})
		}
	}
}

// routeOwed bounds the messages the publisher of BenchmarkRoute is ahead
// of its subscribers: about 600 KiB each, well under the output limit.
const routeOwed = 8192

func benchRoute(b *testing.B, qos byte, nsubs int) {
	bk := testbroker.Start(b, broker.Options{MaxInflight: 1000, MaxQueued: 1 << 20, IdleAfter: broker.DefaultIdleAfter})
	readers := make([]chan error, nsubs)
	subs := make([]*mqtttest.Conn, nsubs)
	for i := range subs {
		c, _ := mqtttest.Connect(b, bk.Addr, packet.V311, &packet.Connect{ClientID: fmt.Sprintf("s%d", i), CleanStart: true})
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bench/+", QoS: qos}}})
		c.Expect(packet.TypeSuback)
		subs[i] = c
	}
	nc, err := net.Dial("tcp", bk.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	connect := packet.Connect{Version: packet.V311, ClientID: "pub", CleanStart: true}
	buf, _ := connect.Append(nil, packet.V311)
	nc.Write(buf)
	br := bufio.NewReader(nc)
	if _, err := io.ReadFull(br, make([]byte, 4)); err != nil {
		b.Fatal(err)
	}
	go io.Copy(io.Discard, br) // PUBACKs

	payload := make([]byte, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	n := b.N
	var got owed
	got.cond.L = &got.mu
	for i, c := range subs {
		readers[i] = make(chan error, 1)
		go func() { readers[i] <- drain(c, n, qos, &got) }()
	}
	w := bufio.NewWriterSize(nc, 64<<10)
	for i := range n {
		if i%256 == 0 {
			w.Flush()
			got.wait(int64(i-routeOwed) * int64(nsubs))
		}
		p := packet.Publish{Topic: "bench/x", QoS: qos, PacketID: uint16(i%65535 + 1), Payload: payload}
		out, _ := p.Append(w.AvailableBuffer(), packet.V311)
		w.Write(out)
	}
	w.Flush()
	for _, r := range readers {
		if err := <-r; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n*nsubs)/b.Elapsed().Seconds(), "deliveries/s")
}

// owed counts the messages the subscribers of BenchmarkRoute have read.
type owed struct {
	mu   sync.Mutex
	cond sync.Cond
	read int64
}

// add counts n more messages read.
func (o *owed) add(n int64) {
	o.mu.Lock()
	o.read += n
	o.mu.Unlock()
	o.cond.Broadcast()
}

// wait returns once at least n messages have been read.
func (o *owed) wait(n int64) {
	o.mu.Lock()
	for o.read < n {
		o.cond.Wait()
	}
	o.mu.Unlock()
}

// drain reads n PUBLISH packets, acknowledging QoS 1, and counts them in
// got every 64 packets.
func drain(c *mqtttest.Conn, n int, qos byte, got *owed) error {
	for i := range n {
		p, err := c.Read(mqtttest.DefaultTimeout)
		if err != nil {
			return err
		}
		if pub, ok := p.(*packet.Publish); ok && qos == 1 {
			c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: pub.PacketID})
		}
		if (i+1)%64 == 0 {
			got.add(64)
		}
	}
	return nil
}

// BenchmarkConnect measures whole connections over real sockets: dial,
// CONNECT, SUBSCRIBE to a filter of its own, DISCONNECT and close, from 16
// clients at a time. Allocations count both sides.
func BenchmarkConnect(b *testing.B) {
	bk := testbroker.Start(b, broker.Options{MaxConnectRate: -1, MaxConnections: -1, IdleAfter: broker.DefaultIdleAfter})
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8) // 16 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 256)
		in := make([]byte, 64)
		for pb.Next() {
			i := next.Add(1)
			nc, err := net.Dial("tcp", bk.Addr)
			if err != nil {
				b.Error(err)
				return
			}
			id := fmt.Sprintf("c%d", i)
			buf, _ = (&packet.Connect{Version: packet.V311, ClientID: id, CleanStart: true, KeepAlive: 60}).Append(buf[:0], packet.V311)
			buf, _ = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "conn/" + id + "/+"}}}).Append(buf, packet.V311)
			if _, err := nc.Write(buf); err != nil {
				b.Error(err)
				return
			}
			// CONNACK (4 bytes) and SUBACK (5 bytes).
			if _, err := io.ReadFull(nc, in[:9]); err != nil {
				b.Error(err)
				return
			}
			nc.Write([]byte{0xe0, 0})
			nc.Close()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}
