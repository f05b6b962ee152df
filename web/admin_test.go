package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

func TestAdminStats(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken, Version: "v1.2.3"})
	c, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "dev", CleanStart: true})
	subscribe(t, c, "s/#", 0)
	const n = 4
	for range n {
		c.Send(&packet.Publish{Topic: "s/1", Payload: []byte("v")})
		c.Expect(packet.TypePublish)
	}
	c.Send(&packet.Publish{Topic: "keep", Retain: true, Payload: []byte("r")})

	testbroker.Eventually(t, 5*time.Second, func() error {
		var st statsBody
		e.getJSON(t, "/api/v1/stats", &st)
		want := statsBody{Version: "v1.2.3", ConnectionsCurrent: 1, ConnectionsTotal: 1, ConnectionsMaximum: 1,
			SessionsCurrent: 1, MessagesReceived: n + 1, MessagesSent: n, Subscriptions: 1, Retained: 1}
		got := st
		got.BytesReceived, got.BytesSent, got.Dropped = 0, 0, nil
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("stats %+v, want %+v", got, want)
		}
		if st.BytesReceived == 0 || st.BytesSent == 0 {
			return fmt.Errorf("no bytes counted: %+v", st)
		}
		if _, ok := st.Dropped["queue_full"]; !ok || len(st.Dropped) == 0 {
			return fmt.Errorf("dropped %v lacks the reasons", st.Dropped)
		}
		return nil
	})
}

func TestAdminClients(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	// A persistent 3.1.1 session whose client has gone.
	gone, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "gone", CleanStart: false})
	subscribe(t, gone, "g/#", 1)
	gone.Send(&packet.Disconnect{})
	gone.ExpectClosed(5 * time.Second)
	dev, _ := mqtttest.Connect(t, e.b.Addr, packet.V5, &packet.Connect{ClientID: "dev", CleanStart: true,
		KeepAlive: 30, UsernameFlag: true, Username: "alice"})
	subscribe(t, dev, "d/+", 1)
	mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "site/7", CleanStart: true})

	testbroker.Eventually(t, 5*time.Second, func() error {
		if c, ok := e.b.Client("gone"); !ok || c.Connected {
			return fmt.Errorf("gone: %+v %v", c, ok)
		}
		return nil
	})

	var all clientsBody
	e.getJSON(t, "/api/v1/clients", &all)
	if all.Total != 3 || all.Truncated || len(all.Clients) != 3 ||
		all.Clients[0].ClientID != "dev" || all.Clients[1].ClientID != "gone" || all.Clients[2].ClientID != "site/7" {
		t.Fatalf("all clients: %+v", all)
	}

	tests := []struct {
		name      string
		query     string
		ids       []string
		total     int
		truncated bool
	}{
		{name: "connected", query: "?connected=true", ids: []string{"dev", "site/7"}, total: 2},
		{name: "not connected", query: "?connected=false", ids: []string{"gone"}, total: 1},
		{name: "limit", query: "?limit=1", ids: []string{"dev"}, total: 3, truncated: true},
		{name: "limit and connected", query: "?limit=1&connected=true", ids: []string{"dev"}, total: 2, truncated: true},
		{name: "limit over count", query: "?limit=10000", ids: []string{"dev", "gone", "site/7"}, total: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got clientsBody
			e.getJSON(t, "/api/v1/clients"+tc.query, &got)
			var ids []string
			for _, c := range got.Clients {
				ids = append(ids, c.ClientID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.ids) || got.Total != tc.total || got.Truncated != tc.truncated {
				t.Fatalf("got ids %v total %d truncated %v, want %v %d %v", ids, got.Total, got.Truncated,
					tc.ids, tc.total, tc.truncated)
			}
		})
	}

	bad := []struct {
		name, query, field string
	}{
		{name: "limit zero", query: "?limit=0", field: "limit"},
		{name: "limit negative", query: "?limit=-3", field: "limit"},
		{name: "limit over max", query: "?limit=10001", field: "limit"},
		{name: "limit not a number", query: "?limit=ten", field: "limit"},
		{name: "connected not a bool", query: "?connected=maybe", field: "connected"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, "/api/v1/clients"+tc.query, testToken, nil)
			if r.status != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", r.status, r.body)
			}
			if f := r.apiErr(t).Field; f != tc.field {
				t.Fatalf("field %q, want %q", f, tc.field)
			}
		})
	}

	var c broker.ClientSnapshot
	e.getJSON(t, "/api/v1/clients/dev", &c)
	if !c.Connected || c.Username != "alice" || c.Version != "5.0" || c.KeepAlive != 30 ||
		len(c.Subscriptions) != 1 || c.Subscriptions[0].Filter != "d/+" || c.Subscriptions[0].QoS != 1 ||
		!strings.HasPrefix(c.Remote, "127.0.0.1:") {
		t.Fatalf("dev: %+v", c)
	}
	e.getJSON(t, "/api/v1/clients/gone", &c)
	if c.Connected || !c.Persistent || len(c.Subscriptions) != 1 {
		t.Fatalf("gone: %+v", c)
	}
	e.getJSON(t, "/api/v1/clients/site%2F7", &c)
	if c.ClientID != "site/7" || !c.Connected {
		t.Fatalf("site/7: %+v", c)
	}
	r := e.do(t, http.MethodGet, "/api/v1/clients/nobody", testToken, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("unknown client: %d %s", r.status, r.body)
	}
	r.apiErr(t)
}

