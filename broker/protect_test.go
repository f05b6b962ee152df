package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestTopicLimits refuses topic names and filters over MaxTopicLevels
// levels or MaxTopicLength bytes: a 5.0 PUBLISH with Topic Name invalid
// (0x90) in its acknowledgement, a subscription with Topic Filter invalid
// (0x8F; 0x80 for 3.1.1), a will with CONNACK 0x90. The connection stays up
// and topics within the limits pass.
func TestTopicLimits(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxTopicLevels: 4, MaxTopicLength: 64})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "deep", CleanStart: true})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: "a/b/c/d", QoS: 1},          // 4 levels: fine
		{Filter: "a/b/c/d/e", QoS: 1},        // 5 levels
		{Filter: "$share/g/a/b/c/+", QoS: 1}, // the group is not a level
		{Filter: "$share/g/a/b/c/d/#", QoS: 1},
		{Filter: strings.Repeat("x", 65), QoS: 1},
	}})
	got := c.Expect(packet.TypeSuback).(*packet.Suback).ReasonCodes
	want := []packet.ReasonCode{packet.GrantedQoS1, packet.TopicFilterInvalid, packet.GrantedQoS1, packet.TopicFilterInvalid, packet.TopicFilterInvalid}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("SUBACK %v, want %v", got, want)
	}
	for i, topicName := range []string{"a/b/c/d/e", strings.Repeat("y", 65), strings.Repeat("/", 40000)} {
		c.Send(&packet.Publish{Topic: topicName, QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
		ack := c.Expect(packet.TypePuback).(*packet.Ack)
		if ack.ReasonCode != packet.TopicNameInvalid || ack.Properties.ReasonString == "" {
			t.Fatalf("PUBLISH to a topic of %d bytes: PUBACK %v %q, want TopicNameInvalid with a reason", len(topicName), ack.ReasonCode, ack.Properties.ReasonString)
		}
	}
	c.Send(&packet.Publish{Topic: "a/b/c/d", QoS: 1, PacketID: 9, Payload: []byte("fits")})
	// A PUBACK and two deliveries (the plain and the shared subscription),
	// in any order.
	var acks, delivered int
	for _, p := range readPackets(t, c, 3) {
		switch p := p.(type) {
		case *packet.Ack:
			if p.ReasonCode.IsError() {
				t.Fatalf("PUBLISH within the limits: PUBACK %v", p.ReasonCode)
			}
			acks++
		case *packet.Publish:
			if string(p.Payload) != "fits" {
				t.Fatalf("delivered %q", p.Payload)
			}
			c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
			delivered++
		}
	}
	if acks != 1 || delivered != 2 {
		t.Fatalf("%d PUBACKs and %d deliveries, want 1 and 2", acks, delivered)
	}

	old, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "deep311", CleanStart: true})
	old.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/b/c/d/e", QoS: 0}}})
	if rc := old.Expect(packet.TypeSuback).(*packet.Suback).ReasonCodes; len(rc) != 1 || !rc[0].IsError() {
		t.Fatalf("3.1.1 SUBACK %v, want failure 0x80", rc)
	}

	w := mqtttest.Dial(t, b.Addr, packet.V5)
	w.Send(&packet.Connect{Version: packet.V5, ClientID: "will", CleanStart: true,
		Will: &packet.Will{Topic: "w/1/2/3/4/5", Payload: []byte("bye")}})
	if ack := w.Expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode != packet.TopicNameInvalid {
		t.Fatalf("CONNACK %v for a will topic over the limit, want TopicNameInvalid", ack.ReasonCode)
	}
	w.ExpectClosed(2 * time.Second)
	// Three filters, three topic names, the 3.1.1 filter and the will.
	if n := b.Stats().Dropped["topic_limit"]; n != 8 {
		t.Fatalf("topic_limit drops = %d, want 8", n)
	}
}

