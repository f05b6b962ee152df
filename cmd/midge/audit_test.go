package main

import (
	"bytes"
	"encoding/json"
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

// auditEvents reads the audit file at path as JSON lines and returns each
// record's "msg" with its client id, as "msg/client_id".
func auditEvents(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		var r struct {
			Msg      string `json:"msg"`
			ClientID string `json:"client_id"`
			Remote   string `json:"remote"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if r.Remote == "" {
			t.Errorf("audit record without a remote address: %s", line)
		}
		out = append(out, r.Msg+"/"+r.ClientID)
	}
	return out
}

// TestE2EAuditLog runs the binary with audit_log set: logins, refusals and
// denials reach the file as JSON records without the password, and after
// the file is moved away SIGHUP makes the broker write to a new one.
func TestE2EAuditLog(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	var sink bytes.Buffer
	if code := run([]string{"passwd", "-b", "-iterations", "1000", passwd, "alice", "wonder"}, &sink, &sink); code != exitOK {
		t.Fatalf("passwd: %s", sink.String())
	}
	acl := filepath.Join(dir, "acl")
	os.WriteFile(acl, []byte("user alice\ntopic readwrite home/#\n"), 0o600)
	audit := filepath.Join(dir, "audit.log")
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "data_dir = %q\npassword_file = %q\nacl_file = %q\naudit_log = %q\n[[listener]]\naddress = %q\n",
		filepath.Join(dir, "data"), passwd, acl, audit, addr), 0o600)
	p := startMidge(t, "serve", "--config", cfg)
	dialMidge(t, p, addr).Close()

	bad := mqtttest.Dial(t, addr, packet.V311)
	bad.Send(&packet.Connect{Version: packet.V311, ClientID: "guesser", CleanStart: true,
		Username: "alice", Password: []byte("guess-123"), UsernameFlag: true, PasswordFlag: true})
	bad.Expect(packet.TypeConnack)
	alice, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "alice-phone", CleanStart: true,
		Username: "alice", Password: []byte("wonder"), UsernameFlag: true, PasswordFlag: true})
	alice.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "office/#"}}})
	alice.Expect(packet.TypeSuback)

	want := []string{"auth_failure/guesser", "connect/alice-phone", "denied/alice-phone"}
	testbroker.Eventually(t, 5*time.Second, func() error {
		if got := auditEvents(t, audit); strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("audit events %v, want %v", got, want)
		}
		return nil
	})

	// Rotation: the file is moved away, SIGHUP opens a new one.
	if err := os.Rename(audit, audit+".1"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	testbroker.Eventually(t, 5*time.Second, func() error {
		if _, err := os.Stat(audit); err != nil {
			return err
		}
		return nil
	})
	alice.Send(&packet.Disconnect{})
	testbroker.Eventually(t, 5*time.Second, func() error {
		if got := auditEvents(t, audit); len(got) != 1 || got[0] != "disconnect/alice-phone" {
			return fmt.Errorf("audit events after rotation %v", got)
		}
		return nil
	})
	for _, f := range []string{audit, audit + ".1"} {
		data, _ := os.ReadFile(f)
		if bytes.Contains(data, []byte("guess-123")) || bytes.Contains(data, []byte("wonder")) {
			t.Fatalf("%s holds a password:\n%s", f, data)
		}
	}
	if fi, err := os.Stat(audit); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}