func TestAdminDisconnect(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	dev, _ := mqtttest.Connect(t, e.b.Addr, packet.V5, &packet.Connect{ClientID: "dev", CleanStart: true})
	old, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "old", CleanStart: true})

	if r := e.do(t, http.MethodDelete, "/api/v1/clients/dev", testToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE dev: %d %s", r.status, r.body)
	}
	got := dev.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].Type() != packet.TypeDisconnect ||
		got[0].(*packet.Disconnect).ReasonCode != packet.AdministrativeAction {
		t.Fatalf("dev got %v before the close, want DISCONNECT Administrative action", got)
	}

	if r := e.do(t, http.MethodDelete, "/api/v1/clients/old", testToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE old: %d %s", r.status, r.body)
	}
	if got := old.ExpectClosed(5 * time.Second); len(got) != 0 {
		t.Fatalf("3.1.1 client got %v before the close", got)
	}

	testbroker.Eventually(t, 5*time.Second, func() error {
		r := e.do(t, http.MethodDelete, "/api/v1/clients/dev", testToken, nil)
		if r.status != http.StatusNotFound {
			return fmt.Errorf("DELETE dev again: %d %s", r.status, r.body)
		}
		return nil
	})
	r := e.do(t, http.MethodDelete, "/api/v1/clients/nobody", testToken, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("DELETE nobody: %d %s", r.status, r.body)
	}
	r.apiErr(t)
}

