package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/packet"
)

func TestAdminLimits(t *testing.T) {
	level := new(slog.LevelVar)
	e := start(t, broker.Options{MaxInflight: 16}, Options{Token: testToken, LogLevel: level})

	var got limitsBody
	e.getJSON(t, "/api/v1/limits", &got)
	want := limitsBody{MaxPacketSize: broker.DefaultMaxPacketSize, MaxInflightMessages: 16,
		MaxQueuedMessages: broker.DefaultMaxQueued, MaxConnections: broker.DefaultMaxConnections,
		MaxOutputBytes: broker.DefaultMaxOutputBytes, MaxKeepalive: "0s", WriteTimeout: "30s", LogLevel: "info"}
	if got != want {
		t.Fatalf("GET /api/v1/limits:\n got %+v\nwant %+v", got, want)
	}

	put := func(body string) response {
		t.Helper()
		return e.do(t, http.MethodPut, "/api/v1/limits", testToken, []byte(body))
	}
	r := put(`{"max_inflight_messages": 64, "max_queued_messages": 0, "max_connections": -1,
		"max_keepalive": "2m", "write_timeout": "5s", "max_store_size": 1000000, "log_level": "debug"}`)
	if r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	want.MaxInflightMessages, want.MaxQueuedMessages, want.MaxConnections = 64, 0, -1
	want.MaxKeepalive, want.WriteTimeout, want.MaxStoreSize, want.LogLevel = "2m0s", "5s", 1000000, "debug"
	if err := json.Unmarshal(r.body, &got); err != nil || got != want {
		t.Fatalf("PUT answered %s, want %+v", r.body, want)
	}
	// Members left out keep their values; the broker has the new ones.
	if r := put(`{"max_packet_size": 4096}`); r.status != http.StatusOK {
		t.Fatalf("PUT max_packet_size: %d %s", r.status, r.body)
	}
	l := e.b.Limits()
	if l.MaxPacketSize != 4096 || l.MaxInflight != 64 || l.MaxQueued >= 0 || l.MaxConnections >= 0 ||
		l.MaxKeepAlive != 120 || l.WriteTimeout != 5*time.Second || l.MaxStoreBytes != 1000000 {
		t.Fatalf("broker limits %+v", l)
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("log level %v, want debug", level.Level())
	}

	bad := []struct {
		name, body, field string
	}{
		{name: "inflight zero", body: `{"max_inflight_messages": 0}`, field: "max_inflight_messages"},
		{name: "inflight over the range", body: `{"max_inflight_messages": 65536}`, field: "max_inflight_messages"},
		{name: "packet size too small", body: `{"max_packet_size": 8}`, field: "max_packet_size"},
		{name: "queue negative", body: `{"max_queued_messages": -1}`, field: "max_queued_messages"},
		{name: "connections zero", body: `{"max_connections": 0}`, field: "max_connections"},
		{name: "output zero", body: `{"max_output_bytes": 0}`, field: "max_output_bytes"},
		{name: "keep-alive fraction", body: `{"max_keepalive": "1.5s"}`, field: "max_keepalive"},
		{name: "keep-alive too long", body: `{"max_keepalive": "65536s"}`, field: "max_keepalive"},
		{name: "write timeout not a duration", body: `{"write_timeout": "soon"}`, field: "write_timeout"},
		{name: "write timeout zero", body: `{"write_timeout": "0s"}`, field: "write_timeout"},
		{name: "store negative", body: `{"max_store_size": -1}`, field: "max_store_size"},
		{name: "unknown level", body: `{"log_level": "loud"}`, field: "log_level"},
		{name: "unknown key", body: `{"data_dir": "/tmp"}`, field: "data_dir"},
		{name: "wrong type", body: `{"max_connections": "many"}`, field: "max_connections"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := put(tc.body)
			if r.status != http.StatusBadRequest || r.apiErr(t).Field != tc.field {
				t.Fatalf("%d %s, want 400 naming %s", r.status, r.body, tc.field)
			}
		})
	}
	if got := e.b.Limits(); got != l {
		t.Fatalf("refused requests changed the limits: %+v", got)
	}

	// The token is required, to read as to change.
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		if r := e.do(t, method, "/api/v1/limits", "", []byte(`{"max_connections": 1}`)); r.status != http.StatusUnauthorized {
			t.Fatalf("%s without the token: %d %s", method, r.status, r.body)
		}
		if r := e.do(t, method, "/api/v1/limits", "wrong", []byte(`{"max_connections": 1}`)); r.status != http.StatusUnauthorized {
			t.Fatalf("%s with a wrong token: %d %s", method, r.status, r.body)
		}
	}
	if e.b.Limits().MaxConnections != l.MaxConnections {
		t.Fatal("an unauthorized PUT changed max_connections")
	}
}

