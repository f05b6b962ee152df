package web

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/midgemq/midge/broker"
)

// Metrics counts what the broker cannot see for /metrics: refusals of the
// authenticator it wraps (WrapAuthenticator) and messages published through
// the admin API. Give it to New in Options.Metrics; the rest of /metrics is
// read from the Server's Stats at scrape time. It is also a
// prometheus.Collector. The zero value is not usable; create one with
// NewMetrics. Its methods are safe for concurrent use.
type Metrics struct {
	authFailures   atomic.Int64
	adminPublishes atomic.Int64
}

var (
	authFailuresDesc = prometheus.NewDesc("midge_auth_failures_total",
		"CONNECTs refused by the authenticator (banned addresses count in midge_dropped_total instead).", nil, nil)
	adminPublishesDesc = prometheus.NewDesc("midge_admin_publishes_total",
		"Messages published through the admin API.", nil, nil)
)

// NewMetrics returns a Metrics with every counter at zero.
func NewMetrics() *Metrics {
	return new(Metrics)
}

// WrapAuthenticator returns an Authenticator that asks a and counts its
// refusals in midge_auth_failures_total. The broker has no observer event
// for a failed authentication, so this is how they are counted. A nil a
// gives nil, which lets every client in as before.
func (m *Metrics) WrapAuthenticator(a broker.Authenticator) broker.Authenticator {
	if a == nil {
		return nil
	}
	return &countingAuthenticator{next: a, m: m}
}

type countingAuthenticator struct {
	next broker.Authenticator
	m    *Metrics
}

// Authenticate implements broker.Authenticator.
func (a *countingAuthenticator) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) error {
	err := a.next.Authenticate(ctx, c, password)
	if err != nil {
		a.m.authFailures.Add(1)
	}
	return err
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- authFailuresDesc
	ch <- adminPublishesDesc
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(authFailuresDesc, prometheus.CounterValue, float64(m.authFailures.Load()))
	ch <- prometheus.MustNewConstMetric(adminPublishesDesc, prometheus.CounterValue, float64(m.adminPublishes.Load()))
}

// statsCollector exports a Server's Stats, read at scrape time.
type statsCollector struct {
	srv     *broker.Server
	version string
}

// statsFigure is one figure of broker.Stats and how it is exported.
type statsFigure struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*broker.Stats) int64
}

var statsFigures = []statsFigure{
	{desc: prometheus.NewDesc("midge_connections_open", "Client network connections open now.", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.ConnectionsCurrent }},
	{desc: prometheus.NewDesc("midge_connections_parked", "Open client connections parked while idle: without a goroutine or read buffer of their own.", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.ConnectionsParked }},
	{desc: prometheus.NewDesc("midge_connections_open_max", "Most client network connections open at once since the broker started.", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.ConnectionsMaximum }},
	{desc: prometheus.NewDesc("midge_connections_accepted_total", "Client network connections accepted.", nil, nil),
		kind: prometheus.CounterValue, value: func(s *broker.Stats) int64 { return s.ConnectionsTotal }},
	{desc: prometheus.NewDesc("midge_sessions", "Sessions held now, connected or not.", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.SessionsCurrent }},
	{desc: prometheus.NewDesc("midge_subscriptions", "Subscriptions held now.", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.Subscriptions }},
	{desc: prometheus.NewDesc("midge_retained_messages", "Retained messages of clients held now ($SYS excluded).", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.Retained }},
	{desc: prometheus.NewDesc("midge_received_bytes_total", "Bytes received from clients.", nil, nil),
		kind: prometheus.CounterValue, value: func(s *broker.Stats) int64 { return s.BytesReceived }},
	{desc: prometheus.NewDesc("midge_sent_bytes_total", "Bytes sent to clients.", nil, nil),
		kind: prometheus.CounterValue, value: func(s *broker.Stats) int64 { return s.BytesSent }},
	{desc: prometheus.NewDesc("midge_inflight_messages", "QoS 1 and 2 messages sent to clients and not yet acknowledged, over every session.", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.Inflight }},
	{desc: prometheus.NewDesc("midge_queued_messages", "QoS 1 and 2 messages waiting in session queues, over every session.", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.Queued }},
	{desc: prometheus.NewDesc("midge_queue_depth_max", "Messages in the longest session queue now.", nil, nil),
		kind: prometheus.GaugeValue, value: func(s *broker.Stats) int64 { return s.QueuedMax }},
	{desc: prometheus.NewDesc("midge_publish_throttled_total", "Pauses in reading a client that published faster than max_publish_rate or max_publish_bandwidth.", nil, nil),
		kind: prometheus.CounterValue, value: func(s *broker.Stats) int64 { return s.Throttled }},
}

// qosFigure is one figure of broker.Stats kept by QoS, exported as a
// counter with a qos label.
type qosFigure struct {
	desc  *prometheus.Desc
	value func(*broker.Stats) *[3]int64
}

