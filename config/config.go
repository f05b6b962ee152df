package config

import "time"

// Config is the whole content of midge.toml. The zero value is not valid;
// start from Defaults, or use Parse or Load, which fill in the defaults of
// every key a file leaves out.
type Config struct {
	// DataDir is the directory for Midge's state, including the LOCK file
	// that keeps a second process out. The default is "midge-data".
	DataDir string `toml:"data_dir"`

	// LogLevel is the lowest level logged: "debug", "info", "warn" or
	// "error". The default is "info".
	LogLevel string `toml:"log_level"`

	// LogFormat is how logs are written to stderr: "text" (logfmt-like
	// key=value) or "json". The default is "text".
	LogFormat string `toml:"log_format"`

	// MaxPacketSize is the largest MQTT packet, fixed header included, that a
	// client may send. The default is 1MiB; the bounds are 16 and 268435460.
	MaxPacketSize Size `toml:"max_packet_size"`

	// MaxInflightMessages is how many QoS 1 and 2 messages may be sent to a
	// client and not yet acknowledged. The default is 32; the bounds are 1
	// and 65535.
	MaxInflightMessages int `toml:"max_inflight_messages"`

	// MaxQueuedMessages is how many QoS 1 and 2 messages a session may hold
	// waiting for its client. The default is 1000; 0 means no queue: what
	// cannot be sent at once is dropped. It must not be negative.
	MaxQueuedMessages int `toml:"max_queued_messages"`

	// MaxConnections is how many client connections the broker holds at
	// once. The default is 10000; -1 means no limit and 0 is invalid.
	MaxConnections int `toml:"max_connections"`

	// ConnectTimeout is how long a new connection may take to send CONNECT.
	// The default is 10s; it must be positive.
	ConnectTimeout Duration `toml:"connect_timeout"`

	// WriteTimeout is how long a write to a client may block before the
	// connection is closed. The default is 30s; it must be positive.
	WriteTimeout Duration `toml:"write_timeout"`

	// MaxOutputBytes bounds the bytes waiting to be written to one client.
	// The default is 4MiB; it must be positive.
	MaxOutputBytes Size `toml:"max_output_bytes"`

	// MaxKeepalive is the longest keep-alive an MQTT 5.0 client may use:
	// one that asks for more, or for none, is given this one in CONNACK.
	// The default is 0s, no limit; it is whole seconds up to 65535s.
	MaxKeepalive Duration `toml:"max_keepalive"`

	// MaxTopicLevels bounds the levels of a topic name or filter. The
	// default is 128; -1 means no limit and 0 is invalid.
	MaxTopicLevels int `toml:"max_topic_levels"`

	// MaxTopicLength bounds topic names and filters, in bytes. The default
	// is 65535, the protocol's own bound; it must be 1 to 65535.
	MaxTopicLength int `toml:"max_topic_length"`

	// MaxSubscriptions bounds the subscriptions of one session. The default
	// is 10000; -1 means no limit and 0 is invalid.
	MaxSubscriptions int `toml:"max_subscriptions"`

	// MaxUserProperties bounds the MQTT 5.0 User Properties of one CONNECT,
	// will or PUBLISH. The default is 64; -1 means no limit and 0 is invalid.
	MaxUserProperties int `toml:"max_user_properties"`

	// MaxConnectRate is how many connections per second one IP address
	// may open (bursts of twice that); loopback addresses are not limited.
	// The default is 200; -1 means no limit and 0 is invalid.
	MaxConnectRate int `toml:"max_connect_rate"`

	// MaxPublishRate is how many PUBLISH packets per second one client may
	// send; a faster client is read more slowly. The default is 0, no limit.
	MaxPublishRate int `toml:"max_publish_rate"`

	// MaxPublishBandwidth is how many bytes of PUBLISH packets per second
	// one client may send, enforced as MaxPublishRate. The default is 0, no
	// limit.
	MaxPublishBandwidth Size `toml:"max_publish_bandwidth"`

	// AuthFailureLimit is how many failed logins an address may have
	// within AuthBanTime before it is banned for AuthBanTime. The default
	// is 10; -1 turns bans off and 0 is invalid.
	AuthFailureLimit int `toml:"auth_failure_limit"`

	// AuthBanTime is the window of AuthFailureLimit and the length of a
	// ban. The default is 1m; it must be positive.
	AuthBanTime Duration `toml:"auth_ban_time"`

	// AuditLog is the file that receives the audit log: one JSON object per
	// connect, refused connect, authentication failure, ban, authorization
	// denial and disconnect. It is opened for appending and opened again on
	// SIGHUP (for log rotation). The default is "", no audit log; "-" means
	// stderr.
	AuditLog string `toml:"audit_log"`

	// HTTPListen is the host:port of the HTTP server for Prometheus
	// metrics (/metrics), health checks (/healthz, /readyz) and the admin
	// API (/api/v1). The default is "", no HTTP server.
	HTTPListen string `toml:"http_listen"`
	// AdminToken is the bearer token the admin API requires; "" (the
	// default) turns the admin API off.
	AdminToken string `toml:"admin_token"`
	// SysInterval is how often the broker publishes its figures under
	// $SYS/broker/. The default is 10s; 0s turns them off.
	SysInterval Duration `toml:"sys_interval"`
	// PasswordFile is a file of user:hash lines (Mosquitto's format, made
	// with "midge passwd"); when set, clients must give a user name and
	// password in it. The default is "", no password file.
	PasswordFile string `toml:"password_file"`
	// AllowAnonymous lets clients without a user name in. When clients
	// must authenticate (a password_file, [jwt] or [http_auth] is set), it
	// admits those without one too; with none of these, false (the
	// default) lets in only clients on loopback addresses and true every
	// client.
	AllowAnonymous bool `toml:"allow_anonymous"`
	// ACLFile is a file of access rules in Mosquitto's ACL syntax; when
	// set, what is not allowed by a rule is denied. The default is "", no
	// rules: everything is allowed.
	ACLFile string `toml:"acl_file"`
	// SharedSubscriptionStrategy chooses the member of a shared
	// subscription group that gets each message: "round_robin" or
	// "random". The default is "round_robin".
	SharedSubscriptionStrategy string `toml:"shared_subscription_strategy"`
	// Store is where sessions, queues and retained messages are kept:
	// "pebble" (on disk in DataDir, crash-safe) or "memory" (lost when the
	// process ends). The default is "pebble".
	Store string `toml:"store"`
	// Durability says when a QoS 1 or 2 message is acknowledged: "batch"
	// (after the group commit that holds it is on disk), "sync" (after its
	// own commit is on disk) or "none" (at once; the store is written
	// behind). The default is "batch".
	Durability string `toml:"durability"`
	// CommitInterval is how long "batch" durability gathers writes before
	// one commit. The default is 2ms; the bounds are 0 and 1s.
	CommitInterval Duration `toml:"commit_interval"`
	// MaxStoreSize is the disk space the store may take before QoS 1 and 2
	// messages are refused; they are accepted again once it is below, with
	// no restart. The default is 0, no limit.
	MaxStoreSize Size `toml:"max_store_size"`
	// JWT lets clients log in with a JSON Web Token as their password,
	// written as the [jwt] table. It is off unless a key file is set.
	JWT JWT `toml:"jwt"`
	// HTTPAuth asks an HTTP backend whether a client may log in, written
	// as the [http_auth] table. It is off unless its URL is set.
	HTTPAuth HTTPAuth `toml:"http_auth"`
	// Listeners are the sockets that accept clients, written as [[listener]]
	// tables. The default is one TCP listener named "mqtt" on ":1883"; a file
	// that has any [[listener]] replaces that list.
	Listeners []Listener `toml:"listener"`
}

