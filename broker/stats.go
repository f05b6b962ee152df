package broker

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
)

// DropReason names why the broker dropped something. Every drop is counted
// under its reason and reported in Stats.
type DropReason int

// The reasons for a drop.
const (
	// DropQueueFull is a QoS 1 or 2 message for a session whose queue held
	// MaxQueued messages already.
	DropQueueFull DropReason = iota
	// DropOutputFull is a QoS 0 message for a client whose output buffer held
	// MaxOutputBytes already.
	DropOutputFull
	// DropMaxConnections is a connection refused because MaxConnections
	// connections were open.
	DropMaxConnections
	// DropConnectTimeout is a connection closed because it sent no CONNECT
	// within ConnectTimeout.
	DropConnectTimeout
	// DropPacketTooLarge is a connection closed because it sent a packet over
	// MaxPacketSize.
	DropPacketTooLarge
	// DropObserverQueueFull is an event not passed to observers because their
	// queue was full.
	DropObserverQueueFull
	// DropStoreFull is a QoS 1 or 2 PUBLISH refused because the store had
	// reached MaxStoreBytes.
	DropStoreFull
	// DropExpired is a message whose Message Expiry Interval passed before
	// it could be sent to a session [MQTT-3.3.2-5].
	DropExpired
	// DropTooLargeForClient is a message not sent because its PUBLISH was
	// larger than the client's Maximum Packet Size (5.0).
	DropTooLargeForClient
	// DropBanned is a connection refused because its address failed
	// authentication too often.
	DropBanned
	// DropConnectRate is a connection closed because its address opened
	// more than MaxConnectRate connections per second.
	DropConnectRate
	// DropTopicLimit is a PUBLISH, will or subscription refused because its
	// topic was over MaxTopicLength or MaxTopicLevels.
	DropTopicLimit
	// DropSubscriptionLimit is a subscription refused because its session
	// held MaxSubscriptions already.
	DropSubscriptionLimit
	// DropPropertyLimit is a PUBLISH or CONNECT refused because it carried
	// more than MaxUserProperties user properties.
	DropPropertyLimit
	// DropStoreLost is a queued message dropped because the store no
	// longer held its entry or body, or held one it could not decode.
	DropStoreLost
	// DropStoreError is a QoS 1 or 2 PUBLISH not acknowledged as received
	// because the store write that held it failed: a 5.0 publisher is
	// told so in its PUBACK or PUBREC, a 3.1 or 3.1.1 publisher, which
	// cannot be, loses its connection and sends the message again.
	DropStoreError
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	DropQueueFull:         "queue_full",
	DropOutputFull:        "output_full",
	DropMaxConnections:    "max_connections",
	DropConnectTimeout:    "connect_timeout",
	DropPacketTooLarge:    "packet_too_large",
	DropObserverQueueFull: "observer_queue_full",
	DropStoreFull:         "store_full",
	DropExpired:           "expired",
	DropTooLargeForClient: "too_large_for_client",
	DropBanned:            "banned",
	DropConnectRate:       "connect_rate",
	DropTopicLimit:        "topic_limit",
	DropSubscriptionLimit: "subscription_limit",
	DropPropertyLimit:     "property_limit",
	DropStoreLost:         "store_lost",
	DropStoreError:        "store_error",
}

// String returns the reason's stable snake_case name, as used in logs and
// metrics.
func (r DropReason) String() string {
	if r >= 0 && r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	ConnectionsCurrent int64
	ConnectionsTotal   int64
	// ConnectionsMaximum is the most connections open at once so far.
	ConnectionsMaximum int64
	// ConnectionsParked is how many open connections are parked: idle,
	// without a goroutine or read buffer of their own (Options.IdleAfter).
	ConnectionsParked int64
	SessionsCurrent   int64
	MessagesReceived  int64
	MessagesSent      int64
	BytesReceived     int64
	BytesSent         int64
	Subscriptions     int64
	// Retained counts the retained messages of clients, not the broker's
	// own $SYS figures.
	Retained int64
	// Dropped counts drops by DropReason.String().
	Dropped map[string]int64

	// MessagesReceivedByQoS and MessagesSentByQoS split MessagesReceived
	// and MessagesSent by QoS (the index).
	MessagesReceivedByQoS [3]int64
	MessagesSentByQoS     [3]int64
	// MessageBytesReceivedByQoS and MessageBytesSentByQoS are the bytes of
	// those PUBLISH packets by QoS, whole packets; a will counts as a
	// message received but no bytes. A PUBLISH sent counts when it enters
	// the client's output, as MessagesSent does.
	MessageBytesReceivedByQoS [3]int64
	MessageBytesSentByQoS     [3]int64
	// Inflight and Queued sum the QoS 1 and 2 messages in flight to every
	// session's client and queued for it; QueuedMax is the longest queue
	// of one session. Stats walks the sessions to count them.
	Inflight  int64
	Queued    int64
	QueuedMax int64
	// StoreBytes is the disk space the store takes, asked of the store
	// when Stats is called; -1 when it cannot tell (it is no store.Sizer,
	// or it failed).
	StoreBytes int64
	// Throttled counts the times a client's reading was paused because it
	// published faster than MaxPublishRate or MaxPublishBandwidth.
	Throttled int64

	// ConnectsByVersion counts accepted CONNECTs by protocol version: 3.1,
	// 3.1.1, 5.0, then any other.
	ConnectsByVersion [4]int64
	// Disconnects counts the connections that closed after an accepted
	// CONNECT; DisconnectsGraceful those of them that the client ended with
	// a DISCONNECT that discards the will.
	Disconnects         int64
	DisconnectsGraceful int64
	// MessagesRoutedByQoS counts the messages accepted for routing by QoS:
	// the messages received from clients that were let through
	// (authorized, room in the store), and the wills published.
	MessagesRoutedByQoS [3]int64
}

