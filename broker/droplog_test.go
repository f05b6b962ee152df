package broker_test

import (
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

// TestDropsLogged checks that what a limit drops is logged as well as
// counted: the first drop of each reason writes a warning naming the reason
// and who it hit, the client id or, before CONNECT, the remote address.
func TestDropsLogged(t *testing.T) {
	var logs syncBuffer
	b := testbroker.Start(t, broker.Options{
		Logger:         slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MaxConnections: 3,
		ConnectTimeout: 2 * time.Second,
		MaxPacketSize:  1024,
		MaxQueued:      1,
	})

	// queue_full: an offline session with room for one message gets two.
	away, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "away"})
	away.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q", QoS: 1}}})
	away.Expect(packet.TypeSuback)
	away.Send(&packet.Disconnect{})
	away.ExpectClosed(5 * time.Second)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for id := uint16(1); id <= 2; id++ {
		pub.Send(&packet.Publish{QoS: 1, PacketID: id, Topic: "q", Payload: []byte("m")})
		pub.Expect(packet.TypePuback)
	}

	// packet_too_large: a PUBLISH over 1024 bytes.
	big, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "big", CleanStart: true})
	big.Send(&packet.Publish{Topic: "big", Payload: make([]byte, 2000)})
	big.ExpectClosed(5 * time.Second)

	// connect_timeout: a connection that never sends CONNECT.
	silent, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentAddr := silent.LocalAddr().String()

	// max_connections: pub and silent are open; a third gets in, a fourth not.
	mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "third", CleanStart: true})
	refused, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refusedAddr := refused.LocalAddr().String()

	want := map[string]string{
		"queue_full":       `"client_id":"away"`,
		"packet_too_large": `"client_id":"big"`,
		"connect_timeout":  `"remote":"` + silentAddr + `"`,
		"max_connections":  `"remote":"` + refusedAddr + `"`,
	}
	testbroker.Eventually(t, 10*time.Second, func() error {
		for reason, who := range want {
			found := false
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, `"msg":"dropped"`) && strings.Contains(line, `"reason":"`+reason+`"`) &&
					strings.Contains(line, who) {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("no drop line for %s with %s in\n%s", reason, who, logs.String())
			}
		}
		return nil
	})
	for reason := range want {
		if n := b.Stats().Dropped[reason]; n != 1 {
			t.Errorf("Dropped[%s] = %d, want 1", reason, n)
		}
	}
}
