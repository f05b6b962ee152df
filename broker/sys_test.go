package broker_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestSysTopics reads the broker's $SYS figures with a real client and
// checks that they follow the traffic; a '#' subscription does not get
// them [MQTT-4.7.2-1].
func TestSysTopics(t *testing.T) {
	b := testbroker.Start(t, broker.Options{SysInterval: 50 * time.Millisecond, Version: "midge test"})
	all, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "all", CleanStart: true})
	all.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#"}}})
	all.Expect(packet.TypeSuback)

	sys, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sys", CleanStart: true})
	sys.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$SYS/broker/#"}}})
	sys.Expect(packet.TypeSuback)
	latest := map[string]string{}
	read := func(until func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !until() {
			if time.Now().After(deadline) {
				t.Fatalf("$SYS figures never got there: %v", latest)
			}
			p, err := sys.Read(time.Second)
			if err != nil {
				continue
			}
			if pub, ok := p.(*packet.Publish); ok {
				latest[pub.Topic] = string(pub.Payload)
			}
		}
	}
	num := func(topic string) int {
		v, _ := strconv.Atoi(latest["$SYS/broker/"+topic])
		return v
	}
	read(func() bool { return latest["$SYS/broker/version"] == "midge test" && num("clients/connected") == 2 })
	if !strings.HasSuffix(latest["$SYS/broker/uptime"], " seconds") {
		t.Fatalf("uptime %q", latest["$SYS/broker/uptime"])
	}
	// Traffic moves the counters.
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 5 {
		pub.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
		pub.Expect(packet.TypePuback)
	}
	read(func() bool {
		return num("clients/connected") == 3 && num("messages/received") >= 5 && num("clients/maximum") >= 3
	})
	for _, topic := range []string{"load/messages/received/1min", "bytes/sent", "subscriptions/count", "retained messages/count"} {
		if _, ok := latest["$SYS/broker/"+topic]; !ok {
			t.Errorf("no $SYS/broker/%s", topic)
		}
	}
	// The '#' subscriber saw the five messages and no $SYS topic.
	for range 5 {
		if p := all.Expect(packet.TypePublish).(*packet.Publish); strings.HasPrefix(p.Topic, "$") {
			t.Fatalf("'#' got %q", p.Topic)
		}
	}
	if p, err := all.Read(200 * time.Millisecond); err == nil {
		t.Fatalf("'#' got %v", fmt.Sprint(p))
	}
}
