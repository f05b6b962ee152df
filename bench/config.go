package bench

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/midgemq/midge/packet"
)

// Scenario names a load pattern; the package documentation describes each.
type Scenario string

// The scenarios.
const (
	ScenarioConn    Scenario = "conn"
	ScenarioPub     Scenario = "pub"
	ScenarioSub     Scenario = "sub"
	ScenarioFanIn   Scenario = "fanin"
	ScenarioFanOut  Scenario = "fanout"
	ScenarioP2P     Scenario = "p2p"
	ScenarioShared  Scenario = "shared"
	ScenarioBacklog Scenario = "backlog"
)

// Scenarios returns every scenario, in the order the package documentation lists them.
func Scenarios() []Scenario {
	return []Scenario{ScenarioConn, ScenarioPub, ScenarioSub, ScenarioFanIn, ScenarioFanOut, ScenarioP2P,
		ScenarioShared, ScenarioBacklog, ScenarioSpread}
}

// Transport is how a client reaches the broker.
type Transport string

// The transports.
const (
	// TransportTCP is MQTT over plain TCP.
	TransportTCP Transport = "tcp"
	// TransportTLS is MQTT over TLS.
	TransportTLS Transport = "tls"
	// TransportWS is MQTT over WebSocket (subprotocol "mqtt").
	TransportWS Transport = "ws"
	// TransportWSS is MQTT over WebSocket over TLS.
	TransportWSS Transport = "wss"
)

// MinPayloadSize is the smallest payload: the send time and the two sequence numbers it carries.
const MinPayloadSize = 16

// MaxReadLoops bounds Config.ReadLoops: each loop is an epoll instance and a goroutine, and more loops than cores
// only take turns.
const MaxReadLoops = 256

// Limits of a few fields.
const (
	// maxPayloadSize keeps a PUBLISH well inside the protocol's largest packet.
	maxPayloadSize = 64 << 20
	// maxInflight is the number of packet identifiers there are.
	maxInflight = 65535
)