// TestMaxSubscriptions refuses a new subscription over the session's limit
// with Quota exceeded (0x97), while re-subscribing to a held filter still
// works.
func TestMaxSubscriptions(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxSubscriptions: 2})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "many", CleanStart: true})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: "s/1", QoS: 0}, {Filter: "s/2", QoS: 0}, {Filter: "s/3", QoS: 0}, {Filter: "s/1", QoS: 1},
	}})
	got := c.Expect(packet.TypeSuback).(*packet.Suback).ReasonCodes
	want := []packet.ReasonCode{packet.GrantedQoS0, packet.GrantedQoS0, packet.QuotaExceeded, packet.GrantedQoS1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("SUBACK %v, want %v", got, want)
	}
	c.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"s/2"}})
	c.Expect(packet.TypeUnsuback)
	c.Send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "s/3", QoS: 0}}})
	if rc := c.Expect(packet.TypeSuback).(*packet.Suback).ReasonCodes; rc[0] != packet.GrantedQoS0 {
		t.Fatalf("SUBACK %v after an unsubscribe made room", rc)
	}
	if n := b.Stats().Dropped["subscription_limit"]; n != 1 {
		t.Fatalf("subscription_limit drops = %d, want 1", n)
	}
}

// TestMaxUserProperties refuses a PUBLISH with more user properties than
// MaxUserProperties (0x83 in its acknowledgement, no Reason String when
// the client asked for no problem information [MQTT-3.1.2-29]) and a
// CONNECT whose will carries too many.
func TestMaxUserProperties(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxUserProperties: 3})
	props := func(n int) []packet.UserProperty {
		u := make([]packet.UserProperty, n)
		for i := range u {
			u[i] = packet.UserProperty{Key: "k", Value: fmt.Sprint(i)}
		}
		return u
	}
	con := &packet.Connect{ClientID: "props", CleanStart: true}
	con.Properties.HasRequestProblemInformation, con.Properties.RequestProblemInformation = true, 0
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, con)
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "p", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	over := &packet.Publish{Topic: "p", QoS: 2, PacketID: 1, Payload: []byte("over")}
	over.Properties.UserProperties = props(4)
	c.Send(over)
	ack := c.Expect(packet.TypePubrec).(*packet.Ack)
	if ack.ReasonCode != packet.ImplementationSpecificError || ack.Properties.ReasonString != "" {
		t.Fatalf("PUBREC %v %q, want ImplementationSpecificError without a Reason String", ack.ReasonCode, ack.Properties.ReasonString)
	}
	ok := &packet.Publish{Topic: "p", QoS: 1, PacketID: 2, Payload: []byte("ok")}
	ok.Properties.UserProperties = props(3)
	c.Send(ok)
	for _, p := range readPackets(t, c, 2) {
		if pub, isPub := p.(*packet.Publish); isPub && (string(pub.Payload) != "ok" || len(pub.Properties.UserProperties) != 3) {
			t.Fatalf("delivered %q with %d user properties", pub.Payload, len(pub.Properties.UserProperties))
		}
	}

	w := mqtttest.Dial(t, b.Addr, packet.V5)
	wc := &packet.Connect{Version: packet.V5, ClientID: "props-will", CleanStart: true, Will: &packet.Will{Topic: "w", Payload: []byte("bye")}}
	wc.Will.Properties.UserProperties = props(4)
	w.Send(wc)
	if ack := w.Expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode != packet.ImplementationSpecificError {
		t.Fatalf("CONNACK %v, want ImplementationSpecificError", ack.ReasonCode)
	}
	w.ExpectClosed(2 * time.Second)
}

// fromAddr is a listener whose connections seem to come from one address,
// as connections from the internet would (the broker's own tests can only
// dial loopback addresses, which the connection rate limit leaves alone).
type fromAddr struct {
	net.Listener
	remote net.Addr
}

func (l fromAddr) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return remoteConn{c, l.remote}, nil
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