// TestAdminLimitsApply: a limit changed through the API holds for the
// next connection.
func TestAdminLimitsApply(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	if r := e.do(t, http.MethodPut, "/api/v1/limits", testToken, []byte(`{"max_connections": 1}`)); r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	first, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "first", CleanStart: true})
	over := mqtttest.Dial(t, e.b.Addr, packet.V311)
	over.ExpectClosed(5 * time.Second)
	if n := e.b.Stats().Dropped["max_connections"]; n != 1 {
		t.Fatalf("max_connections drops %d, want 1", n)
	}
	first.Close()
}

func TestAdminLimitsWithoutLogLevel(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	r := e.do(t, http.MethodGet, "/api/v1/limits", testToken, nil)
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["log_level"]; ok || r.status != http.StatusOK {
		t.Fatalf("GET: %d %s, want no log_level", r.status, r.body)
	}
	r = e.do(t, http.MethodPut, "/api/v1/limits", testToken, []byte(`{"log_level": "debug"}`))
	if r.status != http.StatusBadRequest || r.apiErr(t).Field != "log_level" {
		t.Fatalf("PUT log_level: %d %s", r.status, r.body)
	}
}

func TestAdminReload(t *testing.T) {
	var calls atomic.Int32
	var result atomic.Pointer[ReloadResult]
	result.Store(&ReloadResult{Applied: []string{"max_inflight_messages"}, Refused: []string{"listener"}})
	var fail atomic.Bool
	reload := func() (ReloadResult, error) {
		calls.Add(1)
		if fail.Load() {
			return ReloadResult{}, errors.New("midge.toml:3: unknown key \"bogus\"")
		}
		return *result.Load(), nil
	}
	e := start(t, broker.Options{}, Options{Token: testToken, Reload: reload})

	if r := e.do(t, http.MethodPost, "/api/v1/reload", "", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("without the token: %d %s", r.status, r.body)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("reloaded %d times without the token", n)
	}
	r := e.do(t, http.MethodPost, "/api/v1/reload", testToken, nil)
	var got ReloadResult
	if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil ||
		len(got.Applied) != 1 || got.Applied[0] != "max_inflight_messages" || len(got.Refused) != 1 || got.Refused[0] != "listener" {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	if r := e.do(t, http.MethodGet, "/api/v1/reload", testToken, nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}

	// Nothing changed: empty lists, not null.
	result.Store(&ReloadResult{})
	r = e.do(t, http.MethodPost, "/api/v1/reload", testToken, nil)
	if r.status != http.StatusOK || string(r.body) != "{\"applied\":[],\"refused\":[]}\n" {
		t.Fatalf("POST with nothing changed: %d %s", r.status, r.body)
	}

	fail.Store(true)
	r = e.do(t, http.MethodPost, "/api/v1/reload", testToken, nil)
	if r.status != http.StatusConflict || r.apiErr(t).Error != "configuration not reloaded: midge.toml:3: unknown key \"bogus\"" {
		t.Fatalf("POST with a bad file: %d %s", r.status, r.body)
	}
}

func TestAdminReloadUnavailable(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	r := e.do(t, http.MethodPost, "/api/v1/reload", testToken, nil)
	if r.status != http.StatusConflict {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	r.apiErr(t)
}