// Config describes a run. The zero value is valid once Scenario is set; EnsureDefaults fills the zero fields.
type Config struct {
	// Scenario is the load pattern. It is required.
	Scenario Scenario

	// Host is the broker's host:port. The default is "127.0.0.1:1883". Only loopback addresses and "localhost"
	// are accepted unless AllowRemote is set.
	Host string
	// AllowRemote allows a Host, and Sources, outside loopback.
	AllowRemote bool
	// Transport is how clients reach the broker. The default is TransportTCP.
	Transport Transport
	// WSPath is the HTTP path of a ws or wss broker. The default is "/mqtt".
	WSPath string
	// InsecureSkipVerify turns off the verification of the broker's certificate (tls and wss).
	InsecureSkipVerify bool
	// CAFile names a PEM file of the CAs that sign the broker's certificate (tls and wss). Empty means the
	// system's roots.
	CAFile string
	// Sources are the local addresses connections are made from, taken in turn. Each gives about 28,000
	// connections to one broker address; ParseSources reads ranges such as "127.0.0.1-127.0.0.8". Empty means the
	// system's choice.
	Sources []netip.Addr

	// Version is the protocol version clients speak. The default is packet.V311.
	Version packet.Version
	// Username and Password, when Username is not empty, are sent in every CONNECT.
	Username, Password string
	// ClientPrefix starts every client identifier, followed by "-p", "-s" or "-c" (publisher, subscriber,
	// connection) and the client's number. The default is "mb" and six random hexadecimal digits, so that
	// concurrent runs do not take over each other's sessions.
	ClientPrefix string
	// KeepAlive is the keep alive clients ask for; idle connections send PINGREQ in time. The default is one
	// minute; a negative value asks for none.
	KeepAlive time.Duration
	// ConnectTimeout bounds each connection's dial, handshakes and CONNACK. The default is 10s.
	ConnectTimeout time.Duration
	// ConnectRate is how many connections per second are opened. Zero means as fast as ConnectConcurrency allows.
	ConnectRate float64
	// ConnectConcurrency is how many connections may be in the middle of being opened at once. The default is 32.
	ConnectConcurrency int
	// ReadLoops is how many event loops read the connections, over tcp on Linux: each watches its share of the
	// sockets with epoll and reads them from one goroutine, which costs the machine less than a goroutine per
	// connection. Zero means one per GOMAXPROCS; a negative value gives each connection a reading goroutine, as
	// the other transports and systems always do. At most MaxReadLoops.
	ReadLoops int

	// Connections is the number of connections of the conn scenario. The default is 100.
	Connections int
	// Publishers is the number of publishers (of pairs for p2p). The default depends on the scenario: 8 for
	// fanin and shared, 10 for p2p and spread, 1 otherwise; the conn and sub scenarios have none.
	Publishers int
	// Subscribers is the number of subscribers. The default depends on the scenario: 100 for fanout, 4 for
	// shared, 1000 for spread, 1 otherwise; p2p has one per publisher, and the conn and pub scenarios have none.
	Subscribers int

	// QoS is the QoS of every PUBLISH and subscription: 0, 1 or 2. backlog needs 1 or 2.
	QoS byte
	// PayloadSize is the size of each payload in bytes, at least MinPayloadSize. The default is 64.
	PayloadSize int
	// Rate is how many messages per second each publisher sends, on a fixed schedule (open loop). Zero means as
	// fast as the broker takes them.
	Rate float64
	// Inflight is how many QoS 1 or 2 messages each publisher may have unacknowledged; an MQTT 5.0 broker's
	// Receive Maximum lowers it. The default is 64; at most 65535.
	Inflight int
	// Owed makes the run closed-loop: publishers pause while more than Owed deliveries are owed to subscribers
	// (published and not yet received). Zero means no such limit.
	Owed int
	// Duration bounds the publishing (for conn: how long connections are held; for sub: how long to listen).
	// Zero means no bound when Count is set; when both are zero the default is 10s. backlog ignores it.
	Duration time.Duration
	// Count is how many messages each publisher sends (for sub: how many messages each subscriber waits for).
	// Zero means no bound: Duration ends the run. The default for backlog is 100.
	Count int
	// IdleTimeout bounds every wait for the broker: a publisher whose window stays full, or a run waiting for
	// owed deliveries after publishing stopped, gives up after IdleTimeout without progress. The default is 3s.
	IdleTimeout time.Duration

	// Topic is the first level of every topic the run uses. The default is "bench".
	Topic string
	// Group is the shared subscription group of the shared scenario. The default is "g".
	Group string

	// Progress, when not nil, receives a progress line once per second.
	Progress io.Writer
}

