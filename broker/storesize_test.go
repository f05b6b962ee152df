package broker_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
)

// TestStoreFullRecovers fills a Pebble store over MaxStoreBytes with
// messages queued for an offline persistent session, until QoS 1 messages
// are refused (Quota exceeded, 0x97). Once the session's client comes back
// and takes them all, the store gives the space back and messages are
// accepted again, with no restart and no other write to prompt a check.
func TestStoreFullRecovers(t *testing.T) {
	const (
		maxBytes = 256 << 10
		size     = 4 << 10
		most     = 4 * maxBytes / size // enough to fill it four times over
	)
	st := tempPebble(t)
	var logs syncBuffer
	b := testbroker.Start(t, broker.Options{Store: st, MaxStoreBytes: maxBytes,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})

	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "fill/#", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(2 * time.Second)

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	rng := rand.New(rand.NewPCG(7, 8))
	payload := func(i int) []byte {
		p := make([]byte, size) // incompressible, so that it takes its size on disk
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		copy(p, fmt.Sprintf("%06d", i))
		return p
	}
	queued := 0
	for {
		if queued == most {
			t.Fatalf("%d messages of %d bytes accepted, none refused by a store limited to %d bytes", queued, size, maxBytes)
		}
		pub.Send(&packet.Publish{Topic: "fill/x", QoS: 1, PacketID: uint16(queued + 1), Payload: payload(queued)})
		a := pub.Expect(packet.TypePuback).(*packet.Ack)
		if a.ReasonCode == packet.QuotaExceeded {
			break
		}
		if a.ReasonCode != packet.Success {
			t.Fatalf("PUBACK of message %d: reason %v", queued, a.ReasonCode)
		}
		queued++
	}
	t.Logf("store full after %d messages: %d bytes", queued, b.Stats().StoreBytes)

	// The client takes its queue; nothing else is published meanwhile.
	sub, _ = mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub"})
	for i := range queued {
		p := sub.Expect(packet.TypePublish).(*packet.Publish)
		if want := fmt.Sprintf("%06d", i); string(p.Payload[:6]) != want {
			t.Fatalf("message %d is %q", i, p.Payload[:6])
		}
		sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	expectStoreEmpty(t, st, 5*time.Second)
	testbroker.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), `msg="store below its limit again"`) {
			return fmt.Errorf("store still full: %d bytes", b.Stats().StoreBytes)
		}
		return nil
	})
	t.Logf("store below its limit again: %d bytes", b.Stats().StoreBytes)

	pub.Send(&packet.Publish{Topic: "fill/x", QoS: 1, PacketID: 1, Payload: []byte("again")})
	if a := pub.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode != packet.Success {
		t.Fatalf("PUBACK after the drain: reason %v, want Success", a.ReasonCode)
	}
	if p := sub.Expect(packet.TypePublish).(*packet.Publish); string(p.Payload) != "again" {
		t.Fatalf("got %q", p.Payload)
	}
}

// TestStoreFullAtStart starts a broker on a Pebble store over
// MaxStoreBytes with records deleted before the start: with no write of
// its own to prompt a check, it compacts the store and accepts QoS 1
// messages again.
func TestStoreFullAtStart(t *testing.T) {
	const maxBytes = 256 << 10
	st := tempPebble(t)
	rng := rand.New(rand.NewPCG(9, 10))
	var b store.Batch
	for i := range 2 * maxBytes / 4096 {
		v := make([]byte, 4096)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		b.Set(store.Retained, fmt.Sprintf("old/%d", i), v)
	}
	b.DeletePrefix(store.Retained, "old/")
	if err := st.Apply(&b, true); err != nil {
		t.Fatal(err)
	}
	if n, err := st.DiskSize(); err != nil || n < maxBytes {
		t.Fatalf("DiskSize = %d, %v; want over %d", n, err, maxBytes)
	}
	srv := testbroker.Start(t, broker.Options{Store: st, MaxStoreBytes: maxBytes})
	pub, _ := mqtttest.Connect(t, srv.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	refused := 0
	testbroker.Eventually(t, 10*time.Second, func() error {
		pub.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x")})
		if a := pub.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode == packet.QuotaExceeded {
			refused++
			return fmt.Errorf("still refused: %d bytes", srv.Stats().StoreBytes)
		}
		return nil
	})
	t.Logf("%d publishes refused before the store was below its limit", refused)
}
