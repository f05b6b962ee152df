package config

// defaultsFile is the text of DefaultsFile. Its values must stay equal to
// Defaults(), and every key must have a comment; config_test.go checks both.
const defaultsFile = `# midge.toml: the configuration of the Midge MQTT broker.
#
# This is the complete default configuration, as printed by
# "midge config defaults": every key, set to its default. Every key is
# optional; a key left out keeps the default shown here. Check a file with
# "midge config check FILE".
#
# Sizes are strings with a unit, B, kB, MB, GB (powers of 1000) or KiB, MiB,
# GiB (powers of 1024), or plain integers counting bytes. Durations are
# strings such as "10s", "1m30s" or "500ms".
#
# SIGHUP (or POST /api/v1/reload) reads the file again and applies log_level,
# max_packet_size, max_inflight_messages, max_queued_messages, max_connections,
# write_timeout, max_output_bytes, max_keepalive and max_store_size while the
# broker runs; a change to any other key is refused, logged, and waits for a
# restart.

# Directory for the broker's state and its LOCK file (one process per directory).
data_dir = "midge-data"

# Lowest level of the logs written to stderr: "debug", "info", "warn" or "error".
log_level = "info"

# Format of the logs: "text" (key=value pairs) or "json" (one object per line).
log_format = "text"

# Largest MQTT packet a client may send, fixed header included (16B to 268435460).
max_packet_size = "1MiB"

# QoS 1 and 2 messages sent to a client and not yet acknowledged (1 to 65535).
max_inflight_messages = 32

# QoS 1 and 2 messages a session may hold waiting for its client; 0 means no queue.
max_queued_messages = 1000

# Client connections held at once; -1 means no limit.
max_connections = 10000

# Time a new connection has to send its CONNECT packet before it is closed.
connect_timeout = "10s"

# Time a write to a client may block before the connection is closed.
write_timeout = "30s"

# Bytes waiting to be written to one client before QoS 0 messages are dropped;
# 16 times as many for retained messages (those sent for a new subscription).
max_output_bytes = "4MiB"

# Longest keep-alive an MQTT 5.0 client may use, in whole seconds up to 65535s;
# a client that asks for more, or for none, is told this one. "0s" means no limit.
max_keepalive = "0s"

# Levels of a topic name or filter, beyond which a PUBLISH, will or subscription
# is refused; -1 means no limit.
max_topic_levels = 128

# Bytes of a topic name or filter, beyond which it is refused (1 to 65535).
max_topic_length = 65535

# Subscriptions one session may hold; -1 means no limit.
max_subscriptions = 10000

# MQTT 5.0 User Properties one CONNECT, will or PUBLISH may carry; -1 means no limit.
max_user_properties = 64

# Connections per second one IP address may open, in bursts of twice that;
# loopback addresses are not limited. -1 means no limit.
max_connect_rate = 200

# PUBLISH packets per second one client may send; a faster client is read more
# slowly, so TCP holds it back and nothing is dropped. 0 means no limit.
max_publish_rate = 0

# Bytes of PUBLISH packets per second one client may send, enforced the same way;
# 0 means no limit.
max_publish_bandwidth = "0B"

# Failed logins from one address within auth_ban_time before it is banned
# (refused with "banned") for auth_ban_time; -1 turns bans off.
auth_failure_limit = 10

# How long an address stays banned, and the window its failures are counted in.
auth_ban_time = "1m"

# File that receives the audit log, one JSON object per connect, refused
# connect, authentication failure, ban, authorization denial and disconnect
# (never a password or token); opened again on SIGHUP for log rotation. "-"
# means stderr; "" means no audit log.
audit_log = ""

# Address (host:port) of the HTTP server for Prometheus metrics (/metrics),
# health checks (/healthz, /readyz) and the admin API (/api/v1, see
# docs/openapi.yaml); "" means no HTTP server.
http_listen = ""

# Bearer token the admin API requires; "" turns the admin API off.
admin_token = ""

# How often the broker publishes its figures (clients, messages, bytes, load)
# as retained messages under $SYS/broker/; "0s" turns them off.
sys_interval = "10s"

# File of user:hash lines (Mosquitto's format, managed with "midge passwd").
# When set, clients must log in with a user name and password from it. Reloaded
# on SIGHUP.
password_file = ""

# Let clients without a user name in. When clients must log in (password_file,
# [jwt] or [http_auth]) it admits those without one too; with none of these,
# false lets in only clients on this machine (loopback addresses) and true lets
# in every client.
allow_anonymous = false

# File of access rules in Mosquitto's ACL syntax (user, topic, pattern lines).
# When set, what no rule allows is denied; "" means everything is allowed.
# Reloaded on SIGHUP, which takes back the subscriptions the new rules refuse.
acl_file = ""

# Which member of a shared subscription ($share/group/filter) gets each
# message: "round_robin" (in turn) or "random".
shared_subscription_strategy = "round_robin"

# Where sessions, queues and retained messages live: "pebble" (on disk in
# data_dir, survives crashes) or "memory" (lost when the process ends).
store = "pebble"

# When a QoS 1 or 2 message is acknowledged: "batch" (once the group commit
# holding it is on disk), "sync" (once its own commit is on disk) or "none"
# (at once; the store is written behind and synced within a second).
durability = "batch"

# How long "batch" durability gathers writes before one commit (0s to 1s).
commit_interval = "2ms"

# Disk space the store may take before QoS 1 and 2 messages are refused; 0 means no limit.
max_store_size = 0

# [jwt]: clients may log in with a JSON Web Token (RFC 7519) as their MQTT
# password; on when secret_file or public_key_file is set. A token needs a valid
# signature, an "exp" that has not passed and the claims below. Its "publish" and
# "subscribe" claims (arrays of topic filters, %u and %c allowed), when present,
# decide the client's topics instead of the acl_file.
[jwt]
# File of the shared secret of HMAC-signed tokens (HS256, HS384, HS512), at least
# 32 bytes; reloaded on SIGHUP.
secret_file = ""
# PEM file of the public keys or certificates that sign tokens: RSA (RS*, PS*),
# ECDSA (ES256, ES384, ES512) or Ed25519 (EdDSA); several keys allow rotation.
# Set it or secret_file, not both. Reloaded on SIGHUP.
public_key_file = ""
# Algorithms accepted, such as ["RS256"]; empty means every one the key can
# verify. "none" is never accepted.
algorithms = []
# When set, the token's "iss" claim must be this.
issuer = ""
# When set, the token's "aud" claim must be or contain this.
audience = ""
# Claim that must equal the MQTT user name; "" does not check it.
username_claim = "sub"
# Claim that must equal the MQTT client id; "" does not check it.
client_id_claim = ""
# Clock difference allowed when "exp", "nbf" and "iat" are checked (0s to 10m).
leeway = "30s"

# [http_auth]: an HTTP backend decides who may log in; on when url is set. Each
# CONNECT is POSTed as JSON (client_id, username, password, remote_addr,
# protocol_version). A 200 answer {"result": "allow"} lets the client in, with
# optional "grants": {"publish": [...], "subscribe": [...]}; "deny", 401 and 403
# refuse it; "ignore" leaves it to the password_file. Any other answer, an error
# or a timeout refuses it with "server unavailable".
[http_auth]
# URL of the backend, http:// or https://.
url = ""
# PEM file of the CAs that sign an https backend's certificate; "" means the
# system's. Reloaded on SIGHUP.
ca_file = ""
# Time one check may take, waiting for a free request slot included.
timeout = "5s"
# Requests to the backend in flight at once.
max_concurrent = 16
# How long an "allow" is reused for the same credentials and address; "0s"
# means no cache.
cache_ttl = "0s"

# Each [[listener]] table opens a socket that accepts MQTT clients. Writing
# any [[listener]] replaces this default one; repeat the table for more.
[[listener]]
# Unique name of the listener, used in logs and errors.
name = "mqtt"
# Transport: "tcp", "tls", "ws" (MQTT over WebSocket) or "wss" (WebSocket over TLS).
type = "tcp"
# Address to listen on, as host:port; an empty host means every interface.
# Defaults by type: tcp ":1883", tls ":8883", ws ":8083", wss ":8084".
address = ":1883"
# PEM certificate chain of a tls or wss listener (required there); reloaded on SIGHUP.
cert_file = ""
# PEM private key of that certificate (required with it).
key_file = ""
# PEM file of the CAs that sign client certificates (tls and wss).
client_ca_file = ""
# Whether tls and wss clients must show a certificate: "none", "request"
# (checked if shown) or "require".
client_auth = "none"
# HTTP path of a ws or wss listener; "/mqtt" when left out.
path = ""
# With client certificates, "cn" or "san" makes the name in a client's verified
# certificate its user name, with no password needed; "" keeps passwords.
use_identity_as_username = ""
# Behind a load balancer: every connection starts with a PROXY protocol (v1 or
# v2) header whose client address Midge then uses; connections without one are closed.
proxy_protocol = false
# Let clients that ask for Multipath TCP (RFC 8684) use it; off, the socket is
# plain TCP, whose connections cost the kernel less to accept.
multipath_tcp = false
#
# A second listener, for MQTT over WebSocket and TLS, would read:
# [[listener]]
# name = "web"
# type = "wss"
# cert_file = "/etc/midge/cert.pem"
# key_file = "/etc/midge/key.pem"
`

// DefaultsFile returns the complete default configuration file: every key
// set to its default, each with a comment saying what it means. Parsing it
// yields Defaults().
func DefaultsFile() string {
	return defaultsFile
}