// Listener is one [[listener]] table: a socket that accepts MQTT clients.
type Listener struct {
	// Name identifies the listener in logs and errors; names are unique. The
	// default is "mqtt".
	Name string `toml:"name"`

	// Type is the transport: "tcp" (the default), "tls", "ws" (MQTT over
	// WebSocket) or "wss" (over WebSocket and TLS).
	Type string `toml:"type"`

	// Address is the host:port to listen on; an empty host means every
	// interface. The default depends on the type: ":1883" for tcp, ":8883"
	// for tls, ":8083" for ws, ":8084" for wss.
	Address string `toml:"address"`

	// CertFile and KeyFile are the PEM certificate chain and key of a tls
	// or wss listener; both are required there. They are reloaded on
	// SIGHUP.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`

	// ClientCAFile is the PEM file of the CAs that sign client
	// certificates; required when ClientAuth is not "none".
	ClientCAFile string `toml:"client_ca_file"`

	// ClientAuth is whether a tls or wss client must show a certificate:
	// "none" (the default), "request" (checked if shown) or "require".
	ClientAuth string `toml:"client_auth"`

	// Path is the HTTP path of a ws or wss listener. The default is
	// "/mqtt".
	Path string `toml:"path"`

	// UseIdentityAsUsername makes the name in a client's verified
	// certificate its user name, with no password needed: "cn" (the
	// subject's common name), "san" (the first DNS, else email, else URI
	// subject alternative name) or "" (the default: certificates only
	// secure the connection).
	UseIdentityAsUsername string `toml:"use_identity_as_username"`

	// ProxyProtocol expects every connection to start with a PROXY
	// protocol (v1 or v2) header from a load balancer, whose client
	// address is then used for logs, bans and ACLs. The default is false.
	ProxyProtocol bool `toml:"proxy_protocol"`

	// MultipathTCP lets clients that ask for Multipath TCP (RFC 8684)
	// use it. The default is false: a plain TCP socket, as each
	// connection accepted through a Multipath TCP socket costs the kernel
	// more, whether the client uses it or not.
	MultipathTCP bool `toml:"multipath_tcp"`
}