// counters are the server's live figures. Each is updated without a lock.
type counters struct {
	// msgsIn and msgsOut count PUBLISH messages by QoS, msgBytesIn and
	// msgBytesOut the bytes of their packets; see counters.received and
	// counters.sent.
	msgsIn      [3]atomic.Int64
	msgsOut     [3]atomic.Int64
	msgBytesIn  [3]atomic.Int64
	msgBytesOut [3]atomic.Int64
	// delivery times each PUBLISH from routing to the subscriber's output.
	delivery histogram

	connsCurrent atomic.Int64
	connsTotal   atomic.Int64
	connsMax     atomic.Int64
	parked       atomic.Int64
	bytesIn      atomic.Int64
	bytesOut     atomic.Int64
	dropped      [numDropReasons]atomic.Int64
	throttled    atomic.Int64
	// connects counts accepted CONNECTs by versionIndex; disconnects the
	// connections closed after one, [1] those the client ended gracefully;
	// routed the messages accepted for routing by QoS.
	connects    [4]atomic.Int64
	disconnects [2]atomic.Int64
	routed      [3]atomic.Int64
}

// drop counts one drop and logs it. So that a flood cannot flood the log,
// only the first drop of a reason and then every 1000th are logged, with
// the running total.
func (s *Server) drop(r DropReason, clientID string) {
	s.dropFor(r, ClientInfo{ClientID: clientID})
}

// dropRemote is drop for a connection that has no client id yet, such as
// one refused at accept or one that sent no CONNECT: the log names its
// address instead.
func (s *Server) dropRemote(r DropReason, remote net.Addr) {
	s.dropFor(r, ClientInfo{Remote: remote})
}

// dropFor counts and logs a drop that hit the client info names: by its
// address when it has one, by its client id otherwise.
func (s *Server) dropFor(r DropReason, info ClientInfo) {
	n := s.counters.dropped[r].Add(1)
	if n == 1 || n%1000 == 0 {
		if info.Remote != nil {
			s.log.Warn("dropped", "reason", r.String(), "remote", info.Remote.String(), "total", n)
		} else {
			s.log.Warn("dropped", "reason", r.String(), "client_id", info.ClientID, "total", n)
		}
	}
	s.observe(event{kind: eventDrop, reason: r, info: info})
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		ConnectionsCurrent: s.counters.connsCurrent.Load(),
		ConnectionsTotal:   s.counters.connsTotal.Load(),
		ConnectionsMaximum: s.counters.connsMax.Load(),
		ConnectionsParked:  s.counters.parked.Load(),
		BytesReceived:      s.counters.bytesIn.Load(),
		BytesSent:          s.counters.bytesOut.Load(),
		Subscriptions:      int64(s.index.Len()),
		Retained:           int64(s.retained.Len()),
		Dropped:            make(map[string]int64, numDropReasons),
		Throttled:          s.counters.throttled.Load(),
	}
	s.mu.Lock()
	st.SessionsCurrent = int64(len(s.sessions))
	s.mu.Unlock()
	for r := range numDropReasons {
		st.Dropped[r.String()] = s.counters.dropped[r].Load()
	}
	s.addFigures(&st)
	return st
}

// logDebug reports whether debug logging is on, to guard hot-path calls.
func logDebug(l *slog.Logger) bool {
	return l.Enabled(context.Background(), slog.LevelDebug)
}

// logInfo reports whether l logs at info level: the per-connection lines
// are not even put together when it does not.
func logInfo(l *slog.Logger) bool {
	return l.Enabled(context.Background(), slog.LevelInfo)
}