// EnsureDefaults sets every zero field of c to its default, for c.Scenario.
func (c *Config) EnsureDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1:1883"
	}
	if c.Transport == "" {
		c.Transport = TransportTCP
	}
	if c.WSPath == "" {
		c.WSPath = "/mqtt"
	}
	if c.Version == 0 {
		c.Version = packet.V311
	}
	if c.ClientPrefix == "" {
		c.ClientPrefix = fmt.Sprintf("mb%06x", rand.Uint32()>>8)
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = time.Minute
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.ConnectConcurrency == 0 {
		c.ConnectConcurrency = 32
	}
	if c.PayloadSize == 0 {
		c.PayloadSize = 64
	}
	if c.Inflight == 0 {
		c.Inflight = 64
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 3 * time.Second
	}
	if c.Topic == "" {
		c.Topic = "bench"
	}
	if c.Group == "" {
		c.Group = "g"
	}
	if c.Scenario == ScenarioBacklog && c.Count == 0 {
		c.Count = 100
	}
	if c.Duration == 0 && c.Count == 0 {
		c.Duration = 10 * time.Second
	}
	switch c.Scenario {
	case ScenarioConn:
		if c.Connections == 0 {
			c.Connections = 100
		}
	case ScenarioPub:
		c.Publishers = defaultInt(c.Publishers, 1)
	case ScenarioSub:
		c.Subscribers = defaultInt(c.Subscribers, 1)
	case ScenarioFanIn:
		c.Publishers = defaultInt(c.Publishers, 8)
		c.Subscribers = defaultInt(c.Subscribers, 1)
	case ScenarioFanOut:
		c.Publishers = defaultInt(c.Publishers, 1)
		c.Subscribers = defaultInt(c.Subscribers, 100)
	case ScenarioP2P:
		c.Publishers = defaultInt(c.Publishers, 10)
		c.Subscribers = defaultInt(c.Subscribers, c.Publishers)
	case ScenarioShared:
		c.Publishers = defaultInt(c.Publishers, 8)
		c.Subscribers = defaultInt(c.Subscribers, 4)
	case ScenarioBacklog:
		c.Publishers = defaultInt(c.Publishers, 1)
		c.Subscribers = defaultInt(c.Subscribers, 1)
	case ScenarioSpread:
		c.Publishers = defaultInt(c.Publishers, 10)
		c.Subscribers = defaultInt(c.Subscribers, 1000)
	}
}

func defaultInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// Validate checks c, after EnsureDefaults, and returns every problem found, joined. Each wraps ErrInvalidConfig,
// or ErrRemoteTarget for an address outside loopback.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	switch c.Scenario {
	case ScenarioConn, ScenarioPub, ScenarioSub, ScenarioFanIn, ScenarioFanOut, ScenarioP2P, ScenarioShared,
		ScenarioBacklog, ScenarioSpread:
	case "":
		bad("no scenario")
	default:
		bad("unknown scenario %q", c.Scenario)
	}
	if err := checkHost(c.Host, c.AllowRemote); err != nil {
		errs = append(errs, err)
	}
	for _, a := range c.Sources {
		if !a.IsValid() {
			bad("invalid source address")
		} else if !c.AllowRemote && !a.IsLoopback() {
			errs = append(errs, fmt.Errorf("%w: source %s: only 127.0.0.0/8 and ::1 are allowed without AllowRemote",
				ErrRemoteTarget, a))
		}
	}
	switch c.Transport {
	case TransportTCP, TransportTLS, TransportWS, TransportWSS:
	default:
		bad("unknown transport %q (tcp, tls, ws or wss)", c.Transport)
	}
	if !strings.HasPrefix(c.WSPath, "/") {
		bad("websocket path %q does not start with /", c.WSPath)
	}
	if !c.Version.Valid() {
		bad("unsupported protocol version %d (3.1, 3.1.1 or 5.0)", byte(c.Version))
	}
	if c.QoS > 2 {
		bad("qos %d (0, 1 or 2)", c.QoS)
	}
	if c.Scenario == ScenarioBacklog && c.QoS == 0 {
		bad("backlog needs qos 1 or 2: a broker does not queue qos 0 messages for offline sessions")
	}
	if c.PayloadSize < MinPayloadSize || c.PayloadSize > maxPayloadSize {
		bad("payload size %d (%d to %d bytes)", c.PayloadSize, MinPayloadSize, maxPayloadSize)
	}
	if c.Rate < 0 {
		bad("negative rate %g", c.Rate)
	}
	if c.ConnectRate < 0 {
		bad("negative connect rate %g", c.ConnectRate)
	}
	if c.Inflight < 1 || c.Inflight > maxInflight {
		bad("inflight %d (1 to %d)", c.Inflight, maxInflight)
	}
	if c.Owed < 0 {
		bad("negative owed %d", c.Owed)
	}
	if c.Duration < 0 || c.Count < 0 {
		bad("negative duration or count")
	}
	if c.ConnectTimeout < 0 || c.IdleTimeout < 0 {
		bad("negative timeout")
	}
	if c.ConnectConcurrency < 1 {
		bad("connect concurrency %d (at least 1)", c.ConnectConcurrency)
	}
	if c.ReadLoops > MaxReadLoops {
		bad("read loops %d (at most %d)", c.ReadLoops, MaxReadLoops)
	}
	if c.Connections < 0 || c.Publishers < 0 || c.Subscribers < 0 {
		bad("negative number of clients")
	}
	switch c.Scenario {
	case ScenarioConn:
		if c.Connections < 1 {
			bad("conn needs at least one connection")
		}
	case ScenarioPub:
		if c.Publishers < 1 {
			bad("pub needs at least one publisher")
		}
	case ScenarioSub:
		if c.Subscribers < 1 {
			bad("sub needs at least one subscriber")
		}
	case ScenarioFanIn, ScenarioFanOut, ScenarioP2P, ScenarioShared, ScenarioBacklog, ScenarioSpread:
		if c.Publishers < 1 || c.Subscribers < 1 {
			bad("%s needs at least one publisher and one subscriber", c.Scenario)
		}
	}
	if c.Scenario == ScenarioP2P && c.Subscribers != c.Publishers {
		bad("p2p has one subscriber per publisher, not %d for %d", c.Subscribers, c.Publishers)
	}
	if c.Scenario == ScenarioSpread && c.Subscribers < c.Publishers {
		bad("spread needs at least one subscriber per publisher, not %d for %d", c.Subscribers, c.Publishers)
	}
	if c.Topic == "" || strings.ContainsAny(c.Topic, "+#") || strings.HasPrefix(c.Topic, "$") {
		bad("topic %q must be a non-empty topic name without wildcards, not starting with $", c.Topic)
	}
	if c.Group == "" || strings.ContainsAny(c.Group, "/+#") {
		bad("shared subscription group %q must be non-empty without /, + or #", c.Group)
	}
	if c.ClientPrefix == "" || strings.ContainsAny(c.ClientPrefix, "/+#") {
		bad("client prefix %q", c.ClientPrefix)
	}
	return errors.Join(errs...)
}

