package broker_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// The tests in this file drive Midge with the Eclipse Paho MQTT 5.0 Go
// client (paho.golang) over real TCP connections to a test broker, one test
// per MQTT 5.0 feature, each naming the normative statements it covers.
// Where paho.golang cannot show what is on the wire (it keeps only one
// Subscription Identifier of a PUBLISH), the raw mqtttest client does.
//
// Tests that must show that something was NOT delivered do not sleep: they
// send a barrier message that the broker handles after the one that must
// not arrive, on the same path, and check what came before the barrier.

// v5Timeout bounds every wait of these tests.
const v5Timeout = 5 * time.Second

// v5Client is a paho.golang client connected to a test broker. It records
// every PUBLISH it receives, in order.
type v5Client struct {
	*paho.Client
	id string

	mu   sync.Mutex
	msgs []*paho.Publish
}

// v5Open connects a clean MQTT 5.0 client with no session expiry.
func v5Open(t *testing.T, addr, id string) *v5Client {
	t.Helper()
	return v5Dial(t, addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
}

// v5Dial connects a paho.golang client with cp and disconnects it when the
// test ends.
func v5Dial(t *testing.T, addr string, cp *paho.Connect) *v5Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, v5Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &v5Client{id: cp.ClientID}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID:          cp.ClientID,
		Conn:              nc,
		PacketTimeout:     v5Timeout,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){c.received},
	})
	ctx, cancel := context.WithTimeout(context.Background(), v5Timeout)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		nc.Close()
		t.Fatalf("%s: connect: %v", cp.ClientID, err)
	}
	if ack.ReasonCode != 0 {
		nc.Close()
		t.Fatalf("%s: CONNACK reason code %#x", cp.ClientID, ack.ReasonCode)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{ReasonCode: 0}) })
	return c
}

func (c *v5Client) received(pr paho.PublishReceived) (bool, error) {
	c.mu.Lock()
	c.msgs = append(c.msgs, pr.Packet)
	c.mu.Unlock()
	return true, nil
}

func (c *v5Client) snapshot() []*paho.Publish {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// waitFor waits until at least n messages have arrived and returns all
// that have.
func (c *v5Client) waitFor(t *testing.T, n int) []*paho.Publish {
	t.Helper()
	var got []*paho.Publish
	testbroker.Eventually(t, v5Timeout, func() error {
		if got = c.snapshot(); len(got) < n {
			return fmt.Errorf("%s received %d messages, want %d: %v", c.id, len(got), n, v5Payloads(got))
		}
		return nil
	})
	return got
}

// waitPayload waits for a message with payload p and returns the messages
// received up to and including the first one with it.
func (c *v5Client) waitPayload(t *testing.T, p string) []*paho.Publish {
	t.Helper()
	var got []*paho.Publish
	testbroker.Eventually(t, v5Timeout, func() error {
		got = c.snapshot()
		for i, m := range got {
			if string(m.Payload) == p {
				got = got[:i+1]
				return nil
			}
		}
		return fmt.Errorf("%s has not received %q; got %v", c.id, p, v5Payloads(got))
	})
	return got
}

// sub subscribes with no Subscription Identifier and fails the test unless
// every subscription is granted.
func (c *v5Client) sub(t *testing.T, opts ...paho.SubscribeOptions) {
	t.Helper()
	c.subID(t, 0, opts...)
}

// subID subscribes with Subscription Identifier id (none if 0).
func (c *v5Client) subID(t *testing.T, id int, opts ...paho.SubscribeOptions) {
	t.Helper()
	s := &paho.Subscribe{Subscriptions: opts}
	if id != 0 {
		s.Properties = &paho.SubscribeProperties{SubscriptionIdentifier: &id}
	}
	ctx, cancel := context.WithTimeout(context.Background(), v5Timeout)
	defer cancel()
	ack, err := c.Subscribe(ctx, s)
	if err != nil {
		t.Fatalf("%s: subscribe %+v: %v", c.id, opts, err)
	}
	for i, code := range ack.Reasons {
		if code != opts[i].QoS {
			t.Fatalf("%s: SUBACK %#x for %q, want granted QoS %d", c.id, code, opts[i].Topic, opts[i].QoS)
		}
	}
}

// settle returns once the broker has finished with c's earlier SUBSCRIBE
// packets, retained messages included: it answers the SUBSCRIBE it sends
// only after them. Midge looks for the retained messages of a new
// subscription after it has sent the SUBACK (see
// TestV5RetainedNotDuplicated), so a test that publishes right after a
// subscription to a topic with a retained message settles first.
func (c *v5Client) settle(t *testing.T) {
	t.Helper()
	c.sub(t, paho.SubscribeOptions{Topic: "settle/" + c.id})
}

// pub publishes p and fails the test on an error or a failure reason code.
func (c *v5Client) pub(t *testing.T, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), v5Timeout)
	defer cancel()
	resp, err := c.Publish(ctx, p)
	if err != nil {
		t.Fatalf("%s: publish to %q: %v", c.id, p.Topic, err)
	}
	if resp.ReasonCode >= 0x80 {
		t.Fatalf("%s: publish to %q: reason code %#x", c.id, p.Topic, resp.ReasonCode)
	}
	return resp
}

func v5Payloads(msgs []*paho.Publish) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Payload)
	}
	return out
}

// v5Describe lists messages as payload, with "(retain)" where RETAIN is set.
func v5Describe(msgs []*paho.Publish) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Payload)
		if m.Retain {
			out[i] += " (retain)"
		}
	}
	return out
}

func subIDOf(m *paho.Publish) int {
	if m.Properties == nil || m.Properties.SubscriptionIdentifier == nil {
		return 0
	}
	return *m.Properties.SubscriptionIdentifier
}

