package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
)

// Defaults for Options. Each bound has a safe default; see the field docs.
const (
	DefaultMaxPacketSize  = 1 << 20
	DefaultMaxInflight    = 32
	DefaultMaxQueued      = 1000
	DefaultMaxConnections = 10000
	DefaultConnectTimeout = 10 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	DefaultMaxOutputBytes = 4 << 20
	DefaultCommitInterval = 2 * time.Millisecond
	DefaultTopicAlias     = 64
	DefaultSysInterval    = 10 * time.Second

	DefaultMaxTopicLevels    = 128
	DefaultMaxTopicLength    = 65535
	DefaultMaxSubscriptions  = 10000
	DefaultMaxUserProperties = 64
	DefaultMaxConnectRate    = 200

	DefaultIdleAfter = 30 * time.Millisecond

	// RetainedOutputFactor is how many times MaxOutputBytes the output of
	// a client may hold in messages with the RETAIN flag.
	RetainedOutputFactor = 16
)

// Options configure a Server. The zero value is valid: EnsureDefaults fills
// every unset field with its default.
type Options struct {
	// Logger receives the server's logs. Nil means slog.Default().
	Logger *slog.Logger

	// MaxPacketSize is the largest MQTT packet, in bytes and including the
	// fixed header, that a client may send. A larger packet closes the
	// connection before its body is read. The default is 1 MiB; the
	// protocol's own bound is 268435460.
	MaxPacketSize int

	// MaxInflight is how many QoS 1 and 2 messages a session may have sent to
	// its client and not yet had acknowledged. Further messages wait in the
	// session's queue. The default is 32.
	MaxInflight int

	// MaxQueued is how many QoS 1 and 2 messages a session may hold waiting
	// for its client (while offline, or while the inflight window is full).
	// A message that finds the queue full is dropped for that session,
	// counted and logged, and an MQTT 5.0 publisher gets Quota Exceeded
	// (0x97) in its PUBACK or PUBREC. The default is 1000; a negative value
	// means no queue: messages that cannot be sent at once are dropped.
	MaxQueued int

	// MaxConnections is how many client connections the server holds at once.
	// A connection over the limit is closed at once, counted and logged. The
	// default is 10000; a negative value means no limit.
	MaxConnections int

	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT packet before it is closed. The default is 10s.
	ConnectTimeout time.Duration

	// WriteTimeout is how long a write to a client may block before the
	// connection is considered dead and closed. The default is 30s.
	WriteTimeout time.Duration

	// IdleAfter is how long a connection waits for input before it parks:
	// its goroutine ends and its read buffer goes back to a pool until the
	// socket is readable again, so that a connection with nothing to say
	// costs its session and little else. A connection woken again within
	// 40 times IdleAfter waits twice as long next time, up to 64 times
	// IdleAfter, so that busy connections stop paying for parks. After a
	// SUBSCRIBE a connection parks at once when nothing more has come.
	// Only plain TCP and Unix socket connections park, and only on Linux.
	// The default is 30ms; a negative value keeps every connection's
	// goroutine.
	IdleAfter time.Duration

	// MaxOutputBytes bounds the bytes waiting to be written to one client.
	// QoS 0 messages that would exceed it are dropped and counted; QoS 1 and
	// 2 messages are held back by the inflight window instead. Messages
	// with the RETAIN flag, as the retained messages sent for a new
	// subscription are, may fill RetainedOutputFactor times as much: a
	// subscription to many retained messages gets them all while its
	// client reads. The default is 4 MiB.
	MaxOutputBytes int

	// Authenticator decides whether a client may connect. Nil lets every
	// client in.
	Authenticator Authenticator

	// EnhancedAuth are the MQTT 5.0 enhanced authentication methods the
	// broker offers. A client that names one of them in CONNECT goes
	// through its exchange instead of the Authenticator; one that names
	// another is refused with Bad authentication method.
	EnhancedAuth []EnhancedAuthenticator

	// Authorizer decides what a connected client may publish and subscribe
	// to. Nil allows everything. It is asked when a client subscribes, not
	// for each message delivered, so while it is set a session belongs to
	// the user name of the client that made it: a client with another
	// user name that connects with the session's client id and Clean
	// Start 0 does not resume it (subscriptions and queued messages were
	// authorized for the other user) but starts a new one, with Session
	// Present 0. When its rules change, Server.Reauthorize asks it again
	// about the subscriptions made before.
	Authorizer Authorizer

	// Store keeps persistent sessions, their queued and inflight messages,
	// and retained messages. Nil means a new in-memory store; pass the same
	// store to a later Server to carry them over. The Server does not close
	// it.
	Store store.Store

	// TopicAliasMaximum is how many topic aliases an MQTT 5.0 client may
	// set on one connection. The default is 64; a negative value allows
	// none.
	TopicAliasMaximum int

	// MaxKeepAlive is the longest keep-alive, in seconds, that an MQTT 5.0
	// client may ask for: one that asks for more, or for none, is given
	// this one in CONNACK. Zero means no limit.
	MaxKeepAlive int

	// SysInterval is how often the broker publishes its figures under
	// $SYS/broker/ as retained messages. The default is 10s; a negative
	// value turns them off.
	SysInterval time.Duration

	// Version is what $SYS/broker/version says. The default is "midge".
	Version string

	// AuthFailureLimit is how many failed authentications an address may
	// have within AuthBanTime before its clients are refused (Banned,
	// 0x8A) for AuthBanTime. The default is 10; a negative value turns the
	// ban off.
	AuthFailureLimit int

	// AuthBanTime is the window and the length of a ban. The default is
	// one minute.
	AuthBanTime time.Duration

	// SharedStrategy chooses the member of a shared subscription group that
	// gets each message, among those that can take it: SharedRoundRobin
	// (the default) or SharedRandom.
	SharedStrategy SharedStrategy

	// Durability says whether a QoS 1 or 2 message is acknowledged before
	// or after the store has it on disk. The default is DurabilityBatch.
	Durability Durability

	// MaxStoreBytes bounds the disk space of the store, for stores that can
	// tell it (store.Sizer). Once the store holds more, QoS 1 and 2
	// PUBLISH packets are refused, counted and logged: MQTT 5.0 clients
	// get Quota Exceeded (0x97); 3.1 and 3.1.1 clients, which cannot be
	// told, get no acknowledgement and their connection is closed, so that
	// they send the message again later. They are accepted again, without
	// a restart, once the store is below the limit: while over it, the
	// server checks the size every 100ms and compacts a store that keeps
	// the space of deleted records until then (store.Compacter), so that
	// the queues drained give their space back. Zero means no limit.
	MaxStoreBytes int64

	// CommitInterval is how long DurabilityBatch gathers writes before one
	// commit. The default is 2ms.
	CommitInterval time.Duration

	// MaxTopicLevels bounds the levels of a topic name or filter (of a
	// shared subscription, the filter after the group). A PUBLISH or will
	// over it is refused as Topic Name invalid (0x90), a subscription as
	// Topic Filter invalid (0x8F). The default is 128; a negative value
	// means no limit.
	MaxTopicLevels int

	// MaxTopicLength bounds topic names and filters, in bytes, refused as
	// MaxTopicLevels says. The default is 65535, the protocol's own bound.
	MaxTopicLength int

	// MaxSubscriptions bounds the subscriptions one session holds; a new
	// one over it is refused with Quota exceeded (0x97; 0x80 before 5.0).
	// The default is 10000; a negative value means no limit.
	MaxSubscriptions int

	// MaxUserProperties bounds the User Properties of a CONNECT, its will
	// or a PUBLISH (5.0). A CONNECT over it is refused, a PUBLISH refused
	// as Implementation specific error (0x83). The default is 64; a
	// negative value means no limit.
	MaxUserProperties int

	// MaxConnectRate is how many connections per second one IP address may
	// open, with bursts of twice that; further connections are closed at
	// once and counted. Loopback addresses are not limited: they are local
	// tools, or a local proxy that speaks for many clients (with the PROXY
	// protocol the client's own address counts). The default is 200; a
	// negative value means no limit.
	MaxConnectRate float64

	// MaxPublishRate is how many PUBLISH packets per second one client may
	// send, with bursts of one second's worth. A faster client is slowed
	// down, not dropped: the broker reads its packets no faster than the
	// rate, and TCP holds the client back. Zero, the default, means no limit.
	MaxPublishRate float64

	// MaxPublishBandwidth is how many bytes of PUBLISH packets per second
	// one client may send, enforced as MaxPublishRate is. Zero, the default,
	// means no limit.
	MaxPublishBandwidth float64

	// Audit, when not nil, receives the audit log: one record per
	// connect, refused connect, authentication failure, ban,
	// re-authentication, authorization denial and disconnect, each with the
	// client's id, user name and remote address (see audit.go). Records
	// never hold passwords, tokens or authentication data.
	Audit *slog.Logger

	// Registry decides which connection may hold a client id. Nil means the
	// single-node registry, which always agrees.
	Registry SessionRegistry

	// Observers receive events after the broker has decided them (connects,
	// disconnects, publishes, drops). Each value is checked for the observer
	// interfaces in observer.go; one that implements none is refused by
	// Validate.
	Observers []any
}

