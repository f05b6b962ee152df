package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestSessionResume keeps a persistent session's subscription and queued
// QoS 1 and 2 messages while it is offline and delivers them on return
// [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.2.2-2].
func TestSessionResume(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, level := range []uint{3, 4} {
		t.Run(fmt.Sprintf("level=%d", level), func(t *testing.T) {
			id := fmt.Sprintf("persistent-%d", level)
			var r received
			sub := pahoClient(t, b.Addr, id, false, level)
			wait(t, sub.Subscribe("queue/"+id, 2, r.handler))
			sub.Disconnect(100)

			pub := pahoClient(t, b.Addr, "pub-"+id, true, level)
			const n = 30
			for i := range n {
				wait(t, pub.Publish("queue/"+id, byte(1+i%2), false, fmt.Sprintf("m%d", i)))
			}

			// Paho re-subscribes nothing itself: the messages come from the
			// session the broker kept.
			c, ack := mqtttest.Connect(t, b.Addr, packet.Version(level), &packet.Connect{ClientID: id})
			if !ack.SessionPresent {
				t.Fatal("Session Present = 0 for a kept session")
			}
			// The whole queue fits the inflight window, so PUBRELs and
			// PUBLISHes interleave.
			var got []string
			pubrels := 0
			for len(got) < n || pubrels < n/2 {
				p, err := c.Read(5 * time.Second)
				if err != nil {
					t.Fatalf("after %d messages and %d PUBRELs: %v", len(got), pubrels, err)
				}
				switch p := p.(type) {
				case *packet.Publish:
					got = append(got, string(p.Payload))
					if p.QoS == 1 {
						c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
					} else {
						c.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
					}
				case *packet.Ack:
					if p.Kind != packet.TypePubrel {
						t.Fatalf("got %v", p.Kind)
					}
					pubrels++
					c.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
				default:
					t.Fatalf("got %T", p)
				}
			}
			if !slices.Equal(got, seqPayloads(n)) {
				t.Fatalf("queued messages %v", got)
			}
			c.Send(&packet.Disconnect{})
			c.ExpectClosed(2 * time.Second)

			// A clean session discards it [MQTT-3.1.2-6].
			_, ack = mqtttest.Connect(t, b.Addr, packet.Version(level), &packet.Connect{ClientID: id, CleanStart: true})
			if ack.SessionPresent {
				t.Fatal("Session Present = 1 with Clean Session [MQTT-3.2.2-1]")
			}
		})
	}
}

// TestInflightResentWithDup leaves QoS 1 and 2 deliveries unacknowledged,
// reconnects, and expects them again with DUP set, then a PUBREL for the
// message whose PUBREC was sent [MQTT-4.4.0-1] [MQTT-3.3.1-1].
func TestInflightResentWithDup(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "slow"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "job/#", QoS: 2}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "job/1", QoS: 1, PacketID: 1, Payload: []byte("one")})
	pub.Expect(packet.TypePuback)
	pub.Send(&packet.Publish{Topic: "job/2", QoS: 2, PacketID: 2, Payload: []byte("two")})
	pub.Expect(packet.TypePubrec)
	pub.Send(&packet.Publish{Topic: "job/3", QoS: 2, PacketID: 3, Payload: []byte("three")})
	pub.Expect(packet.TypePubrec)

	first := sub.Expect(packet.TypePublish).(*packet.Publish)
	second := sub.Expect(packet.TypePublish).(*packet.Publish)
	third := sub.Expect(packet.TypePublish).(*packet.Publish)
	if first.Dup || second.Dup || third.Dup {
		t.Fatal("DUP set on a first delivery [MQTT-3.3.1-3]")
	}
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: third.PacketID})
	sub.Expect(packet.TypePubrel)
	sub.Close()

	again, ack := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "slow"})
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	for _, want := range []*packet.Publish{first, second} {
		got := again.Expect(packet.TypePublish).(*packet.Publish)
		if !got.Dup || got.PacketID != want.PacketID || string(got.Payload) != string(want.Payload) {
			t.Fatalf("re-sent %+v, want %q id %d with DUP", got, want.Payload, want.PacketID)
		}
	}
	if rel := again.Expect(packet.TypePubrel).(*packet.Ack); rel.PacketID != third.PacketID {
		t.Fatalf("PUBREL for %d, want %d", rel.PacketID, third.PacketID)
	}
}

