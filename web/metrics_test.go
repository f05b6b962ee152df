package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store/pebble"
)

// scrape is one parsed /metrics response.
type scrape struct {
	// values maps a series, as exposed (`name{label="v"}`), to its value.
	values map[string]float64
	// help and types map a metric family to its HELP text and TYPE.
	help  map[string]string
	types map[string]string
}

// scrape GETs /metrics and parses the text exposition format.
func (e *env) scrape(t *testing.T) scrape {
	t.Helper()
	r := e.do(t, http.MethodGet, "/metrics", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	s := scrape{values: map[string]float64{}, help: map[string]string{}, types: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "# HELP "):
			name, text, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			s.help[name] = text
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			s.types[name] = typ
		case strings.HasPrefix(line, "#"):
		default:
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				t.Fatalf("metrics line %q has no value", line)
			}
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			s.values[line[:i]] = v
		}
	}
	return s
}

// expect returns an error naming the first series in want whose value
// differs.
func (s scrape) expect(want map[string]float64) error {
	for series, v := range want {
		got, ok := s.values[series]
		if !ok {
			return fmt.Errorf("no series %s", series)
		}
		if got != v {
			return fmt.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	return nil
}

func subscribe(t *testing.T, c *mqtttest.Conn, filter string, qos byte) {
	t.Helper()
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	c.Expect(packet.TypeSuback)
}

func TestMetricsCountTraffic(t *testing.T) {
	e := start(t, broker.Options{}, Options{Version: "v9.9.9-test"})
	sub, _ := mqtttest.Connect(t, e.b.Addr, packet.V5, &packet.Connect{ClientID: "sub", CleanStart: true})
	subscribe(t, sub, "t/#", 1)
	pub, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})

	const qos0, qos1 = 5, 3
	// Bytes of the PUBLISH packets by QoS, received and sent.
	var in, out [2]float64
	for i := range qos0 {
		p := &packet.Publish{Topic: "t/0", Payload: []byte(strconv.Itoa(i))}
		pub.Send(p)
		in[0] += wireSize(t, p, packet.V311)
	}
	for i := range qos1 {
		p := &packet.Publish{Topic: "t/1", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")}
		pub.Send(p)
		in[1] += wireSize(t, p, packet.V311)
		pub.Expect(packet.TypePuback)
	}
	for range qos0 + qos1 {
		p := sub.Expect(packet.TypePublish).(*packet.Publish)
		out[p.QoS] += wireSize(t, p, packet.V5)
		if p.QoS == 1 {
			sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
		}
	}
	pub.Send(&packet.Disconnect{})
	pub.ExpectClosed(5 * time.Second)
	sub.Close()

	var s scrape
	testbroker.Eventually(t, 5*time.Second, func() error {
		s = e.scrape(t)
		return s.expect(map[string]float64{
			`midge_messages_received_total{qos="0"}`:                  qos0,
			`midge_messages_received_total{qos="1"}`:                  qos1,
			`midge_messages_received_total{qos="2"}`:                  0,
			`midge_messages_sent_total{qos="0"}`:                      qos0,
			`midge_messages_sent_total{qos="1"}`:                      qos1,
			`midge_messages_sent_total{qos="2"}`:                      0,
			`midge_messages_received_bytes_total{qos="0"}`:            in[0],
			`midge_messages_received_bytes_total{qos="1"}`:            in[1],
			`midge_messages_received_bytes_total{qos="2"}`:            0,
			`midge_messages_sent_bytes_total{qos="0"}`:                out[0],
			`midge_messages_sent_bytes_total{qos="1"}`:                out[1],
			`midge_messages_sent_bytes_total{qos="2"}`:                0,
			`midge_delivery_latency_seconds_count`:                    qos0 + qos1,
			`midge_delivery_latency_seconds_bucket{le="+Inf"}`:        qos0 + qos1,
			`midge_inflight_messages`:                                 0,
			`midge_queued_messages`:                                   0,
			`midge_queue_depth_max`:                                   0,
			`midge_publishes_total{qos="0"}`:                          qos0,
			`midge_publishes_total{qos="1"}`:                          qos1,
			`midge_publishes_total{qos="2"}`:                          0,
			`midge_client_connects_total{protocol_version="3.1.1"}`:   1,
			`midge_client_connects_total{protocol_version="5.0"}`:     1,
			`midge_client_connects_total{protocol_version="3.1"}`:     0,
			`midge_client_disconnects_total{graceful="true"}`:         1,
			`midge_client_disconnects_total{graceful="false"}`:        1,
			`midge_connections_accepted_total`:                        2,
			`midge_connections_open`:                                  0,
			`midge_connections_parked`:                                0,
			`midge_connections_open_max`:                              2,
			`midge_sessions`:                                          0,
			`midge_subscriptions`:                                     0,
			`midge_retained_messages`:                                 0,
			`midge_auth_failures_total`:                               0,
			`midge_admin_publishes_total`:                             0,
			`midge_dropped_total{reason="queue_full"}`:                0,
			`midge_build_info{version="v9.9.9-test"}`:                 1,
			`midge_dropped_total{reason="observer_queue_full"}`:       0,
			`midge_dropped_total{reason="max_connections"}`:           0,
			`midge_client_connects_total{protocol_version="unknown"}`: 0,
		})
	})
	if v := s.values["midge_received_bytes_total"]; v <= 0 {
		t.Errorf("midge_received_bytes_total = %v", v)
	}
	if v := s.values["midge_sent_bytes_total"]; v <= 0 {
		t.Errorf("midge_sent_bytes_total = %v", v)
	}
	// Every Midge family has HELP text and a type; the runtime and
	// process collectors are there.
	for name := range s.types {
		if strings.HasPrefix(name, "midge_") && s.help[name] == "" {
			t.Errorf("%s has no HELP", name)
		}
	}
	for name, typ := range map[string]string{
		"midge_messages_received_total":       "counter",
		"midge_messages_sent_bytes_total":     "counter",
		"midge_connections_open":              "gauge",
		"midge_dropped_total":                 "counter",
		"midge_queued_messages":               "gauge",
		"midge_delivery_latency_seconds":      "histogram",
		"midge_store_commit_duration_seconds": "histogram",
	} {
		if s.types[name] != typ {
			t.Errorf("TYPE of %s is %q, want %s", name, s.types[name], typ)
		}
	}
	if _, ok := s.values["midge_store_size_bytes"]; ok {
		t.Error("midge_store_size_bytes is exported for the memory store, which cannot tell its size")
	}
	// The buckets are cumulative and end with +Inf.
	prev := 0.0
	for _, le := range []string{"1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "10", "+Inf"} {
		v, ok := s.values[`midge_delivery_latency_seconds_bucket{le="`+le+`"}`]
		if !ok || v < prev {
			t.Errorf("bucket le=%s: %v %v (previous %v)", le, v, ok, prev)
		}
		prev = v
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := s.values[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	for name := range s.types {
		if !strings.HasPrefix(name, "midge_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("unexpected metric family %s", name)
		}
	}
}

// wireSize is the size of p on the wire in version v.
func wireSize(t *testing.T, p packet.Packet, v packet.Version) float64 {
	t.Helper()
	b, err := p.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return float64(len(b))
}

// TestMetricsQueuesAndStore scrapes the gauges of a persistent subscriber
// that stops acknowledging, on the Pebble store: what is in flight and
// queued, the store's size and commits, and the deliveries timed.
func TestMetricsQueuesAndStore(t *testing.T) {
	st, err := pebble.Open(t.TempDir(), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := start(t, broker.Options{Store: st, MaxInflight: 2}, Options{})
	stalled, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "stalled"})
	subscribe(t, stalled, "w/#", 1)
	pub, _ := mqtttest.Connect(t, e.b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 5 {
		pub.Send(&packet.Publish{Topic: "w/1", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
		pub.Expect(packet.TypePuback)
	}
	stalled.Expect(packet.TypePublish)
	stalled.Expect(packet.TypePublish)

	var s scrape
	testbroker.Eventually(t, 5*time.Second, func() error {
		s = e.scrape(t)
		return s.expect(map[string]float64{
			`midge_inflight_messages`:                2,
			`midge_queued_messages`:                  3,
			`midge_queue_depth_max`:                  3,
			`midge_messages_received_total{qos="1"}`: 5,
			`midge_messages_sent_total{qos="1"}`:     2,
			// Only the two messages sent so far are timed.
			`midge_delivery_latency_seconds_count`: 2,
		})
	})
	if v := s.values["midge_store_size_bytes"]; v <= 0 {
		t.Errorf("midge_store_size_bytes = %v", v)
	}
	if v := s.values["midge_store_commit_duration_seconds_count"]; v <= 0 {
		t.Errorf("midge_store_commit_duration_seconds_count = %v", v)
	}
	if v := s.values["midge_store_commit_duration_seconds_sum"]; v <= 0 {
		t.Errorf("midge_store_commit_duration_seconds_sum = %v", v)
	}
}

// authFunc adapts a function to broker.Authenticator.
type authFunc func(c *broker.ClientInfo, password []byte) error

func (f authFunc) Authenticate(_ context.Context, c *broker.ClientInfo, password []byte) error {
	return f(c, password)
}

func TestMetricsDropsAndAuthFailures(t *testing.T) {
	auth := authFunc(func(_ *broker.ClientInfo, password []byte) error {
		if string(password) != "good" {
			return errors.New("wrong password")
		}
		return nil
	})
	e := start(t, broker.Options{Authenticator: auth, MaxConnections: 1}, Options{})

	bad := mqtttest.Dial(t, e.b.Addr, packet.V311)
	bad.Send(&packet.Connect{Version: packet.V311, ClientID: "bad", CleanStart: true, UsernameFlag: true, Username: "u",
		PasswordFlag: true, Password: []byte("wrong")})
	if ack := bad.Expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode == packet.Success {
		t.Fatal("a wrong password was accepted")
	}
	bad.ExpectClosed(5 * time.Second)
	// The refused connection is counted as closed before the next one is
	// dialled, or MaxConnections would refuse the good one.
	testbroker.Eventually(t, 5*time.Second, func() error {
		if n := e.b.Stats().ConnectionsCurrent; n != 0 {
			return fmt.Errorf("%d connections open", n)
		}
		return nil
	})

	good, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "good", CleanStart: true,
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("good")})
	over := mqtttest.Dial(t, e.b.Addr, packet.V311)
	over.ExpectClosed(5 * time.Second)

	testbroker.Eventually(t, 5*time.Second, func() error {
		return e.scrape(t).expect(map[string]float64{
			`midge_auth_failures_total`:                             1,
			`midge_dropped_total{reason="max_connections"}`:         1,
			`midge_client_connects_total{protocol_version="3.1.1"}`: 1,
			`midge_connections_open`:                                1,
			`midge_connections_accepted_total`:                      2,
		})
	})
	good.Close()
}

func TestMetricsWrapNilAuthenticator(t *testing.T) {
	if a := NewMetrics().WrapAuthenticator(nil); a != nil {
		t.Fatalf("WrapAuthenticator(nil) = %v, want nil", a)
	}
}

func TestMetricsWithoutOptionsMetrics(t *testing.T) {
	// A Handler without Options.Metrics exports the same families, at zero.
	b := testbroker.Start(t, broker.Options{SysInterval: -1})
	h := New(b.Server, Options{})
	e := &env{b: b, h: h, client: &http.Client{Timeout: 10 * time.Second}}
	ts := newTestServer(t, h)
	e.url = ts
	s := e.scrape(t)
	if err := s.expect(map[string]float64{`midge_publishes_total{qos="0"}`: 0, `midge_build_info{version="unknown"}`: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsPublishThrottled exports the pauses of a client that publishes
// faster than MaxPublishRate as midge_publish_throttled_total.
func TestMetricsPublishThrottled(t *testing.T) {
	e := start(t, broker.Options{MaxPublishRate: 20}, Options{})
	sub, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
	subscribe(t, sub, "fast", 0)
	pub, _ := mqtttest.Connect(t, e.b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	for range 25 {
		pub.Send(&packet.Publish{Topic: "fast", Payload: []byte("x")})
	}
	for range 25 {
		sub.Expect(packet.TypePublish)
	}
	n := e.b.Stats().Throttled
	if n == 0 {
		t.Fatal("25 messages at once from a client allowed 20/s: no pause counted")
	}
	if err := e.scrape(t).expect(map[string]float64{`midge_publish_throttled_total`: float64(n)}); err != nil {
		t.Fatal(err)
	}
}
