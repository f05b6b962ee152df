package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
	"github.com/midgemq/midge/store/none"
)

// TestStoreThatKeepsNothing: on a store that keeps nothing (the
// configuration's store = "memory"), a persistent session's queue, longer
// than the inflight window and than the recent messages the broker keeps
// (4 MiB), keeps its messages in memory and delivers them all, in order,
// at QoS 1 and 2; retained messages are served from memory.
func TestStoreThatKeepsNothing(t *testing.T) {
	const n = 100 // of 64 KiB each
	b := testbroker.Start(t, broker.Options{Store: none.New(), MaxInflight: 1})
	for _, qos := range []byte{1, 2} {
		id := fmt.Sprintf("away-%d", qos)
		c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: id})
		subscribeOK(t, c, 1, packet.Subscription{Filter: id + "/#", QoS: qos})
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(2 * time.Second)

		pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
		for i := range n {
			if qos == 1 {
				publishQoS1(t, pub, uint16(i+1), id+"/t", bigPayload(i))
				continue
			}
			pub.Send(&packet.Publish{Topic: id + "/t", QoS: 2, PacketID: uint16(i + 1), Payload: []byte(bigPayload(i))})
			expectAck(t, pub, packet.TypePubrec, uint16(i+1), packet.Success)
			completeQoS2(t, pub, uint16(i+1))
		}
		pub.Close()

		c, _ = mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: id})
		for i := range n {
			p := expectPublish(t, c, bigPayload(i))
			if qos == 1 {
				c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
				continue
			}
			c.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
			expectAck(t, c, packet.TypePubrel, p.PacketID, packet.Success)
			c.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
		}
		c.ExpectNothing(100 * time.Millisecond)
	}

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "state/door", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("open")})
	expectAck(t, pub, packet.TypePuback, 1, packet.Success)
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "late", CleanStart: true})
	subscribeOK(t, c, 1, packet.Subscription{Filter: "state/#", QoS: 1})
	if p := expectPublish(t, c, "open"); !p.Retain {
		t.Fatal("retained message without RETAIN")
	}
}

// bigPayload is the 64 KiB payload of message i.
func bigPayload(i int) string {
	return fmt.Sprintf("%-65536d", i)
}

// TestRetainedHeldOnce: a retained message takes less heap on a store that
// keeps nothing than on the memory store, which holds a second copy of it.
func TestRetainedHeldOnce(t *testing.T) {
	const n = 100000
	perMessage := func(st store.Store) float64 {
		b := testbroker.Start(t, broker.Options{Store: st})
		before := heapInUse()
		done := make(chan error, 1)
		for i := range n {
			b.Router().Publish(&broker.Message{Topic: fmt.Sprintf("ret/%d/%d", i/1000, i%1000), Retain: true,
				Payload: make([]byte, 64)}, func(err error) {
				if i == n-1 {
					done <- err
				}
			})
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return float64(heapInUse()-before) / n
	}
	kept := perMessage(memory.New())
	once := perMessage(none.New())
	t.Logf("heap per retained message: %.0f bytes with the memory store, %.0f with a store that keeps nothing", kept, once)
	if once > 0.7*kept {
		t.Errorf("%.0f bytes per retained message with a store that keeps nothing, want well under the %.0f of the memory store", once, kept)
	}
}
