package broker_test

import (
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

func TestAdminAPI(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "dev", CleanStart: true, KeepAlive: 30,
		UsernameFlag: true, Username: "u"})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "b/#", QoS: 1}, {Filter: "a", QoS: 0}}})
	c.Expect(packet.TypeSuback)
	c.Send(&packet.Publish{Topic: "keep/1", Retain: true, Payload: []byte("1")})
	c.Send(&packet.Publish{Topic: "keep/2", Retain: true, Payload: []byte("2")})

	testbroker.Eventually(t, 2*time.Second, func() error {
		if len(b.RetainedMessages("keep/#", 0)) != 2 {
			return errNotYet
		}
		return nil
	})
	cs, ok := b.Client("dev")
	if !ok || !cs.Connected || cs.Username != "u" || cs.Version != "5.0" || cs.KeepAlive != 30 ||
		len(cs.Subscriptions) != 2 || cs.Subscriptions[0].Filter != "a" {
		t.Fatalf("snapshot %+v", cs)
	}
	if all := b.Clients(); len(all) != 1 || all[0].ClientID != "dev" {
		t.Fatalf("Clients() = %+v", all)
	}
	if got := b.RetainedMessages("keep/#", 1); len(got) != 1 {
		t.Fatalf("limit 1 gave %d", len(got))
	}
	if !b.DeleteRetained("keep/1") || b.DeleteRetained("keep/none") {
		t.Fatal("DeleteRetained reports wrongly")
	}
	if got := b.RetainedMessages("keep/#", 0); len(got) != 1 || got[0].Topic != "keep/2" {
		t.Fatalf("after delete: %v", got)
	}
	if !b.Disconnect("dev") || b.Disconnect("nobody") {
		t.Fatal("Disconnect reports wrongly")
	}
	if d := c.Expect(packet.TypeDisconnect).(*packet.Disconnect); d.ReasonCode != packet.AdministrativeAction {
		t.Fatalf("DISCONNECT %v", d.ReasonCode)
	}
	c.ExpectClosed(2 * time.Second)
}
