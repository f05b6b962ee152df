package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

func TestPasswdCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	var out, errOut bytes.Buffer
	if code := run([]string{"passwd", "-b", file, "alice", "wonder"}, &out, &errOut); code != exitOK {
		t.Fatalf("passwd -b: exit %d: %s", code, errOut.String())
	}
	stdin = strings.NewReader("builder\n")
	defer func() { stdin = os.Stdin }()
	if code := run([]string{"passwd", file, "bob"}, &out, &errOut); code != exitOK {
		t.Fatalf("passwd from stdin: exit %d: %s", code, errOut.String())
	}
	b, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(b), "alice:$7$") || !strings.Contains(string(b), "\nbob:$7$") {
		t.Fatalf("password file:\n%s", b)
	}
	if code := run([]string{"passwd", "-D", file, "alice"}, &out, &errOut); code != exitOK {
		t.Fatalf("passwd -D: exit %d: %s", code, errOut.String())
	}
	if b, _ := os.ReadFile(file); strings.Contains(string(b), "alice") {
		t.Fatalf("alice still in the file:\n%s", b)
	}
	if code := run([]string{"passwd", file}, &out, &errOut); code != exitUsage {
		t.Fatalf("passwd without a user: exit %d, want %d", code, exitUsage)
	}
}

// TestE2EAuth runs the binary with a password file and an ACL file: wrong
// passwords and anonymous clients are refused, ACL rules hold, and SIGHUP
// reloads both files without dropping connections, taking back the
// subscriptions the new rules refuse.
func TestE2EAuth(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	var sink bytes.Buffer
	for _, u := range [][2]string{{"alice", "wonder"}, {"bob", "builder"}} {
		if code := run([]string{"passwd", "-b", "-iterations", "1000", passwd, u[0], u[1]}, &sink, &sink); code != exitOK {
			t.Fatalf("passwd: %s", sink.String())
		}
	}
	acl := filepath.Join(dir, "acl")
	writeACL := func(rules string) {
		if err := os.WriteFile(acl, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeACL("user alice\ntopic readwrite home/#\nuser bob\ntopic read home/#\n")
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "data_dir = %q\npassword_file = %q\nacl_file = %q\n[[listener]]\naddress = %q\n",
		filepath.Join(dir, "data"), passwd, acl, addr), 0o600)
	p := startMidge(t, "serve", "--config", cfg)
	dialMidge(t, p, addr).Close()

	refused := func(user, pass string) packet.ReasonCode {
		c := mqtttest.Dial(t, addr, packet.V5)
		defer c.Close()
		con := &packet.Connect{Version: packet.V5, ClientID: "x-" + user, CleanStart: true}
		if user != "" {
			con.Username, con.Password, con.UsernameFlag, con.PasswordFlag = user, []byte(pass), true, true
		}
		c.Send(con)
		return c.Expect(packet.TypeConnack).(*packet.Connack).ReasonCode
	}
	if code := refused("alice", "wrong"); code != packet.BadUserNameOrPassword {
		t.Fatalf("wrong password: CONNACK %v", code)
	}
	if code := refused("", ""); code == packet.Success {
		t.Fatal("anonymous client let in")
	}
	if code := refused("carol", "x"); code != packet.BadUserNameOrPassword {
		t.Fatalf("unknown user: CONNACK %v", code)
	}

	login := func(user, pass string) *mqtttest.Conn {
		c, _ := mqtttest.Connect(t, addr, packet.V5, &packet.Connect{ClientID: user, CleanStart: true,
			Username: user, Password: []byte(pass), UsernameFlag: true, PasswordFlag: true})
		return c
	}
	alice, bob := login("alice", "wonder"), login("bob", "builder")
	bob.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "home/#"}, {Filter: "work/#"}}})
	ack := bob.Expect(packet.TypeSuback).(*packet.Suback)
	if ack.ReasonCodes[0] != packet.GrantedQoS0 || ack.ReasonCodes[1] != packet.NotAuthorized {
		t.Fatalf("bob's SUBACK %v, want granted, not authorized", ack.ReasonCodes)
	}
	bob.Send(&packet.Publish{Topic: "home/door", QoS: 1, PacketID: 1, Payload: []byte("bob")})
	if a := bob.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("bob's publish: PUBACK %v, want not authorized", a.ReasonCode)
	}
	alice.Send(&packet.Publish{Topic: "home/door", QoS: 1, PacketID: 1, Payload: []byte("open")})
	alice.Expect(packet.TypePuback)
	if m := bob.Expect(packet.TypePublish).(*packet.Publish); string(m.Payload) != "open" {
		t.Fatalf("bob got %q", m.Payload)
	}

	// SIGHUP: a new user and a new rule take effect; connections stay.
	if code := run([]string{"passwd", "-b", "-iterations", "1000", passwd, "carol", "c"}, &sink, &sink); code != exitOK {
		t.Fatalf("passwd: %s", sink.String())
	}
	writeACL("user alice\ntopic readwrite home/#\nuser bob\ntopic readwrite home/#\nuser carol\ntopic read #\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	testbroker.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(p.stderr.String(), "ACL file reloaded") {
			return fmt.Errorf("not reloaded yet")
		}
		return nil
	})
	login("carol", "c")
	bob.Send(&packet.Publish{Topic: "home/door", QoS: 1, PacketID: 2, Payload: []byte("bob")})
	for {
		// bob is subscribed to home/#: his own message may come first.
		pk, err := bob.Read(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for PUBACK: %v", err)
		}
		if a, ok := pk.(*packet.Ack); ok {
			if a.ReasonCode != packet.Success {
				t.Fatalf("bob's publish after reload: PUBACK %v", a.ReasonCode)
			}
			break
		}
	}

	// SIGHUP with bob's rule gone: his subscription to home/# is taken
	// back, and he gets nothing more under it.
	writeACL("user alice\ntopic readwrite home/#\nuser carol\ntopic read #\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	testbroker.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(p.stderr.String(), "revoked=1") {
			return fmt.Errorf("subscriptions not authorized again yet:\n%s", p.stderr.String())
		}
		return nil
	})
	alice.Send(&packet.Publish{Topic: "home/door", QoS: 1, PacketID: 2, Payload: []byte("after")})
	alice.Expect(packet.TypePuback)
	for {
		pk, err := bob.Read(300 * time.Millisecond)
		if err != nil {
			break // nothing more
		}
		if m, ok := pk.(*packet.Publish); ok && string(m.Payload) == "after" {
			t.Fatal("bob got a message through a revoked subscription")
		}
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15); code != exitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
}