// checkHost checks that host is host:port and, unless remote is allowed, a loopback address or "localhost".
func checkHost(hostport string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%w: host %q: %w", ErrInvalidConfig, hostport, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: host %q: invalid port", ErrInvalidConfig, hostport)
	}
	if allowRemote || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("%w: host %q: only 127.0.0.0/8, ::1 and localhost are loaded unless remote targets are "+
		"allowed (-allow-remote)", ErrRemoteTarget, hostport)
}

// isLoopbackHost reports whether host is "localhost" or a literal loopback address. Other names are not resolved:
// what they resolve to can change between the check and the dial.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// ParseSources reads a list of source addresses: comma-separated addresses and inclusive ranges of IPv4
// addresses, such as "127.0.0.1-127.0.0.8,127.0.1.1". A range holds at most 65536 addresses.
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		from, to, isRange := strings.Cut(part, "-")
		first, err := netip.ParseAddr(strings.TrimSpace(from))
		if err != nil {
			return nil, fmt.Errorf("bench: source %q: %w", part, err)
		}
		if !isRange {
			out = append(out, first)
			continue
		}
		last, err := netip.ParseAddr(strings.TrimSpace(to))
		if err != nil {
			return nil, fmt.Errorf("bench: source %q: %w", part, err)
		}
		if !first.Is4() || !last.Is4() || last.Less(first) {
			return nil, fmt.Errorf("bench: source range %q: need two IPv4 addresses, the lower first", part)
		}
		for a, n := first, 0; ; a, n = a.Next(), n+1 {
			if n == 1<<16 {
				return nil, fmt.Errorf("bench: source range %q: more than 65536 addresses", part)
			}
			out = append(out, a)
			if a == last {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no source address in %q", s)
	}
	return out, nil
}