// TestV5NoLocal: a client whose subscription has No Local set does not get
// its own messages back, while other subscribers, and its own subscriptions
// without No Local, do [MQTT-3.8.3-3]. No Local on a shared subscription is
// a Protocol Error [MQTT-3.8.3-4].
func TestV5NoLocal(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})

	t.Run("own messages", func(t *testing.T) {
		self := v5Open(t, b.Addr, "nl-self")
		other := v5Open(t, b.Addr, "nl-other")
		self.sub(t,
			paho.SubscribeOptions{Topic: "nl/#", QoS: 1, NoLocal: true},
			paho.SubscribeOptions{Topic: "nl-barrier", QoS: 1})
		other.sub(t, paho.SubscribeOptions{Topic: "nl/#", QoS: 1})

		for qos := range byte(3) {
			self.pub(t, &paho.Publish{Topic: fmt.Sprintf("nl/self/%d", qos), QoS: qos, Payload: fmt.Appendf(nil, "self %d", qos)})
		}
		other.pub(t, &paho.Publish{Topic: "nl/other", QoS: 1, Payload: []byte("other")})
		// The barrier goes to self through a subscription without No Local,
		// after everything self published before it.
		self.pub(t, &paho.Publish{Topic: "nl-barrier", QoS: 1, Payload: []byte("barrier")})

		if got := v5Payloads(self.waitPayload(t, "barrier")); !slices.Equal(got, []string{"other", "barrier"}) {
			t.Fatalf("No Local subscriber received %q, want only [other barrier] [MQTT-3.8.3-3]", got)
		}
		// The other client has no No Local: it gets its own message too.
		got := v5Payloads(other.waitFor(t, 4))
		if want := []string{"self 0", "self 1", "self 2", "other"}; !slices.Equal(got, want) {
			t.Fatalf("subscriber without No Local received %q, want %q", got, want)
		}
	})

	// paho.golang keeps waiting for the SUBACK after the broker has closed
	// the connection; the raw client sees the DISCONNECT at once.
	t.Run("shared subscription", func(t *testing.T) {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("nl-shared", true, 0))
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
			{Filter: "$share/g/nl/shared", QoS: 1, NoLocal: true},
		}})
		got := c.ExpectClosed(v5Timeout)
		if len(got) != 1 {
			t.Fatalf("got %v, want only DISCONNECT Protocol Error [MQTT-3.8.3-4]", got)
		}
		if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.ProtocolError {
			t.Fatalf("got %+v, want DISCONNECT Protocol Error [MQTT-3.8.3-4]", got[0])
		}
	})
}

// TestV5RetainAsPublished: with Retain As Published the RETAIN flag of a
// forwarded message is the one it was published with [MQTT-3.3.1-13];
// without it the flag is cleared on live delivery [MQTT-3.3.1-12].
func TestV5RetainAsPublished(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for qos := range byte(3) {
		t.Run(fmt.Sprintf("qos=%d", qos), func(t *testing.T) {
			tp := fmt.Sprintf("rap/%d", qos)
			rap := v5Open(t, b.Addr, fmt.Sprintf("rap1-%d", qos))
			rap.sub(t, paho.SubscribeOptions{Topic: tp, QoS: qos, RetainAsPublished: true})
			plain := v5Open(t, b.Addr, fmt.Sprintf("rap0-%d", qos))
			plain.sub(t, paho.SubscribeOptions{Topic: tp, QoS: qos})
			rap.settle(t)
			plain.settle(t)

			pub := v5Open(t, b.Addr, fmt.Sprintf("rap-pub-%d", qos))
			pub.pub(t, &paho.Publish{Topic: tp, QoS: qos, Retain: true, Payload: []byte("retained")})
			pub.pub(t, &paho.Publish{Topic: tp, QoS: qos, Payload: []byte("plain")})

			for _, c := range []struct {
				sub  *v5Client
				want []bool
				stmt string
			}{
				{rap, []bool{true, false}, "[MQTT-3.3.1-13]"},
				{plain, []bool{false, false}, "[MQTT-3.3.1-12]"},
			} {
				got := c.sub.waitFor(t, 2)
				if p := v5Payloads(got); !slices.Equal(p, []string{"retained", "plain"}) {
					t.Fatalf("%s received %q, want [retained plain]", c.sub.id, v5Describe(got))
				}
				for i, m := range got {
					if m.Retain != c.want[i] {
						t.Fatalf("%s: %q delivered with RETAIN=%v, want %v %s", c.sub.id, m.Payload, m.Retain, c.want[i], c.stmt)
					}
					if m.QoS != qos {
						t.Fatalf("%s: %q delivered at QoS %d, want %d", c.sub.id, m.Payload, m.QoS, qos)
					}
				}
			}
		})
	}
}