func TestAdminRetained(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	c, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	c.Send(&packet.Publish{Topic: "keep/text", Retain: true, Payload: []byte("héllo")})
	c.Send(&packet.Publish{Topic: "keep/bin", Retain: true, QoS: 1, PacketID: 1, Payload: []byte{0xff, 0x00, 0x01}})
	c.Expect(packet.TypePuback)
	c.Send(&packet.Publish{Topic: "/lead", Retain: true, Payload: []byte("l")})
	c.Send(&packet.Publish{Topic: "other", Retain: true, Payload: []byte("o")})
	testbroker.Eventually(t, 5*time.Second, func() error {
		if n := e.b.Stats().Retained; n != 4 {
			return fmt.Errorf("%d retained", n)
		}
		return nil
	})

	byTopic := func(body retainedBody) map[string]retainedMessage {
		m := make(map[string]retainedMessage)
		for _, r := range body.Retained {
			m[r.Topic] = r
		}
		return m
	}
	var body retainedBody
	e.getJSON(t, "/api/v1/retained?filter=keep/%23", &body)
	got := byTopic(body)
	if len(got) != 2 || body.Truncated {
		t.Fatalf("keep/#: %+v", body)
	}
	if r := got["keep/text"]; r.Payload != "héllo" || r.Encoding != "utf-8" || r.QoS != 0 || r.Publisher != "pub" {
		t.Fatalf("keep/text: %+v", r)
	}
	if r := got["keep/bin"]; r.Payload != "/wAB" || r.Encoding != "base64" || r.QoS != 1 {
		t.Fatalf("keep/bin: %+v", r)
	}
	e.getJSON(t, "/api/v1/retained", &body)
	if len(body.Retained) != 4 || body.Truncated {
		t.Fatalf("default filter: %+v", body)
	}
	e.getJSON(t, "/api/v1/retained?filter=%23&limit=3", &body)
	if len(body.Retained) != 3 || !body.Truncated {
		t.Fatalf("limit 3: %+v", body)
	}
	e.getJSON(t, "/api/v1/retained?filter=nothing/here", &body)
	if len(body.Retained) != 0 || body.Retained == nil {
		t.Fatalf("no match: %s", mustJSON(t, body))
	}

	bad := []struct{ name, query, field string }{
		{name: "misplaced hash", query: "?filter=a/%23/b", field: "filter"},
		{name: "shared filter", query: "?filter=$share/g/%23", field: "filter"},
		{name: "limit zero", query: "?limit=0", field: "limit"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, "/api/v1/retained"+tc.query, testToken, nil)
			if r.status != http.StatusBadRequest || r.apiErr(t).Field != tc.field {
				t.Fatalf("%d %s, want 400 naming %s", r.status, r.body, tc.field)
			}
		})
	}

	deletes := []struct {
		name, path string
		status     int
		field      string
	}{
		{name: "multi-level topic", path: "/api/v1/retained/keep/text", status: http.StatusNoContent},
		{name: "again", path: "/api/v1/retained/keep/text", status: http.StatusNotFound},
		{name: "encoded slashes", path: "/api/v1/retained/keep%2Fbin", status: http.StatusNoContent},
		{name: "leading slash", path: "/api/v1/retained/%2Flead", status: http.StatusNoContent},
		{name: "never retained", path: "/api/v1/retained/nothing", status: http.StatusNotFound},
		{name: "wildcard", path: "/api/v1/retained/a/%2B", status: http.StatusBadRequest, field: "topic"},
		{name: "empty", path: "/api/v1/retained/", status: http.StatusBadRequest, field: "topic"},
	}
	for _, tc := range deletes {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodDelete, tc.path, testToken, nil)
			if r.status != tc.status {
				t.Fatalf("DELETE %s: %d %s, want %d", tc.path, r.status, r.body, tc.status)
			}
			if tc.status != http.StatusNoContent && r.apiErr(t).Field != tc.field {
				t.Fatalf("DELETE %s: %s, want field %q", tc.path, r.body, tc.field)
			}
		})
	}
	e.getJSON(t, "/api/v1/retained", &body)
	if got := byTopic(body); len(got) != 1 || got["other"].Payload != "o" {
		t.Fatalf("after deletes: %+v", body)
	}
	// A new subscriber gets no deleted retained message.
	sub, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	subscribe(t, sub, "keep/#", 0)
	sub.ExpectNothing(200 * time.Millisecond)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAdminPublish(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	sub, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	subscribe(t, sub, "cmd/#", 1)

	post := func(body string) response {
		t.Helper()
		return e.do(t, http.MethodPost, "/api/v1/publish", testToken, []byte(body))
	}
	if r := post(`{"topic":"cmd/1","payload":"on","qos":1}`); r.status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	p := sub.Expect(packet.TypePublish).(*packet.Publish)
	if p.Topic != "cmd/1" || string(p.Payload) != "on" || p.QoS != 1 || p.Retain {
		t.Fatalf("subscriber got %+v", p)
	}
	sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})

	if r := post(`{"topic":"cmd/2","payload_base64":"AAH/","retain":true}`); r.status != http.StatusAccepted {
		t.Fatalf("publish base64: %d %s", r.status, r.body)
	}
	p = sub.Expect(packet.TypePublish).(*packet.Publish)
	if p.Topic != "cmd/2" || !bytes.Equal(p.Payload, []byte{0, 1, 0xff}) || p.QoS != 0 {
		t.Fatalf("subscriber got %+v", p)
	}
	var body retainedBody
	e.getJSON(t, "/api/v1/retained?filter=cmd/%23", &body)
	if len(body.Retained) != 1 || body.Retained[0].Payload != "AAH/" || body.Retained[0].Encoding != "base64" {
		t.Fatalf("retained after publish: %+v", body)
	}
	// A retained publish with an empty payload clears the retained message.
	if r := post(`{"topic":"cmd/2","retain":true}`); r.status != http.StatusAccepted {
		t.Fatalf("publish empty: %d %s", r.status, r.body)
	}
	if p := sub.Expect(packet.TypePublish).(*packet.Publish); p.Topic != "cmd/2" || len(p.Payload) != 0 {
		t.Fatalf("subscriber got %+v", p)
	}
	e.getJSON(t, "/api/v1/retained?filter=cmd/%23", &body)
	if len(body.Retained) != 0 {
		t.Fatalf("retained after clearing: %+v", body)
	}
	if n := e.m.adminPublishes.Load(); n != 3 {
		t.Fatalf("admin publishes %d, want 3", n)
	}

	bad := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{name: "wildcard topic", body: `{"topic":"cmd/#","payload":"x"}`, status: 400, field: "topic"},
		{name: "empty topic", body: `{"topic":"","payload":"x"}`, status: 400, field: "topic"},
		{name: "no topic", body: `{"payload":"x"}`, status: 400, field: "topic"},
		{name: "topic with NUL", body: `{"topic":"a\u0000b"}`, status: 400, field: "topic"},
		{name: "qos 3", body: `{"topic":"cmd/x","qos":3}`, status: 400, field: "qos"},
		{name: "qos negative", body: `{"topic":"cmd/x","qos":-1}`, status: 400, field: "qos"},
		{name: "qos string", body: `{"topic":"cmd/x","qos":"1"}`, status: 400, field: "qos"},
		{name: "qos fraction", body: `{"topic":"cmd/x","qos":0.5}`, status: 400, field: "qos"},
		{name: "retain string", body: `{"topic":"cmd/x","retain":"yes"}`, status: 400, field: "retain"},
		{name: "payload number", body: `{"topic":"cmd/x","payload":5}`, status: 400, field: "payload"},
		{name: "both payloads", body: `{"topic":"cmd/x","payload":"a","payload_base64":"YQ=="}`, status: 400,
			field: "payload_base64"},
		{name: "bad base64", body: `{"topic":"cmd/x","payload_base64":"!!"}`, status: 400, field: "payload_base64"},
		{name: "unknown field", body: `{"topic":"cmd/x","colour":"red"}`, status: 400, field: "colour"},
		{name: "not JSON", body: `topic=cmd/x`, status: 400},
		{name: "truncated", body: `{"topic":"cmd/x"`, status: 400},
		{name: "empty body", body: ``, status: 400},
		{name: "two values", body: `{"topic":"cmd/x"} {"topic":"cmd/y"}`, status: 400},
		{name: "array", body: `[]`, status: 400},
		{name: "too large", body: `{"topic":"cmd/x","payload":"` + strings.Repeat("x", MaxBodyBytes) + `"}`,
			status: http.StatusRequestEntityTooLarge},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.body)
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
			if f := r.apiErr(t).Field; f != tc.field {
				t.Fatalf("field %q (%s), want %q", f, r.body, tc.field)
			}
		})
	}
	sub.ExpectNothing(100 * time.Millisecond)
	if n := e.m.adminPublishes.Load(); n != 3 {
		t.Fatalf("admin publishes %d after refused requests, want 3", n)
	}
}

