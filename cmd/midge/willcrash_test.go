package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/packet"
)

// willBroker runs the midge binary on one address and data directory
// across kills and restarts.
type willBroker struct {
	t    *testing.T
	addr string
	cfg  string
	p    *proc
}

// startWillBroker starts midge with a new data directory and the extra
// configuration lines extra.
func startWillBroker(t *testing.T, extra string) *willBroker {
	t.Helper()
	dir := t.TempDir()
	b := &willBroker{t: t, addr: freeAddr(t), cfg: filepath.Join(dir, "midge.toml")}
	conf := fmt.Sprintf("data_dir = %q\nlog_level = \"warn\"\n%s[[listener]]\naddress = %q\n",
		filepath.Join(dir, "data"), extra, b.addr)
	if err := os.WriteFile(b.cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start()
	return b
}

func (b *willBroker) start() {
	b.t.Helper()
	b.p = startMidge(b.t, "serve", "--config", b.cfg)
	dialMidge(b.t, b.p, b.addr).Close()
}

// kill ends the process with SIGKILL and waits for it.
func (b *willBroker) kill() {
	b.t.Helper()
	b.p.cmd.Process.Signal(syscall.SIGKILL)
	b.p.wait(b.t, 10)
}

// watcher connects the persistent 5.0 session "watcher", which takes the
// wills of will/# at QoS 1 and so keeps those published while it is away.
// The first connection starts the session, subscribes and goes away.
func (b *willBroker) watcher(first bool) *mqtttest.Conn {
	b.t.Helper()
	p := &packet.Connect{ClientID: "watcher", CleanStart: first}
	p.Properties.SessionExpiryInterval, p.Properties.HasSessionExpiryInterval = 3600, true
	c, _ := mqtttest.Connect(b.t, b.addr, packet.V5, p)
	if first {
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "will/#", QoS: 1}}})
		c.Expect(packet.TypeSuback)
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(5 * time.Second)
	}
	return c
}

// willClient connects a client with the will "will/<id>" at QoS 1. v5Expiry
// and delay are the 5.0 Session Expiry and Will Delay Intervals; a 3.1.1
// client has a clean session when clean is set. It returns once the will
// is in the store: the SUBACK of a subscription waits for everything the
// broker wrote before it.
func (b *willBroker) willClient(v packet.Version, id string, clean bool, v5Expiry, delay uint32) *mqtttest.Conn {
	b.t.Helper()
	p := &packet.Connect{ClientID: id, CleanStart: clean,
		Will: &packet.Will{Topic: "will/" + id, Payload: []byte(id), QoS: 1}}
	if v == packet.V5 {
		p.Properties.SessionExpiryInterval, p.Properties.HasSessionExpiryInterval = v5Expiry, v5Expiry > 0
		p.Will.Properties.WillDelayInterval, p.Will.Properties.HasWillDelayInterval = delay, delay > 0
	}
	c, _ := mqtttest.Connect(b.t, b.addr, v, p)
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "barrier/" + id}}})
	c.Expect(packet.TypeSuback)
	return c
}

// expectWills reads wills from w, acknowledging each, until it has one of
// each topic of want, within d, and returns when each came. A will that
// comes twice, or one not wanted, fails the test.
func expectWills(t *testing.T, w *mqtttest.Conn, want []string, d time.Duration) map[string]time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	at := make(map[string]time.Time)
	for len(at) < len(want) {
		p, err := w.Read(time.Until(deadline))
		if err != nil {
			t.Fatalf("have wills %v, want %v: %v", at, want, err)
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			t.Fatalf("got %s, want a will", p.Type())
		}
		if _, dup := at[pub.Topic]; dup || !slices.Contains(want, pub.Topic) {
			t.Fatalf("got will %q, want each of %v once", pub.Topic, want)
		}
		at[pub.Topic] = time.Now()
		w.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: pub.PacketID})
	}
	return at
}

// TestWillDelayAfterCrash kills the broker with SIGKILL while a 5.0 client
// with a 2 s Will Delay Interval is connected. The restarted broker cannot
// know when the connection really broke, so it counts the delay from its
// start: the will comes no sooner than 2 s after the restart, and it does
// come [MQTT-3.1.2-8] [MQTT-3.1.3-9].
func TestWillDelayAfterCrash(t *testing.T) {
	b := startWillBroker(t, "")
	b.watcher(true)
	b.willClient(packet.V5, "dev", false, 3600, 2)
	b.kill()

	restartAt := time.Now()
	b.start()
	w := b.watcher(false)
	at := expectWills(t, w, []string{"will/dev"}, 15*time.Second)
	if d := at["will/dev"].Sub(restartAt); d < 2*time.Second {
		t.Fatalf("will published %s after the restart, before its 2 s delay", d)
	}
	w.ExpectNothing(300 * time.Millisecond)
}

// TestCleanSessionWillAfterCrash kills the broker with SIGKILL while
// clients whose sessions end with their connections (3.1.1 Clean Session,
// 5.0 Session Expiry Interval 0) are connected: for them the connection
// closed without DISCONNECT, and the restarted broker publishes their
// wills, once [MQTT-3.1.2-8].
func TestCleanSessionWillAfterCrash(t *testing.T) {
	b := startWillBroker(t, "")
	b.watcher(true)
	b.willClient(packet.V311, "c311", true, 0, 0)
	b.willClient(packet.V5, "c5", true, 0, 30)
	b.kill()

	b.start()
	w := b.watcher(false)
	expectWills(t, w, []string{"will/c311", "will/c5"}, 10*time.Second)
	w.ExpectNothing(300 * time.Millisecond)

	// And not again after another crash, once what the broker wrote is
	// durable (the SUBACK waits for it).
	w.Send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "barrier/watcher"}}})
	w.Expect(packet.TypeSuback)
	w.Close()
	b.kill()
	b.start()
	w = b.watcher(false)
	w.ExpectNothing(500 * time.Millisecond)
}

// TestWillDiscardedBeforeCrash: a client sends DISCONNECT, which discards
// its will [MQTT-3.14.4-3], waits for the broker to close the socket, and
// the broker is killed with SIGKILL at once. The restarted broker must not
// publish the will: its removal was durable before the close. The long
// commit interval makes the removal wait for its commit.
func TestWillDiscardedBeforeCrash(t *testing.T) {
	b := startWillBroker(t, "commit_interval = \"200ms\"\n")
	b.watcher(true)
	tests := []struct {
		name     string
		version  packet.Version
		clean    bool
		v5Expiry uint32
		delay    uint32
	}{
		{name: "3.1.1 persistent", version: packet.V311},
		{name: "3.1.1 clean", version: packet.V311, clean: true},
		{name: "5.0 persistent delayed", version: packet.V5, v5Expiry: 3600, delay: 1},
		{name: "5.0 ends with connection", version: packet.V5, clean: true},
	}
	for _, tc := range tests {
		c := b.willClient(tc.version, "dev", tc.clean, tc.v5Expiry, tc.delay)
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(5 * time.Second)
		b.kill()
		b.start()
		w := b.watcher(false)
		if p, err := w.Read(1500 * time.Millisecond); err == nil {
			t.Fatalf("%s: got %s %+v after the crash, want nothing", tc.name, p.Type(), p)
		} else if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w.Close()
	}
}