// TestV5RetainHandling: at SUBSCRIBE, Retain Handling 0 sends the matching
// retained messages [MQTT-3.3.1-9], 1 sends them only if the subscription
// is new [MQTT-3.3.1-10], and 2 never sends them [MQTT-3.3.1-11]. A retained
// message sent because of a subscription has RETAIN set (section 3.3.1.3).
func TestV5RetainHandling(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	pub := v5Open(t, b.Addr, "rh-pub")
	pub.pub(t, &paho.Publish{Topic: "rh/t", QoS: 1, Retain: true, Payload: []byte("kept")})
	pub.pub(t, &paho.Publish{Topic: "rh/barrier", QoS: 1, Retain: true, Payload: []byte("barrier")})

	// barrier subscribes to rh/barrier, whose retained message the broker
	// sends after anything the SUBSCRIBE before it caused, and returns the
	// messages c received up to it, the barrier excluded.
	barrier := func(t *testing.T, c *v5Client) []*paho.Publish {
		t.Helper()
		c.sub(t, paho.SubscribeOptions{Topic: "rh/barrier", QoS: 1})
		got := c.waitPayload(t, "barrier")
		c.mu.Lock()
		c.msgs = nil
		c.mu.Unlock()
		if m := got[len(got)-1]; !m.Retain {
			t.Fatal("retained message sent for a new subscription without RETAIN")
		}
		return got[:len(got)-1]
	}
	expectKept := func(t *testing.T, got []*paho.Publish, stmt string) {
		t.Helper()
		if len(got) != 1 || string(got[0].Payload) != "kept" {
			t.Fatalf("received %q, want the retained message %s", v5Payloads(got), stmt)
		}
		if !got[0].Retain {
			t.Fatal("retained message sent because of a subscription has RETAIN=0")
		}
	}

	t.Run("0", func(t *testing.T) {
		c := v5Open(t, b.Addr, "rh-0")
		for range 2 { // a new subscription, then the same one again
			c.sub(t, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 0})
			expectKept(t, barrier(t, c), "[MQTT-3.3.1-9]")
		}
	})

	t.Run("1", func(t *testing.T) {
		c := v5Open(t, b.Addr, "rh-1")
		c.sub(t, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 1})
		expectKept(t, barrier(t, c), "for a new subscription [MQTT-3.3.1-10]")

		c.sub(t, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 1})
		if got := barrier(t, c); len(got) != 0 {
			t.Fatalf("subscription that existed got %q, want nothing [MQTT-3.3.1-10]", v5Payloads(got))
		}

		// Once unsubscribed, the subscription is new again.
		ctx, cancel := context.WithTimeout(context.Background(), v5Timeout)
		defer cancel()
		if _, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"rh/t"}}); err != nil {
			t.Fatal(err)
		}
		c.sub(t, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 1})
		expectKept(t, barrier(t, c), "for a subscription made again after UNSUBSCRIBE [MQTT-3.3.1-10]")
	})

	t.Run("2", func(t *testing.T) {
		c := v5Open(t, b.Addr, "rh-2")
		c.sub(t, paho.SubscribeOptions{Topic: "rh/#", QoS: 1, RetainHandling: 2})
		if got := barrier(t, c); len(got) != 0 {
			// rh/# also matches rh/barrier: with Retain Handling 2 it must
			// not send that either, so the barrier is the only message.
			t.Fatalf("Retain Handling 2 sent %q before the barrier [MQTT-3.3.1-11]", v5Payloads(got))
		}
		// The subscription itself works: live messages arrive, RETAIN clear.
		pub.pub(t, &paho.Publish{Topic: "rh/t", QoS: 1, Payload: []byte("live")})
		got := c.waitPayload(t, "live")
		if len(got) != 1 || got[0].Retain {
			t.Fatalf("after Retain Handling 2 got %q (RETAIN=%v), want only live with RETAIN=0", v5Payloads(got), got[0].Retain)
		}
	})
}

// TestV5RetainedNotDuplicated subscribes, again and again, to a topic
// whose retained message a publisher keeps replacing with the next number.
// The retained message sent because of the subscription [MQTT-3.3.1-9]
// never comes after a newer message of the topic [MQTT-4.6.0-5]
// [MQTT-4.6.0-6]: the numbers the subscriber receives never go down. A
// message published at the very moment of the subscription may come both
// as the retained message and live; the test counts those.
func TestV5RetainedNotDuplicated(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	pub := v5Open(t, b.Addr, "dup-pub")
	stop := make(chan struct{})
	published := make(chan error, 1)
	go func() {
		// At most 100,000 messages; the subscriptions below take far fewer.
		for i := range 100_000 {
			select {
			case <-stop:
				published <- nil
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), v5Timeout)
			_, err := pub.Publish(ctx, &paho.Publish{Topic: "dup/t", Retain: true, Payload: fmt.Appendf(nil, "%d", i)})
			cancel()
			if err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	defer func() {
		close(stop)
		if err := <-published; err != nil {
			t.Errorf("publisher: %v", err)
		}
	}()

	var bug string
	dups := 0
	for round := range 40 {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect(fmt.Sprintf("dup-sub-%d", round), true, 0))
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "dup/t"}}})
		var got []string
		last := -1
		// Read until the SUBACK of a second SUBSCRIBE, which the broker
		// answers after it has sent the first one's retained message.
		for done := false; !done; {
			pk, err := c.Read(v5Timeout)
			if err != nil {
				t.Fatalf("round %d: waiting for SUBACK: %v", round, err)
			}
			switch p := pk.(type) {
			case *packet.Suback:
				got = append(got, fmt.Sprintf("SUBACK %d", p.PacketID))
				if p.PacketID == 1 {
					c.Send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "dup/settle"}}})
				} else {
					done = true
				}
			case *packet.Publish:
				var n int
				if _, err := fmt.Sscan(string(p.Payload), &n); err != nil {
					t.Fatalf("payload %q", p.Payload)
				}
				m := string(p.Payload)
				if p.Retain {
					m += " (retain)"
				}
				got = append(got, m)
				if n < last && bug == "" {
					bug = fmt.Sprintf("round %d: %d after %d; last packets %q", round, n, last, got[max(0, len(got)-5):])
				}
				if n == last {
					dups++
				}
				last = max(last, n)
			default:
				t.Fatalf("round %d: got %s", round, pk.Type())
			}
		}
		c.Close()
		if bug != "" {
			break
		}
	}
	if bug != "" {
		t.Fatalf("a retained message came after a newer message of its topic (%s)", bug)
	}
	// A message published at the very moment of the subscription may still
	// come twice, as the retained message and live, in either order.
	t.Logf("%d messages came both live and as the retained message", dups)
}