// JWT is the [jwt] table: JSON Web Tokens (RFC 7519) as MQTT passwords. A
// token is accepted when its signature verifies, it has not expired, and
// its claims name the client; its "publish" and "subscribe" claims, when
// present, are the client's topics instead of the ACL's.
type JWT struct {
	// SecretFile holds the shared secret of HMAC-signed tokens (HS256,
	// HS384, HS512), at least 32 bytes; trailing white space is not part of
	// it. The default is "", no secret. Reloaded on SIGHUP.
	SecretFile string `toml:"secret_file"`

	// PublicKeyFile is a PEM file of the public keys (or certificates)
	// that sign tokens: RSA (RS256..., PS256...), ECDSA (ES256, ES384,
	// ES512) or Ed25519 (EdDSA); several keys allow rotation. The default
	// is "", no key; it excludes SecretFile. Reloaded on SIGHUP.
	PublicKeyFile string `toml:"public_key_file"`

	// Algorithms are the signature algorithms accepted; empty, the
	// default, means every one the key can verify. "none" is never
	// accepted.
	Algorithms []string `toml:"algorithms"`

	// Issuer, when not "", must be the token's "iss" claim. The default is
	// "".
	Issuer string `toml:"issuer"`

	// Audience, when not "", must be the token's "aud" claim or one of its
	// values. The default is "".
	Audience string `toml:"audience"`

	// UsernameClaim names the claim that must equal the MQTT user name.
	// The default is "sub"; "" does not check the user name.
	UsernameClaim string `toml:"username_claim"`

	// ClientIDClaim names the claim that must equal the MQTT client id. The
	// default is "", not checked; at least one of UsernameClaim and
	// ClientIDClaim must be set.
	ClientIDClaim string `toml:"client_id_claim"`

	// Leeway is how far the issuer's clock may be from the broker's when
	// "exp", "nbf" and "iat" are checked. The default is 30s; the bounds
	// are 0s and 10m.
	Leeway Duration `toml:"leeway"`
}

