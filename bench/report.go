package bench

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/midgemq/midge/packet"
)

// Result is what a run measured. It marshals to JSON with encoding/json; durations are integer nanoseconds and
// rates are per second.
type Result struct {
	// The run's parameters, after defaults.
	Scenario    Scenario  `json:"scenario"`
	Host        string    `json:"host"`
	Transport   Transport `json:"transport"`
	Version     string    `json:"protocol_version"`
	QoS         byte      `json:"qos"`
	PayloadSize int       `json:"payload_size"`
	Publishers  int       `json:"publishers"`
	Subscribers int       `json:"subscribers"`
	Connections int       `json:"connections,omitempty"`
	// Rate is the schedule of each publisher in messages per second; 0 means as fast as possible.
	Rate     float64 `json:"rate"`
	Inflight int     `json:"inflight"`
	// Owed is the closed-loop limit; 0 means none.
	Owed     int           `json:"owed"`
	Count    int           `json:"count"`
	Duration time.Duration `json:"duration_ns"`

	// Start is when the run started, Elapsed how long it took in all, connecting and closing included.
	Start   time.Time     `json:"start"`
	Elapsed time.Duration `json:"elapsed_ns"`

	// Connect describes the connections.
	Connect ConnectResult `json:"connect"`

	// Published counts the PUBLISH packets sent; Acked those acknowledged (PUBACK, or PUBCOMP for QoS 2), Refused
	// those acknowledged with a failure reason code (5.0).
	Published int64 `json:"published"`
	Acked     int64 `json:"acked"`
	Refused   int64 `json:"refused"`
	// Expected is the number of deliveries the messages accepted owe (0 for pub, and for sub without Count).
	// Received counts the deliveries, Duplicates those received before (same publisher and sequence number), and
	// Lost is Expected less the deliveries that were not duplicates, or 0 when that is negative.
	Expected   int64 `json:"expected"`
	Received   int64 `json:"received"`
	Duplicates int64 `json:"duplicates"`
	Lost       int64 `json:"lost"`

	// PublishRate is Published over the time from the start of publishing to the last message sent ("msg/s
	// in"); AckRate is Acked over the time to the last acknowledgement; ReceiveRate is the deliveries that were
	// not duplicates over the time to the last delivery ("msg/s out"). For backlog ReceiveRate is the drain rate.
	PublishRate float64 `json:"publish_rate"`
	AckRate     float64 `json:"ack_rate"`
	ReceiveRate float64 `json:"receive_rate"`

	// Latency is the publish-to-delivery latency. With a Rate it is measured from the time each message was
	// scheduled (LatencyFromSchedule), otherwise from the time it was sent.
	Latency             Latency `json:"latency"`
	LatencyFromSchedule bool    `json:"latency_from_schedule"`

	// OwedStalls counts the times a closed-loop run gave up on owed deliveries that had stopped coming.
	OwedStalls int64 `json:"owed_stalls"`

	// Drain describes the delivery of the backlog; nil for other scenarios.
	Drain *Drain `json:"drain,omitempty"`

	// Errors holds the first errors of the run, if any.
	Errors []string `json:"errors,omitempty"`
	// Notes explain figures that could be misread, such as messages lost by the broker's policy.
	Notes []string `json:"notes,omitempty"`
}

// ConnectResult describes the connections of a run.
type ConnectResult struct {
	// Attempted, Established and Failed count the connections tried, opened and not opened; Lost counts those the
	// broker closed, or that failed, before the end of the run.
	Attempted   int64 `json:"attempted"`
	Established int64 `json:"established"`
	Failed      int64 `json:"failed"`
	Lost        int64 `json:"lost"`
	// Elapsed is the time spent opening connections, and Rate is Established over it.
	Elapsed time.Duration `json:"elapsed_ns"`
	Rate    float64       `json:"rate"`
	// Latency is the time from the start of the dial to the CONNACK.
	Latency Latency `json:"latency"`
}