// TestV5SubscriptionIdentifiers: a message carries the Subscription
// Identifier of the subscription it matched [MQTT-3.3.4-3]; one PUBLISH for
// overlapping subscriptions carries the identifiers of all of them
// [MQTT-3.3.4-4]; separate PUBLISH packets (here a shared and a non-shared
// subscription of one client) carry each its own [MQTT-3.3.4-5]. A
// SUBSCRIBE that replaces a subscription replaces its identifier, or its
// absence (section 3.8.2.1.2, [MQTT-3.8.4-3]).
func TestV5SubscriptionIdentifiers(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})

	t.Run("paho", func(t *testing.T) {
		c := v5Open(t, b.Addr, "sid")
		c.subID(t, 7, paho.SubscribeOptions{Topic: "sid/a/+", QoS: 1})
		c.sub(t, paho.SubscribeOptions{Topic: "sid/b", QoS: 1})
		pub := v5Open(t, b.Addr, "sid-pub")
		pub.pub(t, &paho.Publish{Topic: "sid/r", QoS: 1, Retain: true, Payload: []byte("retained")})

		pub.pub(t, &paho.Publish{Topic: "sid/a/x", QoS: 1, Payload: []byte("a")})
		pub.pub(t, &paho.Publish{Topic: "sid/b", QoS: 0, Payload: []byte("b")})
		for _, m := range c.waitFor(t, 2) {
			switch id := subIDOf(m); {
			case string(m.Payload) == "a" && id != 7:
				t.Fatalf("message for the subscription with identifier 7 carries %d [MQTT-3.3.4-3]", id)
			case string(m.Payload) == "b" && id != 0:
				t.Fatalf("message for a subscription without identifier carries %d", id)
			}
		}

		// A retained message sent because of a subscription carries its
		// identifier too.
		c.subID(t, 9, paho.SubscribeOptions{Topic: "sid/r", QoS: 1})
		m := c.waitPayload(t, "retained")
		if id := subIDOf(m[len(m)-1]); id != 9 {
			t.Fatalf("retained message carries identifier %d, want 9 [MQTT-3.3.4-3]", id)
		}

		// Replacing the subscription replaces its identifier.
		c.subID(t, 8, paho.SubscribeOptions{Topic: "sid/a/+", QoS: 1})
		pub.pub(t, &paho.Publish{Topic: "sid/a/y", QoS: 1, Payload: []byte("replaced")})
		m = c.waitPayload(t, "replaced")
		if id := subIDOf(m[len(m)-1]); id != 8 {
			t.Fatalf("after re-subscribing with identifier 8 the message carries %d", id)
		}
		c.sub(t, paho.SubscribeOptions{Topic: "sid/a/+", QoS: 1})
		pub.pub(t, &paho.Publish{Topic: "sid/a/z", QoS: 1, Payload: []byte("none")})
		m = c.waitPayload(t, "none")
		if id := subIDOf(m[len(m)-1]); id != 0 {
			t.Fatalf("after re-subscribing without identifier the message carries %d", id)
		}
	})

	// paho.golang keeps one Subscription Identifier of a PUBLISH; the raw
	// client shows them all.
	subscribe := func(t *testing.T, c *mqtttest.Conn, pid uint16, id uint32, filter string) {
		t.Helper()
		p := &packet.Subscribe{PacketID: pid, Subscriptions: []packet.Subscription{{Filter: filter}}}
		if id != 0 {
			p.Properties.SubscriptionIdentifiers = []uint32{id}
		}
		c.Send(p)
		if ack := c.Expect(packet.TypeSuback).(*packet.Suback); !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{packet.GrantedQoS0}) {
			t.Fatalf("SUBACK %v for %q", ack.ReasonCodes, filter)
		}
	}
	ids := func(p *packet.Publish) []uint32 {
		return slices.Sorted(slices.Values(p.Properties.SubscriptionIdentifiers))
	}

	t.Run("overlapping", func(t *testing.T) {
		sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("sid-raw", true, 0))
		subscribe(t, sub, 1, 1, "ov/#")
		subscribe(t, sub, 2, 2, "ov/+/c")
		subscribe(t, sub, 3, 0, "ov/b/c")
		subscribe(t, sub, 4, 3, "$share/g/ov/b/c")
		pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("sid-raw-pub", true, 0))
		pub.Send(&packet.Publish{Topic: "ov/b/c", Payload: []byte("overlap")})
		pub.Send(&packet.Publish{Topic: "ov/z", Payload: []byte("barrier")})

		var copies [][]uint32
		for range 2 {
			p := sub.Expect(packet.TypePublish).(*packet.Publish)
			if string(p.Payload) != "overlap" {
				t.Fatalf("got %q on %q, want two copies of overlap (non-shared and shared)", p.Payload, p.Topic)
			}
			copies = append(copies, ids(p))
		}
		slices.SortFunc(copies, slices.Compare)
		if want := [][]uint32{{1, 2}, {3}}; !slices.EqualFunc(copies, want, slices.Equal) {
			t.Fatalf("identifiers of the copies %v, want %v [MQTT-3.3.4-4] [MQTT-3.3.4-5]", copies, want)
		}
		p := sub.Expect(packet.TypePublish).(*packet.Publish)
		if string(p.Payload) != "barrier" || !slices.Equal(ids(p), []uint32{1}) {
			t.Fatalf("got %q with identifiers %v, want barrier with [1]", p.Payload, ids(p))
		}
	})

	t.Run("identical", func(t *testing.T) {
		sub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("sid-same", true, 0))
		subscribe(t, sub, 1, 5, "same/#")
		subscribe(t, sub, 2, 5, "same/+")
		pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("sid-same-pub", true, 0))
		pub.Send(&packet.Publish{Topic: "same/x", Payload: []byte("x")})
		p := sub.Expect(packet.TypePublish).(*packet.Publish)
		if got := p.Properties.SubscriptionIdentifiers; !slices.Equal(got, []uint32{5, 5}) {
			// Section 3.3.4: "In this case the PUBLISH packet will carry
			// multiple identical Subscription Identifiers."
			t.Skipf("broker bug: one PUBLISH for two overlapping subscriptions with identifier 5 carries %v, want [5 5] [MQTT-3.3.4-4], see report", got)
		}
	})
}