// Enabled reports whether tokens are accepted: a key file is set.
func (j *JWT) Enabled() bool { return j.SecretFile != "" || j.PublicKeyFile != "" }

// HTTPAuth is the [http_auth] table: an HTTP backend that decides who may
// log in.
type HTTPAuth struct {
	// URL receives a POST with the client's id, user name, password,
	// address and protocol version as JSON, for each CONNECT. The default
	// is "", no backend.
	URL string `toml:"url"`

	// CAFile is a PEM file of the CAs that sign an https backend's
	// certificate. The default is "", the system's roots. Reloaded on
	// SIGHUP.
	CAFile string `toml:"ca_file"`

	// Timeout bounds one check, waiting for a free request slot included;
	// no answer in time refuses the client (server unavailable). The
	// default is 5s; it must be positive.
	Timeout Duration `toml:"timeout"`

	// MaxConcurrent bounds the requests in flight at once. The default is
	// 16; it must be positive.
	MaxConcurrent int `toml:"max_concurrent"`

	// CacheTTL is how long an "allow" answer is reused for the same
	// credentials from the same address. The default is 0s, no cache.
	CacheTTL Duration `toml:"cache_ttl"`
}

// Enabled reports whether the backend is asked: its URL is set.
func (h *HTTPAuth) Enabled() bool { return h.URL != "" }

// defaultAddress is the listening address of each listener type when a
// [[listener]] table gives none.
var defaultAddress = map[string]string{"tcp": ":1883", "tls": ":8883", "ws": ":8083", "wss": ":8084"}

// The values that Listener.Type, Config.LogLevel and Config.LogFormat may
// take, in the order error messages list them.
var (
	listenerTypes    = []string{"tcp", "tls", "ws", "wss"}
	clientAuths      = []string{"none", "request", "require"}
	logLevels        = []string{"debug", "info", "warn", "error"}
	logFormats       = []string{"text", "json"}
	storeKinds       = []string{"pebble", "memory"}
	durabilities     = []string{"batch", "sync", "none"}
	sharedStrategies = []string{"round_robin", "random"}
	// jwtAlgorithms are the JWS algorithms [jwt] knows, HMAC first.
	jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
		"ES256", "ES384", "ES512", "EdDSA"}
)

// DefaultListener returns the listener of Defaults, whose fields are also the
// defaults of each field a [[listener]] table leaves out.
func DefaultListener() Listener {
	return Listener{Name: "mqtt", Type: "tcp", Address: ":1883", ClientAuth: "none"}
}

// Defaults returns a new Config holding the default of every key; it is
// what an empty file yields.
func Defaults() *Config {
	return &Config{
		DataDir:                    "midge-data",
		LogLevel:                   "info",
		LogFormat:                  "text",
		MaxPacketSize:              1 << 20,
		MaxInflightMessages:        32,
		MaxQueuedMessages:          1000,
		MaxConnections:             10000,
		ConnectTimeout:             Duration{10 * time.Second},
		WriteTimeout:               Duration{30 * time.Second},
		MaxOutputBytes:             4 << 20,
		MaxTopicLevels:             128,
		MaxTopicLength:             65535,
		MaxSubscriptions:           10000,
		MaxUserProperties:          64,
		MaxConnectRate:             200,
		AuthFailureLimit:           10,
		AuthBanTime:                Duration{time.Minute},
		Store:                      "pebble",
		SysInterval:                Duration{10 * time.Second},
		SharedSubscriptionStrategy: "round_robin",
		Durability:                 "batch",
		CommitInterval:             Duration{2 * time.Millisecond},
		JWT:                        JWT{Algorithms: []string{}, UsernameClaim: "sub", Leeway: Duration{30 * time.Second}},
		HTTPAuth:                   HTTPAuth{Timeout: Duration{5 * time.Second}, MaxConcurrent: 16},
		Listeners:                  []Listener{DefaultListener()},
	}
}