// TestTakeover connects a second client with the same id: the broker closes
// the first connection and the session moves to the second [MQTT-3.1.4-2].
func TestTakeover(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	first, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "twin"})
	first.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 1}}})
	first.Expect(packet.TypeSuback)

	second, ack := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "twin"})
	if !ack.SessionPresent {
		t.Fatal("taken-over session not present")
	}
	first.ExpectClosed(3 * time.Second)

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "t", Payload: []byte("to the new one")})
	if got := second.Expect(packet.TypePublish).(*packet.Publish); string(got.Payload) != "to the new one" {
		t.Fatalf("got %+v", got)
	}
	testbroker.Eventually(t, 2*time.Second, func() error {
		if n := b.Stats().ConnectionsCurrent; n != 2 {
			return fmt.Errorf("%d connections, want 2", n)
		}
		return nil
	})
}

// TestTakeoverStorm connects many clients with one id at once: the broker
// ends with one live connection holding the session and nothing wedged.
func TestTakeoverStorm(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	const n = 20
	done := make(chan struct{}, n)
	for range n {
		go func() {
			defer func() { done <- struct{}{} }()
			c := mqtttest.Dial(t, b.Addr, packet.V311)
			c.Send(&packet.Connect{Version: packet.V311, ClientID: "storm"})
			c.Read(time.Second)
		}()
	}
	for range n {
		<-done
	}
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "storm"})
	c.Send(&packet.Pingreq{})
	c.Expect(packet.TypePingresp)
}

// connectGate is an audit log handler that, once armed, holds the next
// connection that logs a connect where it does so: after the session is
// attached and the CONNACK is out, before the session resumes.
type connectGate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *connectGate) Enabled(context.Context, slog.Level) bool { return true }
func (g *connectGate) WithAttrs([]slog.Attr) slog.Handler       { return g }
func (g *connectGate) WithGroup(string) slog.Handler            { return g }

// open lets the held connection, if any, go on. Only the test's goroutine
// calls it.
func (g *connectGate) open() {
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

func (g *connectGate) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "connect" && g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return nil
}

// TestResendBeforeNewMessages: a message that reaches a session between its
// attach by a returning client and the resend of its messages in flight
// goes after them, in the order the broker received them [MQTT-4.6.0-6]
// (3.1.1) [MQTT-4.6.0-5] (5.0).
func TestResendBeforeNewMessages(t *testing.T) {
	g := &connectGate{entered: make(chan struct{}), release: make(chan struct{})}
	b := testbroker.Start(t, broker.Options{Audit: slog.New(g)})
	t.Cleanup(g.open)
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "osub"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "o", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "opub", CleanStart: true})
	pub.Send(&packet.Publish{Topic: "o", QoS: 1, PacketID: 1, Payload: []byte("first")})
	pub.Expect(packet.TypePuback)
	sub.Expect(packet.TypePublish) // not acknowledged
	sub.Close()

	// Held, the connection has not written its CONNACK yet: it is read
	// once the gate opens.
	g.armed.Store(true)
	again := mqtttest.Dial(t, b.Addr, packet.V311)
	again.Send(&packet.Connect{Version: packet.V311, ClientID: "osub"})
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no connect logged")
	}
	pub.Send(&packet.Publish{Topic: "o", QoS: 1, PacketID: 2, Payload: []byte("second")})
	pub.Expect(packet.TypePuback)
	g.open()
	if ack := again.Expect(packet.TypeConnack).(*packet.Connack); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	for _, want := range []string{"first", "second"} {
		p := again.Expect(packet.TypePublish).(*packet.Publish)
		if string(p.Payload) != want {
			t.Fatalf("got %q (DUP %t), want %q", p.Payload, p.Dup, want)
		}
		again.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
}
