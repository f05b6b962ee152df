package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/packet"
)

// TestE2EDurabilityNoneWritesBehind kills a broker in durability "none"
// with SIGKILL a while after its last write: the write is on disk, as the
// store syncs within a second of a commit it did not sync. Pebble keeps
// an unsynced write in the process's own buffer, so without that sync a
// crash lost every write since the last synced one, however old.
func TestE2EDurabilityNoneWritesBehind(t *testing.T) {
	data := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "midge.toml")
	if err := os.WriteFile(cfg, []byte("durability = \"none\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startMidge(t, "serve", "--config", cfg, "--listen", addr, "--data", data)
	dialMidge(t, p, addr).Close()

	c, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "writer", CleanStart: true})
	c.Send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "behind/kept", Payload: []byte("on disk")})
	c.Expect(packet.TypePuback)
	c.Close()
	// writeBehind is one second; give it three.
	time.Sleep(3 * time.Second)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t, 15)

	p = startMidge(t, "serve", "--config", cfg, "--listen", addr, "--data", data)
	dialMidge(t, p, addr).Close()
	r, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "reader", CleanStart: true})
	r.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "behind/#"}}})
	r.Expect(packet.TypeSuback)
	got, ok := r.Expect(packet.TypePublish).(*packet.Publish)
	if !ok || got.Topic != "behind/kept" || string(got.Payload) != "on disk" || !got.Retain {
		t.Fatalf("after SIGKILL got %+v, want the retained message", got)
	}
}

// TestE2ESIGINT stops the broker with SIGINT, as Ctrl-C in a terminal does:
// it stops cleanly, with exit code 0.
func TestE2ESIGINT(t *testing.T) {
	addr := freeAddr(t)
	p := startMidge(t, "serve", "--listen", addr, "--data", t.TempDir())
	dialMidge(t, p, addr).Close()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 15); code != exitOK {
		t.Fatalf("exit code %d after SIGINT\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), `msg="midge stopped"`) {
		t.Errorf("no stop line in the log:\n%s", p.stderr.String())
	}
}