// TestAdminClientsShowQueues: the client list shows, for each client, its
// address, protocol version, keep-alive, subscriptions and what is in
// flight to it and queued for it.
func TestAdminClientsShowQueues(t *testing.T) {
	e := start(t, broker.Options{MaxInflight: 1}, Options{Token: testToken})
	slow, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "slow", KeepAlive: 45})
	subscribe(t, slow, "jobs/#", 1)
	pub, _ := mqtttest.Connect(t, e.b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 3 {
		pub.Send(&packet.Publish{Topic: "jobs/1", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("j")})
		pub.Expect(packet.TypePuback)
	}
	slow.Expect(packet.TypePublish) // and not acknowledged

	var list struct {
		Clients []map[string]any `json:"clients"`
	}
	e.getJSON(t, "/api/v1/clients?connected=true", &list)
	if len(list.Clients) != 2 {
		t.Fatalf("clients: %+v", list)
	}
	var c broker.ClientSnapshot
	if err := json.Unmarshal([]byte(mustJSON(t, list.Clients[1])), &c); err != nil {
		t.Fatal(err)
	}
	if c.ClientID != "slow" || !strings.HasPrefix(c.Remote, "127.0.0.1:") || c.Version != "3.1.1" ||
		c.KeepAlive != 45 || len(c.Subscriptions) != 1 || c.Subscriptions[0].Filter != "jobs/#" ||
		c.Inflight != 1 || c.Queued != 2 || !c.Persistent {
		t.Fatalf("slow: %+v", c)
	}
	for _, key := range []string{"remote", "protocol_version", "keep_alive_seconds", "subscriptions", "inflight", "queued"} {
		if _, ok := list.Clients[1][key]; !ok {
			t.Errorf("the list has no %q for slow: %v", key, list.Clients[1])
		}
	}
	if p := list.Clients[0]; p["client_id"] != "pub" || p["protocol_version"] != "5.0" || p["queued"] != 0.0 {
		t.Errorf("pub: %v", p)
	}
}