// TestConnectRate closes connections from one address beyond
// MaxConnectRate per second (bursts of twice that), counting them, while
// loopback clients are not limited.
func TestConnectRate(t *testing.T) {
	srv, err := broker.New(broker.Options{MaxConnectRate: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	go srv.Serve(fromAddr{l, remote})
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(plain)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})

	accepted, refused := 0, 0
	for i := range 12 {
		c := mqtttest.Dial(t, l.Addr().String(), packet.V311)
		c.Send(&packet.Connect{Version: packet.V311, ClientID: fmt.Sprint("rate-", i), CleanStart: true})
		if _, err := c.Read(2 * time.Second); err == nil {
			accepted++
		} else {
			refused++
		}
	}
	// A burst of 4, and 2 more per second for however long the loop took.
	if accepted < 4 || refused == 0 {
		t.Fatalf("%d accepted, %d refused; want at least the burst of 4 accepted and some refused", accepted, refused)
	}
	// The drop is counted just after the close that the client saw.
	testbroker.Eventually(t, 2*time.Second, func() error {
		if n := srv.Stats().Dropped["connect_rate"]; n != int64(refused) {
			return fmt.Errorf("connect_rate drops = %d, want %d", n, refused)
		}
		return nil
	})
	for i := range 12 {
		mqtttest.Connect(t, plain.Addr().String(), packet.V311, &packet.Connect{ClientID: fmt.Sprint("local-", i), CleanStart: true})
	}
}

// TestPublishRate holds a client that publishes faster than MaxPublishRate
// back by reading it more slowly: nothing is dropped, every message
// arrives, and the throttling is counted.
func TestPublishRate(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxPublishRate: 20, MaxPublishBandwidth: 4096})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "rate-sub", CleanStart: true})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "r", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "rate-pub", CleanStart: true})
	const n = 30
	for i := range n {
		pub.Send(&packet.Publish{Topic: "r", QoS: 0, Payload: []byte{byte(i)}})
	}
	for i := range n {
		p, err := sub.Read(5 * time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m := p.(*packet.Publish); m.Payload[0] != byte(i) {
			t.Fatalf("message %d has payload %d", i, m.Payload[0])
		}
	}
	if st := b.Stats(); st.Throttled == 0 {
		t.Fatal("30 messages at once from a client allowed 20/s: no throttling counted")
	}
	// Bandwidth alone: 4096 bytes/s lets two 3000-byte messages through
	// only one at a time.
	big := make([]byte, 3000)
	before := b.Stats().Throttled
	for range 2 {
		pub.Send(&packet.Publish{Topic: "r", QoS: 0, Payload: big})
	}
	for range 2 {
		if _, err := sub.Read(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if b.Stats().Throttled == before {
		t.Fatal("6000 bytes at once from a client allowed 4096 bytes/s: no throttling counted")
	}
}

// readPackets reads n packets from c, failing the test if they do not come.
func readPackets(t *testing.T, c *mqtttest.Conn, n int) []packet.Packet {
	t.Helper()
	out := make([]packet.Packet, 0, n)
	for range n {
		p, err := c.Read(2 * time.Second)
		if err != nil {
			t.Fatalf("packet %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, p)
	}
	return out
}

// backendDown is an authenticator whose backend cannot be reached for the
// user "outage".
type backendDown struct{}

func (backendDown) Authenticate(_ context.Context, c *broker.ClientInfo, _ []byte) error {
	if c.Username == "outage" {
		return &packet.ReasonError{Code: packet.ServerUnavailable, Msg: "backend down"}
	}
	return nil
}

// TestBackendOutageDoesNotBan: refusals with Server unavailable (an
// authentication backend that is down) do not count towards the ban of an
// address; only refused credentials do.
func TestBackendOutageDoesNotBan(t *testing.T) {
	b := testbroker.Start(t, broker.Options{Authenticator: backendDown{}, AuthFailureLimit: 2})
	for i := range 4 {
		c := mqtttest.Dial(t, b.Addr, packet.V311)
		c.Send(&packet.Connect{Version: packet.V311, ClientID: fmt.Sprint("retry-", i), UsernameFlag: true, Username: "outage", CleanStart: true})
		if ack := c.Expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode != packet.ServerUnavailable {
			t.Fatalf("attempt %d: CONNACK %v, want ServerUnavailable", i, ack.ReasonCode)
		}
	}
	mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "after", UsernameFlag: true, Username: "fine", CleanStart: true})
}
