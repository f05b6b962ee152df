package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
)

// ownTopics lets root do everything and every other user use the topics
// under its own user name.
type ownTopics struct{}

func (ownTopics) Authorize(_ context.Context, c *broker.ClientInfo, _ broker.Action, t string) bool {
	return c.Username == "root" || (c.Username != "" && strings.HasPrefix(t, c.Username+"/"))
}

// userConnect is a 3.1.1 CONNECT with Clean Session 0 of user with the
// client id "shared".
func userConnect(user string) *packet.Connect {
	return &packet.Connect{ClientID: "shared", Username: user, UsernameFlag: true}
}

// TestSessionOfAnotherUser: the Authorizer is asked when a client
// subscribes, not for each message, so a session is not handed to a client
// with another user name. bob, connecting with the client id of alice's
// persistent session, must not get its subscription to alice/# nor the
// messages queued for it: he gets a new session, with Session Present 0.
// alice herself resumes it, also after a restart.
func TestSessionOfAnotherUser(t *testing.T) {
	for _, ts := range testStores() {
		t.Run(ts.name, func(t *testing.T) { testSessionOfAnotherUser(t, ts) })
	}
}

func testSessionOfAnotherUser(t *testing.T, ts testStore) {
	st := ts.open(t)
	b1 := testbroker.Start(t, broker.Options{Store: st, Authorizer: ownTopics{}})
	root, _ := mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "root", CleanStart: true,
		Username: "root", UsernameFlag: true})
	publish := func(c *mqtttest.Conn, id uint16, payload string) {
		t.Helper()
		c.Send(&packet.Publish{Topic: "alice/diary", QoS: 1, PacketID: id, Payload: []byte(payload)})
		c.Expect(packet.TypePuback)
	}
	leave := func(c *mqtttest.Conn) {
		t.Helper()
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(5 * time.Second) // the session is offline once the broker closes
	}

	alice, _ := mqtttest.Connect(t, b1.Addr, packet.V311, userConnect("alice"))
	alice.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "alice/#", QoS: 1}}})
	if ack := alice.Expect(packet.TypeSuback).(*packet.Suback); ack.ReasonCodes[0] != packet.GrantedQoS1 {
		t.Fatalf("alice's SUBACK %v", ack.ReasonCodes)
	}
	leave(alice)
	publish(root, 1, "queued for alice")
	alice, ack := mqtttest.Connect(t, b1.Addr, packet.V311, userConnect("alice"))
	if !ack.SessionPresent {
		t.Fatal("alice did not resume her own session")
	}
	p := alice.Expect(packet.TypePublish).(*packet.Publish)
	if string(p.Payload) != "queued for alice" {
		t.Fatalf("alice got %q", p.Payload)
	}
	alice.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	leave(alice)
	publish(root, 2, "queued for alice again")

	// After a restart the session still knows its user.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b2 := testbroker.Start(t, broker.Options{Store: ts.reopen(t, st), Authorizer: ownTopics{}})
	bob, ack := mqtttest.Connect(t, b2.Addr, packet.V311, userConnect("bob"))
	if ack.SessionPresent {
		t.Fatal("bob resumed alice's session")
	}
	root, _ = mqtttest.Connect(t, b2.Addr, packet.V311, &packet.Connect{ClientID: "root", CleanStart: true,
		Username: "root", UsernameFlag: true})
	publish(root, 3, "live for alice")
	// Neither the queued message nor the live one reaches bob.
	bob.ExpectNothing(200 * time.Millisecond)
	leave(bob)
	if _, ack := mqtttest.Connect(t, b2.Addr, packet.V311, userConnect("alice")); ack.SessionPresent {
		t.Fatal("alice resumed the session bob made")
	}
}

// TestSessionOfUnknownUser: a session record written before the user name
// was kept can be resumed by any client, which then owns it.
func TestSessionOfUnknownUser(t *testing.T) {
	st := memory.New()
	var b store.Batch
	b.Set(store.Sessions, "shared", []byte(`{"client_id":"shared","subscriptions":[{"client_id":"shared",`+
		`"filter":"carol/#","qos":1}],"expiry_interval":4294967295}`))
	if err := st.Apply(&b, true); err != nil {
		t.Fatal(err)
	}
	srv := testbroker.Start(t, broker.Options{Store: st, Authorizer: ownTopics{}})
	carol, ack := mqtttest.Connect(t, srv.Addr, packet.V311, userConnect("carol"))
	if !ack.SessionPresent {
		t.Fatal("an old record's session was not resumed")
	}
	carol.Send(&packet.Disconnect{})
	carol.ExpectClosed(5 * time.Second)
	if _, ack := mqtttest.Connect(t, srv.Addr, packet.V311, userConnect("dave")); ack.SessionPresent {
		t.Fatal("dave resumed the session carol owns")
	}
}