// Drain describes how a backlog was delivered.
type Drain struct {
	// Messages counts the deliveries, duplicates aside, and Elapsed is the time from the start of the
	// reconnection to the last delivery.
	Messages int64         `json:"messages"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Rate     float64       `json:"rate"`
}

// result gathers the figures once every goroutine of the run is over.
func (rn *runner) result() Result {
	c := &rn.cfg
	r := Result{
		Scenario:    c.Scenario,
		Host:        c.Host,
		Transport:   c.Transport,
		Version:     c.Version.String(),
		QoS:         c.QoS,
		PayloadSize: c.PayloadSize,
		Publishers:  len(rn.plan.topics),
		Subscribers: len(rn.plan.filters),
		Rate:        c.Rate,
		Inflight:    c.Inflight,
		Owed:        c.Owed,
		Count:       c.Count,
		Duration:    c.Duration,
		Start:       rn.start,
		Elapsed:     time.Since(rn.start),
		Published:   rn.n.sent.Load(),
		Acked:       rn.n.acked.Load(),
		Refused:     rn.n.refused.Load(),
		Expected:    rn.expected,
		Received:    rn.n.received.Load(),
		Duplicates:  rn.n.duplicates.Load(),
		OwedStalls:  rn.gate.stalls.Load(),

		LatencyFromSchedule: c.Rate > 0,
	}
	if c.Scenario == ScenarioConn {
		r.Connections = c.Connections
	}
	r.Connect = ConnectResult{
		Attempted:   rn.connAttempted.Load(),
		Established: rn.connEstablished.Load(),
		Failed:      rn.connFailed.Load(),
		Lost:        rn.connLost.Load(),
		Elapsed:     rn.connectTime,
		Rate:        perSecond(rn.connEstablished.Load(), rn.connectTime),
		Latency:     rn.connHist.Summary(),
	}
	unique := r.Received - r.Duplicates
	r.Lost = max(r.Expected-unique, 0)
	if r.Lost > 0 && c.Scenario == ScenarioBacklog && c.Version < packet.V5 {
		r.Notes = append(r.Notes, policyLossNote)
	}

	var lastSent, lastAck, lastRecv int64
	for _, p := range rn.pubs {
		if p != nil {
			lastSent, lastAck = max(lastSent, p.lastSent), max(lastAck, p.lastAck)
		}
	}
	for _, s := range rn.subs {
		if s != nil {
			lastRecv = max(lastRecv, s.lastAt)
		}
	}
	r.PublishRate = perSecond(r.Published, since(rn.publishStart, lastSent))
	r.AckRate = perSecond(r.Acked, since(rn.publishStart, lastAck))
	r.ReceiveRate = perSecond(unique, since(rn.receiveStart, lastRecv))

	var all Histogram
	for _, h := range rn.hists {
		all.Merge(h)
	}
	r.Latency = all.Summary()

	if !rn.drainStart.IsZero() {
		d := since(rn.drainStart, lastRecv)
		r.Drain = &Drain{Messages: unique, Elapsed: d, Rate: perSecond(unique, d)}
	}
	return r
}

// policyLossNote explains the loss of a backlog run before MQTT 5.0.
const policyLossNote = "over MQTT 3.1.x a broker cannot refuse a message it will not queue: lost includes the " +
	"messages over its limit of queued messages per offline session (max_queued_messages); with -V 5 they are refused instead"

// since returns the time from start to end (Unix nanoseconds), or 0 when either is unset.
func since(start time.Time, end int64) time.Duration {
	if start.IsZero() || end == 0 {
		return 0
	}
	return max(time.Duration(end-start.UnixNano()), 0)
}

// perSecond returns n per second of d, or 0 when d is 0.
func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// WriteText writes a summary of r for people.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-10s ", label)
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	switch r.Scenario {
	case ScenarioConn:
		fmt.Fprintf(&b, "%s: %d connections to %s, MQTT %s over %s, held %s\n", r.Scenario, r.Connections, r.Host,
			r.Version, r.Transport, r.Duration)
	default:
		fmt.Fprintf(&b, "%s: %s -> %s on %s, QoS %d, MQTT %s over %s, %d-byte payloads", r.Scenario,
			plural(r.Publishers, "publisher"), plural(r.Subscribers, "subscriber"), r.Host, r.QoS, r.Version,
			r.Transport, r.PayloadSize)
		if r.Rate > 0 {
			fmt.Fprintf(&b, ", %g msg/s per publisher", r.Rate)
		}
		if r.Owed > 0 {
			fmt.Fprintf(&b, ", owed <= %d", r.Owed)
		}
		b.WriteByte('\n')
	}
	line("time", "%s", round(r.Elapsed))
	cn := &r.Connect
	line("connect", "%d of %d in %s (%.0f/s), %d failed, %d lost", cn.Established, cn.Attempted, round(cn.Elapsed),
		cn.Rate, cn.Failed, cn.Lost)
	line("", "latency %s", latencyText(cn.Latency))
	if r.Scenario != ScenarioConn {
		if r.Publishers > 0 {
			line("published", "%d msgs, %.0f msg/s", r.Published, r.PublishRate)
			if r.QoS > 0 {
				line("acked", "%d msgs, %.0f msg/s, %d refused", r.Acked, r.AckRate, r.Refused)
			}
		}
		if r.Subscribers > 0 {
			line("received", "%d msgs, %.0f msg/s, %d expected", r.Received, r.ReceiveRate, r.Expected)
			line("loss", "%d lost, %d duplicates", r.Lost, r.Duplicates)
			from := "send"
			if r.LatencyFromSchedule {
				from = "schedule"
			}
			line("latency", "%s (from %s)", latencyText(r.Latency), from)
		}
		if r.Drain != nil {
			line("drain", "%d msgs in %s (%.0f msg/s)", r.Drain.Messages, round(r.Drain.Elapsed), r.Drain.Rate)
		}
		if r.OwedStalls > 0 {
			line("stalls", "%d (owed deliveries written off)", r.OwedStalls)
		}
	}
	for _, e := range r.Errors {
		line("error", "%s", e)
	}
	for _, n := range r.Notes {
		line("note", "%s", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// plural returns n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func latencyText(l Latency) string {
	if l.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %s  p99 %s  p99.9 %s  max %s  mean %s", round(l.P50), round(l.P99), round(l.P999),
		round(l.Max), round(l.Mean))
}

// round shortens d to three or four significant digits.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}

// WriteGoBench writes r as one line of Go benchmark output, so that benchstat can compare runs: the name holds the
// scenario and its parameters, and each figure is a value with its unit.
func (r *Result) WriteGoBench(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "BenchmarkMidge/%s/%s/v=%s/qos=%d", r.Scenario, r.Transport, r.Version, r.QoS)
	if r.Scenario == ScenarioConn {
		fmt.Fprintf(&b, "/conns=%d", r.Connections)
	} else {
		fmt.Fprintf(&b, "/pub=%d/sub=%d/size=%d", r.Publishers, r.Subscribers, r.PayloadSize)
	}
	if r.Rate > 0 {
		fmt.Fprintf(&b, "/rate=%g", r.Rate)
	}
	if r.Owed > 0 {
		fmt.Fprintf(&b, "/owed=%d", r.Owed)
	}
	fmt.Fprintf(&b, "-%d\t1", runtime.GOMAXPROCS(0))
	add := func(v float64, unit string) { fmt.Fprintf(&b, "\t%.6g %s", v, unit) }
	lat := func(prefix string, l Latency) {
		add(float64(l.P50), prefix+"p50-ns")
		add(float64(l.P99), prefix+"p99-ns")
		add(float64(l.P999), prefix+"p999-ns")
		add(float64(l.Max), prefix+"max-ns")
	}
	if r.Scenario == ScenarioConn {
		add(r.Connect.Rate, "conns/s")
		lat("connect-", r.Connect.Latency)
		add(float64(r.Connect.Failed), "failed-conns")
	} else {
		add(r.PublishRate, "pub-msgs/s")
		add(r.ReceiveRate, "recv-msgs/s")
		if r.Subscribers > 0 {
			lat("", r.Latency)
			add(float64(r.Lost), "lost-msgs")
			add(float64(r.Duplicates), "dup-msgs")
		}
		if r.Drain != nil {
			add(float64(r.Drain.Elapsed), "drain-ns")
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