// EnsureDefaults sets every zero field of o to its default.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Store == nil {
		o.Store = memory.New()
	}
	if o.Registry == nil {
		o.Registry = localRegistry{}
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = DefaultMaxPacketSize
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.MaxQueued == 0 {
		o.MaxQueued = DefaultMaxQueued
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxOutputBytes == 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if o.IdleAfter == 0 {
		o.IdleAfter = DefaultIdleAfter
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.AuthFailureLimit == 0 {
		o.AuthFailureLimit = 10
	}
	if o.AuthBanTime == 0 {
		o.AuthBanTime = time.Minute
	}
	if o.SysInterval == 0 {
		o.SysInterval = DefaultSysInterval
	}
	if o.Version == "" {
		o.Version = "midge"
	}
	if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = DefaultTopicAlias
	}
	if o.MaxTopicLevels == 0 {
		o.MaxTopicLevels = DefaultMaxTopicLevels
	}
	if o.MaxTopicLength == 0 {
		o.MaxTopicLength = DefaultMaxTopicLength
	}
	if o.MaxSubscriptions == 0 {
		o.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if o.MaxUserProperties == 0 {
		o.MaxUserProperties = DefaultMaxUserProperties
	}
	if o.MaxConnectRate == 0 {
		o.MaxConnectRate = DefaultMaxConnectRate
	}
}

// Validate reports the first field of o that holds an impossible value.
// Call it after EnsureDefaults.
func (o *Options) Validate() error {
	var errs []error
	if o.MaxPacketSize < 16 || o.MaxPacketSize > 268435460 {
		errs = append(errs, fmt.Errorf("broker: MaxPacketSize %d out of range 16..268435460", o.MaxPacketSize))
	}
	if o.MaxInflight < 1 || o.MaxInflight > 65535 {
		errs = append(errs, fmt.Errorf("broker: MaxInflight %d out of range 1..65535", o.MaxInflight))
	}
	if o.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("broker: ConnectTimeout %s is negative", o.ConnectTimeout))
	}
	if o.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("broker: WriteTimeout %s is negative", o.WriteTimeout))
	}
	if o.MaxOutputBytes < 0 {
		errs = append(errs, fmt.Errorf("broker: MaxOutputBytes %d is negative", o.MaxOutputBytes))
	}
	if o.Durability < DurabilityBatch || o.Durability > DurabilityNone {
		errs = append(errs, fmt.Errorf("broker: Durability %d unknown", int(o.Durability)))
	}
	if o.TopicAliasMaximum > 65535 {
		errs = append(errs, fmt.Errorf("broker: TopicAliasMaximum %d is over 65535", o.TopicAliasMaximum))
	}
	if o.SharedStrategy != SharedRoundRobin && o.SharedStrategy != SharedRandom {
		errs = append(errs, fmt.Errorf("broker: SharedStrategy %d unknown", int(o.SharedStrategy)))
	}
	if o.MaxKeepAlive < 0 || o.MaxKeepAlive > 65535 {
		errs = append(errs, fmt.Errorf("broker: MaxKeepAlive %d out of range 0..65535", o.MaxKeepAlive))
	}
	if o.MaxStoreBytes < 0 {
		errs = append(errs, fmt.Errorf("broker: MaxStoreBytes %d is negative", o.MaxStoreBytes))
	}
	if o.CommitInterval < 0 || o.CommitInterval > time.Second {
		errs = append(errs, fmt.Errorf("broker: CommitInterval %s out of range 0..1s", o.CommitInterval))
	}
	if o.MaxTopicLength > 65535 {
		errs = append(errs, fmt.Errorf("broker: MaxTopicLength %d is over 65535", o.MaxTopicLength))
	}
	if o.MaxPublishRate < 0 {
		errs = append(errs, fmt.Errorf("broker: MaxPublishRate %g is negative", o.MaxPublishRate))
	}
	if o.MaxPublishBandwidth < 0 {
		errs = append(errs, fmt.Errorf("broker: MaxPublishBandwidth %g is negative", o.MaxPublishBandwidth))
	}
	for i, ob := range o.Observers {
		if !isObserver(ob) {
			errs = append(errs, fmt.Errorf("broker: Observers[%d] (%T) implements no observer interface", i, ob))
		}
	}
	return errors.Join(errs...)
}