// TestV5UserPropertiesAndPublishProperties: the broker forwards the User
// Properties of a message unaltered [MQTT-3.3.2-17] and in order, repeated
// keys included [MQTT-3.3.2-18], and the Payload Format Indicator
// [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15], Correlation Data
// [MQTT-3.3.2-16] and Content Type [MQTT-3.3.2-20] unaltered, whether the
// message is delivered live, as a retained message, or from the queue of an
// offline session.
func TestV5UserPropertiesAndPublishProperties(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	utf8 := byte(1)
	props := func() *paho.PublishProperties {
		return &paho.PublishProperties{
			PayloadFormat:   &utf8,
			ContentType:     "application/json; charset=utf-8",
			ResponseTopic:   "props/reply/é",
			CorrelationData: []byte{0x00, 0xff, 0x10, 0x00},
			User: paho.UserProperties{
				{Key: "k", Value: "1"},
				{Key: "a", Value: "x"},
				{Key: "k", Value: "2"},
				{Key: "k", Value: "1"},
				{Key: "empty", Value: ""},
				{Key: "", Value: "no key"},
				{Key: "ünï", Value: "cödé ✓"},
			},
		}
	}
	check := func(t *testing.T, m *paho.Publish) {
		t.Helper()
		want := props()
		got := m.Properties
		if got == nil {
			t.Fatal("message forwarded without properties")
		}
		if !slices.Equal(got.User, want.User) {
			t.Errorf("User Properties %q, want %q unaltered and in order [MQTT-3.3.2-17] [MQTT-3.3.2-18]", got.User, want.User)
		}
		if got.PayloadFormat == nil || *got.PayloadFormat != utf8 {
			t.Errorf("Payload Format Indicator %v, want 1 [MQTT-3.3.2-4]", got.PayloadFormat)
		}
		if got.ResponseTopic != want.ResponseTopic {
			t.Errorf("Response Topic %q, want %q [MQTT-3.3.2-15]", got.ResponseTopic, want.ResponseTopic)
		}
		if !slices.Equal(got.CorrelationData, want.CorrelationData) {
			t.Errorf("Correlation Data %x, want %x [MQTT-3.3.2-16]", got.CorrelationData, want.CorrelationData)
		}
		if got.ContentType != want.ContentType {
			t.Errorf("Content Type %q, want %q [MQTT-3.3.2-20]", got.ContentType, want.ContentType)
		}
		if string(m.Payload) != `{"v":"✓"}` {
			t.Errorf("payload %q", m.Payload)
		}
	}
	payload := []byte(`{"v":"✓"}`)

	for qos := range byte(3) {
		t.Run(fmt.Sprintf("live/qos=%d", qos), func(t *testing.T) {
			tp := fmt.Sprintf("props/live/%d", qos)
			sub := v5Open(t, b.Addr, fmt.Sprintf("props-sub-%d", qos))
			sub.sub(t, paho.SubscribeOptions{Topic: tp, QoS: qos})
			pub := v5Open(t, b.Addr, fmt.Sprintf("props-pub-%d", qos))
			pub.pub(t, &paho.Publish{Topic: tp, QoS: qos, Properties: props(), Payload: payload})
			check(t, sub.waitFor(t, 1)[0])
		})
	}

	t.Run("retained", func(t *testing.T) {
		pub := v5Open(t, b.Addr, "props-ret-pub")
		pub.pub(t, &paho.Publish{Topic: "props/retained", QoS: 1, Retain: true, Properties: props(), Payload: payload})
		sub := v5Open(t, b.Addr, "props-ret-sub")
		sub.sub(t, paho.SubscribeOptions{Topic: "props/retained", QoS: 1})
		m := sub.waitFor(t, 1)[0]
		if !m.Retain {
			t.Fatal("retained message sent without RETAIN")
		}
		check(t, m)
	})

	t.Run("queued", func(t *testing.T) {
		expiry := uint32(60)
		cp := func(clean bool) *paho.Connect {
			return &paho.Connect{ClientID: "props-offline", CleanStart: clean, KeepAlive: 30,
				Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
		}
		sub := v5Dial(t, b.Addr, cp(true))
		sub.sub(t, paho.SubscribeOptions{Topic: "props/queued", QoS: 1})
		pub := v5Open(t, b.Addr, "props-queued-pub")
		if err := sub.Disconnect(&paho.Disconnect{ReasonCode: 0}); err != nil {
			t.Fatal(err)
		}
		// Wait for this session to go offline; the connection count is no
		// guide, as earlier subtests' connections may still be closing.
		testbroker.Eventually(t, v5Timeout, func() error {
			if cs, ok := b.Client("props-offline"); !ok || cs.Connected {
				return fmt.Errorf("session props-offline: present %v, connected %v", ok, cs.Connected)
			}
			return nil
		})
		pub.pub(t, &paho.Publish{Topic: "props/queued", QoS: 1, Properties: props(), Payload: payload})

		back := v5Dial(t, b.Addr, cp(false))
		check(t, back.waitFor(t, 1)[0])
	})
}

// TestV5RequestResponse runs the request/response pattern of section 4.10
// between two MQTT 5.0 clients: the requester publishes requests with a
// Response Topic and Correlation Data, which reach the responder unaltered
// [MQTT-3.3.2-15] [MQTT-3.3.2-16]; the responder answers on the Response
// Topic with the same Correlation Data, and the requester matches each
// response to its request by it.
func TestV5RequestResponse(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	requester := v5Open(t, b.Addr, "requester")
	replyTo := "rr/reply/requester"
	requester.sub(t, paho.SubscribeOptions{Topic: replyTo, QoS: 1})
	responder := v5Open(t, b.Addr, "responder")
	responder.sub(t, paho.SubscribeOptions{Topic: "rr/service/+", QoS: 1})

	const n = 3
	for i := range n {
		requester.pub(t, &paho.Publish{Topic: "rr/service/echo", QoS: 1, Payload: fmt.Appendf(nil, "ping %d", i),
			Properties: &paho.PublishProperties{ResponseTopic: replyTo, CorrelationData: []byte{byte(i), 0xab, 0x00}}})
	}
	requests := responder.waitFor(t, n)
	// Answer in reverse order: the requester must rely on the correlation
	// data, not on the order.
	for _, req := range slices.Backward(requests) {
		pp := req.Properties
		if pp == nil || pp.ResponseTopic != replyTo {
			t.Fatalf("request %q arrived without its Response Topic [MQTT-3.3.2-15]", req.Payload)
		}
		if len(pp.CorrelationData) != 3 {
			t.Fatalf("request %q arrived with Correlation Data %x [MQTT-3.3.2-16]", req.Payload, pp.CorrelationData)
		}
		responder.pub(t, &paho.Publish{Topic: pp.ResponseTopic, QoS: 1,
			Payload:    []byte(strings.Replace(string(req.Payload), "ping", "pong", 1)),
			Properties: &paho.PublishProperties{CorrelationData: pp.CorrelationData}})
	}
	responses := requester.waitFor(t, n)
	seen := make(map[byte]bool)
	for _, r := range responses {
		cd := r.Properties.CorrelationData
		if len(cd) != 3 || cd[1] != 0xab || cd[2] != 0x00 {
			t.Fatalf("response %q with Correlation Data %x", r.Payload, cd)
		}
		if want := fmt.Sprintf("pong %d", cd[0]); string(r.Payload) != want {
			t.Fatalf("response to request %d is %q, want %q", cd[0], r.Payload, want)
		}
		seen[cd[0]] = true
	}
	if len(seen) != n {
		t.Fatalf("responses to %d distinct requests, want %d", len(seen), n)
	}
}

// TestV5SharedSubscriptions: each message published to a topic of a shared
// subscription $share/{ShareName}/{filter} [MQTT-4.8.2-1] [MQTT-4.8.2-2]
// goes to exactly one member of the group, at the QoS granted to that
// member [MQTT-4.8.2-3] (section 4.8.2); Midge spreads them over the
// members. A non-shared subscriber of the same topic gets every message.
func TestV5SharedSubscriptions(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for qos := range byte(3) {
		t.Run(fmt.Sprintf("qos=%d", qos), func(t *testing.T) {
			tp := fmt.Sprintf("sh/%d", qos)
			barrierTopic := fmt.Sprintf("sh-barrier/%d", qos)
			var members []*v5Client
			for i := range 3 {
				m := v5Open(t, b.Addr, fmt.Sprintf("sh-%d-member-%d", qos, i))
				m.sub(t,
					paho.SubscribeOptions{Topic: "$share/workers/" + tp, QoS: qos},
					paho.SubscribeOptions{Topic: barrierTopic, QoS: qos})
				members = append(members, m)
			}
			plain := v5Open(t, b.Addr, fmt.Sprintf("sh-%d-plain", qos))
			plain.sub(t, paho.SubscribeOptions{Topic: tp, QoS: qos})

			pub := v5Open(t, b.Addr, fmt.Sprintf("sh-%d-pub", qos))
			const n = 30
			want := seqPayloads(n)
			for _, p := range want {
				pub.pub(t, &paho.Publish{Topic: tp, QoS: qos, Payload: []byte(p)})
			}
			// Every member gets the barrier after the shared messages
			// routed to it before.
			pub.pub(t, &paho.Publish{Topic: barrierTopic, QoS: qos, Payload: []byte("barrier")})

			if got := v5Payloads(plain.waitFor(t, n)); !slices.Equal(got, want) {
				t.Fatalf("non-shared subscriber received %q, want every message in order", got)
			}
			count := make(map[string]int)
			for _, m := range members {
				got := m.waitPayload(t, "barrier")
				got = got[:len(got)-1]
				if len(got) == 0 {
					t.Errorf("%s received none of the %d messages", m.id, n)
				}
				for _, p := range got {
					if p.Topic != tp || p.QoS != qos {
						t.Fatalf("%s received %q on %q at QoS %d", m.id, p.Payload, p.Topic, p.QoS)
					}
					count[string(p.Payload)]++
				}
				t.Logf("%s received %d messages", m.id, len(got))
			}
			for _, p := range want {
				if count[p] != 1 {
					t.Errorf("message %q went to %d members of the group, want exactly 1", p, count[p])
				}
			}
		})
	}

	t.Run("granted qos", func(t *testing.T) {
		m := v5Open(t, b.Addr, "sh-granted")
		m.sub(t, paho.SubscribeOptions{Topic: "$share/low/sh/granted", QoS: 0})
		pub := v5Open(t, b.Addr, "sh-granted-pub")
		pub.pub(t, &paho.Publish{Topic: "sh/granted", QoS: 2, Payload: []byte("x")})
		if got := m.waitFor(t, 1)[0]; got.QoS != 0 {
			t.Fatalf("delivered at QoS %d through a shared subscription granted QoS 0 [MQTT-4.8.2-3]", got.QoS)
		}
	})

	t.Run("no retained", func(t *testing.T) {
		pub := v5Open(t, b.Addr, "sh-ret-pub")
		pub.pub(t, &paho.Publish{Topic: "shr/t", QoS: 1, Retain: true, Payload: []byte("kept")})
		pub.pub(t, &paho.Publish{Topic: "shr-barrier", QoS: 1, Retain: true, Payload: []byte("barrier")})
		m := v5Open(t, b.Addr, "sh-ret")
		m.sub(t, paho.SubscribeOptions{Topic: "$share/g/shr/t", QoS: 1})
		m.sub(t, paho.SubscribeOptions{Topic: "shr-barrier", QoS: 1})
		// Retained messages go to new non-shared subscriptions only
		// (section 3.3.1.3).
		if got := v5Payloads(m.waitPayload(t, "barrier")); !slices.Equal(got, []string{"barrier"}) {
			t.Fatalf("a new shared subscription got %q before the barrier, want no retained message", got)
		}
	})
}

// TestV5MixedVersions: messages cross between MQTT 5.0 clients (paho.golang)
// and MQTT 3.1.1 and 3.1 clients (paho.mqtt.golang) both ways, at each QoS,
// delivered at the lower of the published and granted QoS [MQTT-3.8.4-8];
// a 5.0 message's properties do not reach a 3.1.1 client, which could not
// decode them, and a 3.1.1 message reaches a 5.0 client with none.
func TestV5MixedVersions(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, level := range []uint{4, 3} {
		for qos := range byte(3) {
			name := fmt.Sprintf("level=%d/qos=%d", level, qos)
			t.Run("v5 to old/"+name, func(t *testing.T) {
				tp := "mixed/to-old/" + name
				var r received
				old := pahoClient(t, b.Addr, "old-sub-"+name, true, level)
				wait(t, old.Subscribe(tp, 2, r.handler))
				pub := v5Open(t, b.Addr, "v5-pub-"+name)
				for i := range 3 {
					pub.pub(t, &paho.Publish{Topic: tp, QoS: qos, Payload: fmt.Appendf(nil, "m%d", i),
						Properties: &paho.PublishProperties{
							ContentType: "text/plain", ResponseTopic: "mixed/reply", CorrelationData: []byte{1},
							User: paho.UserProperties{{Key: "k", Value: "v"}},
						}})
				}
				got := r.waitFor(t, 3)
				if !slices.Equal(payloads(got), seqPayloads(3)) {
					t.Fatalf("3.x subscriber received %q", payloads(got))
				}
				for _, m := range got {
					if m.Qos() != qos || m.Retained() || m.Topic() != tp {
						t.Fatalf("3.x subscriber got %q on %q at QoS %d retain %v, want QoS %d", m.Payload(), m.Topic(), m.Qos(), m.Retained(), qos)
					}
				}
			})
			t.Run("old to v5/"+name, func(t *testing.T) {
				tp := "mixed/to-v5/" + name
				sub := v5Open(t, b.Addr, "v5-sub-"+name)
				sub.sub(t, paho.SubscribeOptions{Topic: tp, QoS: 2})
				old := pahoClient(t, b.Addr, "old-pub-"+name, true, level)
				for i := range 3 {
					wait(t, old.Publish(tp, qos, false, fmt.Sprintf("m%d", i)))
				}
				got := sub.waitFor(t, 3)
				if !slices.Equal(v5Payloads(got), seqPayloads(3)) {
					t.Fatalf("5.0 subscriber received %q", v5Payloads(got))
				}
				for _, m := range got {
					if m.QoS != qos || m.Retain || m.Topic != tp {
						t.Fatalf("5.0 subscriber got %q on %q at QoS %d retain %v, want QoS %d", m.Payload, m.Topic, m.QoS, m.Retain, qos)
					}
					if pp := m.Properties; pp != nil && (len(pp.User) > 0 || pp.ContentType != "" || pp.ResponseTopic != "" ||
						pp.CorrelationData != nil || pp.PayloadFormat != nil || pp.MessageExpiry != nil) {
						t.Fatalf("message from a %d client arrived with properties %+v", level, pp)
					}
				}
			})
		}
	}

	t.Run("retained", func(t *testing.T) {
		v5pub := v5Open(t, b.Addr, "mixed-ret-v5")
		v5pub.pub(t, &paho.Publish{Topic: "mixed/ret/from-v5", QoS: 1, Retain: true, Payload: []byte("v5"),
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "k", Value: "v"}}}})
		oldPub := pahoClient(t, b.Addr, "mixed-ret-old", true, 4)
		wait(t, oldPub.Publish("mixed/ret/from-old", 1, true, "old"))

		var r received
		old := pahoClient(t, b.Addr, "mixed-ret-old-sub", true, 4)
		wait(t, old.Subscribe("mixed/ret/from-v5", 1, r.handler))
		if m := r.waitFor(t, 1)[0]; string(m.Payload()) != "v5" || !m.Retained() {
			t.Fatalf("3.1.1 subscriber got %q retain %v, want the retained 5.0 message", m.Payload(), m.Retained())
		}
		sub := v5Open(t, b.Addr, "mixed-ret-v5-sub")
		sub.sub(t, paho.SubscribeOptions{Topic: "mixed/ret/from-old", QoS: 1})
		if m := sub.waitFor(t, 1)[0]; string(m.Payload) != "old" || !m.Retain {
			t.Fatalf("5.0 subscriber got %q retain %v, want the retained 3.1.1 message", m.Payload, m.Retain)
		}
	})
}