var qosFigures = []qosFigure{
	{desc: prometheus.NewDesc("midge_messages_received_total",
		"PUBLISH messages received from clients, wills included, by QoS.", []string{"qos"}, nil),
		value: func(s *broker.Stats) *[3]int64 { return &s.MessagesReceivedByQoS }},
	{desc: prometheus.NewDesc("midge_messages_sent_total",
		"PUBLISH messages sent to clients, by QoS.", []string{"qos"}, nil),
		value: func(s *broker.Stats) *[3]int64 { return &s.MessagesSentByQoS }},
	{desc: prometheus.NewDesc("midge_messages_received_bytes_total",
		"Bytes of the PUBLISH packets received from clients, by QoS (midge_received_bytes_total counts every packet).",
		[]string{"qos"}, nil),
		value: func(s *broker.Stats) *[3]int64 { return &s.MessageBytesReceivedByQoS }},
	{desc: prometheus.NewDesc("midge_messages_sent_bytes_total",
		"Bytes of the PUBLISH packets sent to clients, by QoS (midge_sent_bytes_total counts every packet).",
		[]string{"qos"}, nil),
		value: func(s *broker.Stats) *[3]int64 { return &s.MessageBytesSentByQoS }},
	{desc: prometheus.NewDesc("midge_publishes_total",
		"Messages accepted for routing from clients (wills included), by QoS.", []string{"qos"}, nil),
		value: func(s *broker.Stats) *[3]int64 { return &s.MessagesRoutedByQoS }},
}

// qosLabels are the values of the qos label.
var qosLabels = [3]string{"0", "1", "2"}

// versionLabels are the protocol_version label values of
// broker.Stats.ConnectsByVersion.
var versionLabels = [4]string{"3.1", "3.1.1", "5.0", "unknown"}

var (
	connectsDesc = prometheus.NewDesc("midge_client_connects_total",
		"Client connections accepted by CONNECT, by MQTT protocol version.", []string{"protocol_version"}, nil)
	disconnectsDesc = prometheus.NewDesc("midge_client_disconnects_total",
		"Client connections closed after CONNECT; graceful is true when the client sent DISCONNECT.",
		[]string{"graceful"}, nil)
	droppedDesc = prometheus.NewDesc("midge_dropped_total",
		"Messages, connections and events the broker dropped, by reason.", []string{"reason"}, nil)
	buildInfoDesc = prometheus.NewDesc("midge_build_info",
		"Always 1; the version label names the running Midge.", []string{"version"}, nil)
	storeSizeDesc = prometheus.NewDesc("midge_store_size_bytes",
		"Disk space the store takes (absent for a store that cannot tell, such as the memory store).", nil, nil)
	deliveryLatencyDesc = prometheus.NewDesc("midge_delivery_latency_seconds",
		"Time from routing a message to appending its PUBLISH to a subscriber's output, per delivery "+
			"(retained messages for new subscriptions and packets sent again are not timed).", nil, nil)
	storeCommitDesc = prometheus.NewDesc("midge_store_commit_duration_seconds",
		"Time of each commit of a batch of writes to the store, fsync included.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range statsFigures {
		ch <- f.desc
	}
	for _, f := range qosFigures {
		ch <- f.desc
	}
	ch <- connectsDesc
	ch <- disconnectsDesc
	ch <- droppedDesc
	ch <- buildInfoDesc
	ch <- storeSizeDesc
	ch <- deliveryLatencyDesc
	ch <- storeCommitDesc
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	for _, f := range statsFigures {
		ch <- prometheus.MustNewConstMetric(f.desc, f.kind, float64(f.value(&st)))
	}
	for _, f := range qosFigures {
		for q, n := range f.value(&st) {
			ch <- prometheus.MustNewConstMetric(f.desc, prometheus.CounterValue, float64(n), qosLabels[q])
		}
	}
	for i, v := range versionLabels {
		ch <- prometheus.MustNewConstMetric(connectsDesc, prometheus.CounterValue, float64(st.ConnectsByVersion[i]), v)
	}
	ch <- prometheus.MustNewConstMetric(disconnectsDesc, prometheus.CounterValue,
		float64(st.Disconnects-st.DisconnectsGraceful), "false")
	ch <- prometheus.MustNewConstMetric(disconnectsDesc, prometheus.CounterValue, float64(st.DisconnectsGraceful), "true")
	for reason, n := range st.Dropped {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, c.version)
	if st.StoreBytes >= 0 {
		ch <- prometheus.MustNewConstMetric(storeSizeDesc, prometheus.GaugeValue, float64(st.StoreBytes))
	}
	lat := c.srv.Latency()
	ch <- constHistogram(deliveryLatencyDesc, lat.Delivery)
	ch <- constHistogram(storeCommitDesc, lat.StoreCommit)
}

// constHistogram turns one of the broker's histograms, whose counts are
// per bucket, into a Prometheus histogram, whose counts are cumulative.
func constHistogram(desc *prometheus.Desc, h broker.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var n uint64
	for i, bound := range h.Bounds {
		n += h.Counts[i]
		buckets[bound.Seconds()] = n
	}
	return prometheus.MustNewConstHistogram(desc, h.Count, h.Sum.Seconds(), buckets)
}
