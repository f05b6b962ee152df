package broker

import (
	"sync/atomic"
	"time"

	"github.com/midgemq/midge/packet"
)

// This file holds the figures that Stats and Latency report beyond plain
// counters: traffic by QoS, the sessions' inflight and queued messages,
// the store's size, and latency histograms. Everything the hot path
// touches is an atomic add; whatever needs a walk over the sessions or a
// question to the store is done when a snapshot is asked for.

// received counts one PUBLISH received from a client (or a will, with
// size 0) of QoS qos whose packet took size bytes.
func (c *counters) received(qos byte, size int) {
	if qos > 2 {
		return
	}
	c.msgsIn[qos].Add(1)
	if size > 0 {
		c.msgBytesIn[qos].Add(int64(size))
	}
}

// sent counts one PUBLISH of QoS qos, size bytes, appended to a client's
// output.
func (c *counters) sent(qos byte, size int) {
	if qos > 2 {
		return
	}
	c.msgsOut[qos].Add(1)
	c.msgBytesOut[qos].Add(int64(size))
}

// routedMsg counts one message of QoS qos accepted for routing.
func (c *counters) routedMsg(qos byte) {
	if qos <= 2 {
		c.routed[qos].Add(1)
	}
}

// connected counts an accepted CONNECT of protocol version v.
func (c *counters) connected(v packet.Version) {
	c.connects[versionIndex(v)].Add(1)
}

// disconnected counts a connection closed after an accepted CONNECT;
// graceful when the client ended it with a DISCONNECT that discards the
// will.
func (c *counters) disconnected(graceful bool) {
	if graceful {
		c.disconnects[1].Add(1)
	} else {
		c.disconnects[0].Add(1)
	}
}

// versionIndex is the index of v in Stats.ConnectsByVersion.
func versionIndex(v packet.Version) int {
	switch v {
	case packet.V31:
		return 0
	case packet.V311:
		return 1
	case packet.V5:
		return 2
	}
	return 3
}

// addFigures fills the fields of st that are not plain counters: traffic
// by QoS, the totals over the sessions and the store's size.
func (s *Server) addFigures(st *Stats) {
	for i := range st.ConnectsByVersion {
		st.ConnectsByVersion[i] = s.counters.connects[i].Load()
	}
	st.DisconnectsGraceful = s.counters.disconnects[1].Load()
	st.Disconnects = s.counters.disconnects[0].Load() + st.DisconnectsGraceful
	for q := range 3 {
		st.MessagesRoutedByQoS[q] = s.counters.routed[q].Load()
		st.MessagesReceivedByQoS[q] = s.counters.msgsIn[q].Load()
		st.MessagesSentByQoS[q] = s.counters.msgsOut[q].Load()
		st.MessageBytesReceivedByQoS[q] = s.counters.msgBytesIn[q].Load()
		st.MessageBytesSentByQoS[q] = s.counters.msgBytesOut[q].Load()
		st.MessagesReceived += st.MessagesReceivedByQoS[q]
		st.MessagesSent += st.MessagesSentByQoS[q]
	}
	s.mu.RLock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.RUnlock()
	for _, sess := range sessions {
		sess.mu.Lock()
		inflight, queued := len(sess.inflight), sess.queueLenLocked()
		sess.mu.Unlock()
		st.Inflight += int64(inflight)
		st.Queued += int64(queued)
		st.QueuedMax = max(st.QueuedMax, int64(queued))
	}
	st.StoreBytes = s.persist.diskSize()
}

// monoBase is the origin of the broker's time stamps.
var monoBase = time.Now()

// monoNow returns a time stamp from the monotonic clock alone (one clock
// read, where time.Now makes two): nanoseconds since monoBase, plus one
// so that 0 can mean "no stamp".
func monoNow() int64 {
	return int64(time.Since(monoBase)) + 1
}

// latencyBounds are the upper bounds of the buckets of the broker's latency
// histograms: from 10µs, where a delivery to a waiting subscriber lands,
// to 10s, where a slow disk or a slow client is.
var latencyBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// histogram counts durations in the buckets of latencyBounds. observe is
// two atomic adds and no lock, so it can sit on the per-delivery path; the
// zero value is empty and ready.
type histogram struct {
	// counts[i] counts the durations in (latencyBounds[i-1],
	// latencyBounds[i]]; the last element those above every bound.
	counts [len(latencyBounds) + 1]atomic.Uint64
	// sum is the total of the durations, in nanoseconds.
	sum atomic.Int64
}

// observe counts d.
func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// snapshot returns the histogram's counts. Observations that land while it
// reads may be in Sum and not in Counts, or the reverse; Count is the sum
// of Counts.
func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: latencyBounds[:], Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = time.Duration(h.sum.Load())
	return out
}

// Histogram is a snapshot of one of the broker's latency histograms.
type Histogram struct {
	// Bounds are the upper bounds of the buckets, in increasing order:
	// 10µs to 10s. Callers must not modify them.
	Bounds []time.Duration
	// Counts has one more element than Bounds: Counts[i] counts the
	// durations above Bounds[i-1] (or 0) and at most Bounds[i], and the last
	// element those above the last bound. The counts are not cumulative.
	Counts []uint64
	// Count is the number of durations observed, the sum of Counts.
	Count uint64
	// Sum is the total of the durations observed.
	Sum time.Duration
}

// Latency holds the broker's latency histograms.
type Latency struct {
	// Delivery times each PUBLISH sent to a subscriber, from the moment
	// the broker routed the message to the moment its PUBLISH packet was
	// appended to the subscriber's output (written to the socket by the
	// connection's next write). The time a message waits in a session's
	// queue counts. Not observed: retained messages sent because of a new
	// subscription, packets sent again after a reconnect, and messages
	// routed before the broker last started.
	Delivery Histogram
	// StoreCommit times each commit of a batch of writes to the store,
	// its fsync included (except with DurabilityNone, which does not
	// sync).
	StoreCommit Histogram
}

// Latency returns a snapshot of the broker's latency histograms.
func (s *Server) Latency() Latency {
	return Latency{
		Delivery:    s.counters.delivery.snapshot(),
		StoreCommit: s.persist.commits.snapshot(),
	}
}

// routedStamp is the time stamp that starts the delivery latency of msg as
// d delivers it: none for a retained message sent because of a new
// subscription, which was routed long before.
func routedStamp(msg *Message, d Delivery) int64 {
	if d.Retained {
		return 0
	}
	return msg.routed
}