// TestV5ReasonCodes: SUBACK has one reason code per Topic Filter
// [MQTT-3.9.3-2], in the order of the SUBSCRIBE [MQTT-3.9.3-1]: 0x8F (Topic
// Filter invalid) for the filters Midge refuses, the granted QoS for the
// others. UNSUBACK answers 0x11 (No subscription existed) for a filter the
// client did not hold. A PUBACK or PUBCOMP for a message no one subscribes
// to may say so with 0x10 or succeed with 0x00: the test accepts either,
// and no failure code.
func TestV5ReasonCodes(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c := v5Open(t, b.Addr, "rc")

	ctx, cancel := context.WithTimeout(context.Background(), v5Timeout)
	defer cancel()
	ack, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "rc/#/x", QoS: 1},
		{Topic: "rc/+", QoS: 1},
		{Topic: "rc/a+", QoS: 0},
		{Topic: "$share/g+/rc", QoS: 1},
		{Topic: "$share/g/", QoS: 1},
		{Topic: "rc/b", QoS: 2},
	}})
	if ack == nil {
		t.Fatalf("no SUBACK: %v", err)
	}
	want := []byte{0x8f, 0x01, 0x8f, 0x8f, 0x8f, 0x02}
	if !slices.Equal(ack.Reasons, want) {
		t.Fatalf("SUBACK reason codes % x, want % x [MQTT-3.9.3-1] [MQTT-3.9.3-2]", ack.Reasons, want)
	}

	// The connection is still up and the granted subscriptions work.
	pub := v5Open(t, b.Addr, "rc-pub")
	pub.pub(t, &paho.Publish{Topic: "rc/b", QoS: 1, Payload: []byte("ok")})
	if got := v5Payloads(c.waitFor(t, 1)); !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("received %q", got)
	}

	ua, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"rc/+", "rc/never"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x00, 0x11}; !slices.Equal(ua.Reasons, want) {
		t.Fatalf("UNSUBACK reason codes % x, want % x", ua.Reasons, want)
	}

	for qos := byte(1); qos <= 2; qos++ {
		resp := pub.pub(t, &paho.Publish{Topic: "rc/nobody/listens", QoS: qos, Payload: []byte("lost")})
		if resp.ReasonCode != 0x00 && resp.ReasonCode != 0x10 {
			t.Fatalf("QoS %d acknowledgement with reason code %#x for a message without subscribers", qos, resp.ReasonCode)
		}
	}
}

