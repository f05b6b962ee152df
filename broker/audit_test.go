package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/syncbuf"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// syncBuffer collects what the broker's goroutines log, for a test to
// read.
type syncBuffer struct{ syncbuf.Buffer }

// records returns the JSON records written so far.
func (s *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(s.String()) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// denyTopic refuses everything under "secret/".
type denyTopic struct{}

func (denyTopic) Authorize(_ context.Context, _ *broker.ClientInfo, _ broker.Action, t string) bool {
	return !strings.HasPrefix(t, "secret/")
}

// TestAuditLog writes one structured record per security event (connect,
// authentication failure, refused connect, denial of a publish, subscribe
// and will, ban, disconnect) with the client id, user name and remote
// address, and never the password.
func TestAuditLog(t *testing.T) {
	var buf syncBuffer
	audit := slog.New(slog.NewJSONHandler(&buf, nil))
	b := testbroker.Start(t, broker.Options{Authenticator: onePassword{}, Authorizer: denyTopic{}, Audit: audit,
		AuthFailureLimit: 2, AuthBanTime: time.Minute})

	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "alice-1", Username: "alice", UsernameFlag: true, PasswordFlag: true,
		Password: []byte("good"), CleanStart: true})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "secret/#"}}})
	c.Expect(packet.TypeSuback)
	c.Send(&packet.Publish{Topic: "secret/x", QoS: 1, PacketID: 2, Payload: []byte("x")})
	c.Expect(packet.TypePuback)
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)

	w := mqtttest.Dial(t, b.Addr, packet.V311)
	w.Send(&packet.Connect{Version: packet.V311, ClientID: "willing", UsernameFlag: true, Username: "bob", PasswordFlag: true, Password: []byte("good"),
		CleanStart: true, Will: &packet.Will{Topic: "secret/will", Payload: []byte("bye")}})
	w.Expect(packet.TypeConnack)
	w.ExpectClosed(2 * time.Second)

	for i := range 2 {
		m := mqtttest.Dial(t, b.Addr, packet.V311)
		m.Send(&packet.Connect{Version: packet.V311, ClientID: fmt.Sprint("mallory-", i), Username: "mallory", UsernameFlag: true, PasswordFlag: true,
			Password: []byte("hunter2-guess"), CleanStart: true})
		m.Expect(packet.TypeConnack)
		m.ExpectClosed(2 * time.Second)
	}

	want := []struct{ msg, client, extraKey, extraValue string }{
		{"connect", "alice-1", "auth", "authenticator"},
		{"denied", "alice-1", "action", "subscribe"},
		{"denied", "alice-1", "action", "publish"},
		{"disconnect", "alice-1", "reason", "client disconnected"},
		{"denied", "willing", "action", "will"},
		{"connect_refused", "willing", "reason_code", "NotAuthorized"},
		{"auth_failure", "mallory-0", "reason_code", "BadUserNameOrPassword"},
		{"auth_failure", "mallory-1", "reason_code", "BadUserNameOrPassword"},
		{"address_banned", "mallory-1", "ban", "1m0s"},
	}
	var got []map[string]any
	testbroker.Eventually(t, 2*time.Second, func() error {
		if got = buf.records(t); len(got) < len(want) {
			return fmt.Errorf("%d audit records, want %d", len(got), len(want))
		}
		return nil
	})
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(got), len(want), buf.String())
	}
	for _, w := range want {
		found := false
		for _, r := range got {
			if r["msg"] == w.msg && r["client_id"] == w.client && fmt.Sprint(r[w.extraKey]) == w.extraValue {
				found = true
				if r["remote"] == "" || r["remote"] == nil {
					t.Errorf("record %v has no remote address", r)
				}
			}
		}
		if !found {
			t.Errorf("no %s record for %s with %s=%s in:\n%s", w.msg, w.client, w.extraKey, w.extraValue, buf.String())
		}
	}
	for _, r := range got {
		if r["client_id"] == "alice-1" && r["username"] != "alice" {
			t.Errorf("record %v: username %v, want alice", r, r["username"])
		}
	}
	if strings.Contains(buf.String(), "hunter2") || strings.Contains(buf.String(), `"good"`) {
		t.Fatalf("a password reached the audit log:\n%s", buf.String())
	}
}
