package bench_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/bench"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
)

func TestReport(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	res := runBench(t, b.Addr, bench.Config{Scenario: bench.ScenarioBacklog, QoS: 1, Publishers: 2, Subscribers: 2,
		Count: 50, Owed: 10})

	t.Run("json", func(t *testing.T) {
		data, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"scenario", "published", "acked", "received", "expected", "lost", "duplicates",
			"publish_rate", "receive_rate", "latency", "connect", "drain", "elapsed_ns"} {
			if _, ok := fields[k]; !ok {
				t.Errorf("no %q in %s", k, data)
			}
		}
		lat, _ := fields["latency"].(map[string]any)
		for _, k := range []string{"count", "p50_ns", "p99_ns", "p999_ns", "max_ns"} {
			if _, ok := lat[k].(float64); !ok {
				t.Errorf("latency has no number %q: %v", k, lat)
			}
		}
		if fields["scenario"] != "backlog" || fields["received"] != 200.0 {
			t.Errorf("scenario %v received %v", fields["scenario"], fields["received"])
		}
		var back bench.Result
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !back.Start.Equal(res.Start) {
			t.Errorf("start %v, want %v", back.Start, res.Start)
		}
		back.Start, res.Start = time.Time{}, time.Time{}
		if !reflect.DeepEqual(back, res) {
			t.Errorf("decoded %+v\nwant %+v", back, res)
		}
	})

	t.Run("text", func(t *testing.T) {
		var buf bytes.Buffer
		if err := res.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, want := range []string{"backlog: 2 publishers -> 2 subscribers", "QoS 1", "published  100 msgs",
			"received   200 msgs", "0 lost, 0 duplicates", "p99.9", "drain      200 msgs"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in\n%s", want, out)
			}
		}
	})

	t.Run("go benchmark format", func(t *testing.T) {
		var buf bytes.Buffer
		if err := res.WriteGoBench(&buf); err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSuffix(buf.String(), "\n")
		f := strings.Split(line, "\t")
		if !strings.HasPrefix(f[0], "BenchmarkMidge/backlog/tcp/v=3.1.1/qos=1/pub=2/sub=2/size=64/owed=10-") ||
			f[1] != "1" || strings.Contains(line, "\n") {
			t.Fatalf("line %q", line)
		}
		units := map[string]bool{}
		for _, pair := range f[2:] {
			v, unit, ok := strings.Cut(pair, " ")
			if _, err := strconv.ParseFloat(v, 64); !ok || err != nil || strings.Contains(unit, " ") {
				t.Errorf("bad value-unit pair %q", pair)
			}
			units[unit] = true
		}
		for _, u := range []string{"pub-msgs/s", "recv-msgs/s", "p50-ns", "p99-ns", "p999-ns", "max-ns", "lost-msgs",
			"dup-msgs", "drain-ns"} {
			if !units[u] {
				t.Errorf("no unit %q in %q", u, line)
			}
		}
	})
}