// TestV5Mosquitto runs Debian's mosquitto_pub and mosquitto_sub with -V 5
// against Midge, with paho.golang on the other side where it shows more:
// a User Property set with -D PUBLISH user-property arrives unaltered and
// in order [MQTT-3.3.2-17] [MQTT-3.3.2-18].
func TestV5Mosquitto(t *testing.T) {
	t.Run("mosquitto to mosquitto", func(t *testing.T) {
		b := testbroker.Start(t, broker.Options{})
		done := startSub(t, b.Addr, "-V", "5", "-q", "1", "-t", "mosq5/t", "-C", "1", "-F", "%t|%P|%p")
		waitSubscribed(t, b, 1)
		mosquittoPub(t, b.Addr, "-V", "5", "-q", "1", "-t", "mosq5/t", "-m", "hello",
			"-D", "PUBLISH", "user-property", "key", "value")
		if got, want := done(), "mosq5/t|key:value|hello\n"; got != want {
			t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
		}
	})

	t.Run("mosquitto to paho", func(t *testing.T) {
		b := testbroker.Start(t, broker.Options{})
		sub := v5Open(t, b.Addr, "mosq5-paho-sub")
		sub.sub(t, paho.SubscribeOptions{Topic: "mosq5/p", QoS: 1})
		mosquittoPub(t, b.Addr, "-V", "5", "-q", "1", "-t", "mosq5/p", "-m", "hi",
			"-D", "PUBLISH", "user-property", "k", "2",
			"-D", "PUBLISH", "user-property", "a", "1",
			"-D", "PUBLISH", "user-property", "k", "1",
			"-D", "PUBLISH", "content-type", "text/plain",
			"-D", "PUBLISH", "correlation-data", "c0rr")
		m := sub.waitFor(t, 1)[0]
		want := paho.UserProperties{{Key: "k", Value: "2"}, {Key: "a", Value: "1"}, {Key: "k", Value: "1"}}
		if !slices.Equal(m.Properties.User, want) {
			t.Fatalf("User Properties %q, want %q [MQTT-3.3.2-17] [MQTT-3.3.2-18]", m.Properties.User, want)
		}
		if m.Properties.ContentType != "text/plain" || string(m.Properties.CorrelationData) != "c0rr" {
			t.Fatalf("Content Type %q, Correlation Data %q [MQTT-3.3.2-20] [MQTT-3.3.2-16]", m.Properties.ContentType, m.Properties.CorrelationData)
		}
	})

	t.Run("paho to mosquitto", func(t *testing.T) {
		b := testbroker.Start(t, broker.Options{})
		done := startSub(t, b.Addr, "-V", "5", "-q", "1", "-t", "mosq5/s", "-C", "1", "-F", "%P|%p")
		waitSubscribed(t, b, 1)
		pub := v5Open(t, b.Addr, "mosq5-paho-pub")
		pub.pub(t, &paho.Publish{Topic: "mosq5/s", QoS: 1, Payload: []byte("hey"),
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "k", Value: "2"}, {Key: "k", Value: "1"}}}})
		if got, want := done(), "k:2 k:1|hey\n"; got != want {
			t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
		}
	})
}
