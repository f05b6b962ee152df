package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
)

func v5Connect(id string, clean bool, expiry uint32) *packet.Connect {
	c := &packet.Connect{ClientID: id, CleanStart: clean}
	if expiry > 0 {
		c.Properties.SessionExpiryInterval = expiry
		c.Properties.HasSessionExpiryInterval = true
	}
	return c
}

// TestSessionExpiry: a 5.0 session stays for its Session Expiry Interval
// after the connection and then ends [MQTT-3.1.2-23]; an interval of 0
// ends it with the connection.
func TestSessionExpiry(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("exp", true, 1))
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "e", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)

	// Back within the interval: the session is there.
	c, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("exp", false, 1))
	if !ack.SessionPresent {
		t.Fatal("session gone within its expiry interval")
	}
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	testbroker.Eventually(t, 5*time.Second, func() error {
		if n := b.Stats().SessionsCurrent; n != 0 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
	c, ack = mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("exp", false, 0))
	if ack.SessionPresent {
		t.Fatal("session present after it expired")
	}
	// That connection asked for interval 0: nothing stays after it.
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	if n := b.Stats().SessionsCurrent; n != 0 {
		t.Fatalf("%d sessions after a connection with expiry 0 ended", n)
	}
}

// TestDisconnectSessionExpiry: DISCONNECT may shorten a session's expiry
// to 0, ending it, but not give one to a session that had none
// [MQTT-3.14.2-2].
func TestDisconnectSessionExpiry(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("keep", true, 3600))
	d := &packet.Disconnect{}
	d.Properties.SessionExpiryInterval, d.Properties.HasSessionExpiryInterval = 0, true
	c.Send(d)
	c.ExpectClosed(2 * time.Second)
	if _, ack := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("keep", false, 0)); ack.SessionPresent {
		t.Fatal("session kept after DISCONNECT set its expiry to 0")
	}

	c, _ = mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("none", true, 0))
	d = &packet.Disconnect{}
	d.Properties.SessionExpiryInterval, d.Properties.HasSessionExpiryInterval = 60, true
	c.Send(d)
	p, err := c.Read(2 * time.Second)
	if err != nil {
		t.Fatalf("no DISCONNECT from the server: %v", err)
	}
	if dp, ok := p.(*packet.Disconnect); !ok || dp.ReasonCode != packet.ProtocolError {
		t.Fatalf("got %+v, want DISCONNECT Protocol Error", p)
	}
	c.ExpectClosed(2 * time.Second)
}

// TestMessageExpiry: a queued message whose Message Expiry Interval passes
// is not delivered [MQTT-3.3.2-5]; one that is delivered carries what is
// left of its interval [MQTT-3.3.2-6]; an expired retained message is not
// sent either.
func TestMessageExpiry(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("late", true, 3600))
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "m/+", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(2 * time.Second)

	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("pub", true, 0))
	publish := func(topic string, expiry uint32, retain bool, id uint16) {
		p := &packet.Publish{Topic: topic, QoS: 1, PacketID: id, Retain: retain, Payload: []byte(topic)}
		p.Properties.MessageExpiryInterval, p.Properties.HasMessageExpiryInterval = expiry, true
		pub.Send(p)
		pub.Expect(packet.TypePuback)
	}
	publish("m/short", 1, false, 1)
	publish("m/long", 100, false, 2)
	publish("r/short", 1, true, 3)
	time.Sleep(1100 * time.Millisecond) // past the short interval

	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("late", false, 3600))
	p := c.Expect(packet.TypePublish).(*packet.Publish)
	if p.Topic != "m/long" {
		t.Fatalf("got %q, want only m/long", p.Topic)
	}
	if e := p.Properties.MessageExpiryInterval; !p.Properties.HasMessageExpiryInterval || e > 99 || e < 90 {
		t.Fatalf("forwarded expiry interval %d (set %v), want what is left of 100", e, p.Properties.HasMessageExpiryInterval)
	}
	c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	c.Send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "r/#"}}})
	c.Expect(packet.TypeSuback)
	c.ExpectNothing(300 * time.Millisecond)
	if n := b.Stats().Dropped["expired"]; n != 1 {
		t.Fatalf("expired drops = %d, want 1", n)
	}
}

// TestExpiryAcrossRestart: what expires while the broker is stopped is gone
// when it starts: the session, its queue, and expired retained messages.
func TestExpiryAcrossRestart(t *testing.T) {
	for _, ts := range testStores() {
		t.Run(ts.name, func(t *testing.T) {
			st := ts.open(t)
			b1 := testbroker.Start(t, broker.Options{Store: st})
			for _, id := range []string{"brief", "lasting"} {
				exp := uint32(1)
				if id == "lasting" {
					exp = 3600
				}
				c, _ := mqtttest.Connect(t, b1.Addr, packet.V5, v5Connect(id, true, exp))
				c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "x", QoS: 1}}})
				c.Expect(packet.TypeSuback)
				c.Send(&packet.Disconnect{})
				c.ExpectClosed(2 * time.Second)
			}
			pub, _ := mqtttest.Connect(t, b1.Addr, packet.V5, v5Connect("pub", true, 0))
			p := &packet.Publish{Topic: "x", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("soon gone")}
			p.Properties.MessageExpiryInterval, p.Properties.HasMessageExpiryInterval = 1, true
			pub.Send(p)
			pub.Expect(packet.TypePuback)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := b1.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond)

			st = ts.reopen(t, st)
			b2 := testbroker.Start(t, broker.Options{Store: st})
			if s := b2.Stats(); s.SessionsCurrent != 1 || s.Retained != 0 {
				t.Fatalf("after restart: %d sessions, %d retained; want 1, 0", s.SessionsCurrent, s.Retained)
			}
			if _, err := st.Get(store.Sessions, "brief"); err == nil {
				t.Fatal("the expired session's record is still in the store")
			}
			testbroker.Eventually(t, 2*time.Second, func() error {
				if q := count(t, st, store.Queues); q != 0 {
					return fmt.Errorf("%d queue entries left", q)
				}
				if m := count(t, st, store.Messages); m != 0 {
					return fmt.Errorf("%d message bodies left", m)
				}
				return nil
			})
		})
	}
}

// TestWillDelay: a 5.0 will waits for its Will Delay Interval; it is not
// sent if the client comes back first, and is sent at once when the session
// ends with the connection [MQTT-3.1.3-9].
func TestWillDelay(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	watcher, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("watcher", true, 0))
	watcher.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "will/+"}}})
	watcher.Expect(packet.TypeSuback)
	withWill := func(id string, expiry, delay uint32) *packet.Connect {
		c := v5Connect(id, true, expiry)
		c.Will = &packet.Will{Topic: "will/" + id, Payload: []byte(id)}
		c.Will.Properties.WillDelayInterval, c.Will.Properties.HasWillDelayInterval = delay, true
		return c
	}

	// Delayed, then sent.
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, withWill("delayed", 60, 1))
	start := time.Now()
	c.Close()
	watcher.ExpectNothing(500 * time.Millisecond)
	p := watcher.Expect(packet.TypePublish).(*packet.Publish)
	if p.Topic != "will/delayed" || time.Since(start) < time.Second {
		t.Fatalf("got %q after %s, want will/delayed after 1s", p.Topic, time.Since(start))
	}

	// Back within the delay: never sent.
	c, _ = mqtttest.Connect(t, b.Addr, packet.V5, withWill("returning", 60, 1))
	c.Close()
	c, _ = mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("returning", false, 60))
	watcher.ExpectNothing(1500 * time.Millisecond)
	c.Send(&packet.Disconnect{})

	// A session that ends with its connection takes its will out at once.
	c, _ = mqtttest.Connect(t, b.Addr, packet.V5, withWill("brief", 0, 30))
	c.Close()
	if p := watcher.Expect(packet.TypePublish).(*packet.Publish); p.Topic != "will/brief" {
		t.Fatalf("got %q, want will/brief", p.Topic)
	}
}
