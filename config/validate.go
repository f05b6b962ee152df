package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of the numeric keys.
const (
	// minPacketSize is the smallest max_packet_size: room for the fixed
	// header and a small CONNECT.
	minPacketSize = 16
	// maxPacketSize is the largest max_packet_size, the protocol's own bound:
	// a 4-byte Remaining Length of 268435455 plus the 5-byte fixed header.
	maxPacketSize = 268435460
	// maxInflight is the largest max_inflight_messages, the number of packet
	// identifiers.
	maxInflight = 65535
	// maxKeepalive is the largest max_keepalive, the largest keep-alive
	// MQTT can carry.
	maxKeepalive = 65535 * time.Second
)

// Validate checks every key of c and returns one *Error per problem, naming
// the key, joined with errors.Join; nil when c is valid. The errors carry no
// file or line: Parse and Load add them.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Err: fmt.Errorf(format, args...)})
	}

	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		bad("log_level", "unknown level %q (levels: %s)", c.LogLevel, strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.LogFormat) {
		bad("log_format", "unknown format %q (formats: %s)", c.LogFormat, strings.Join(logFormats, ", "))
	}
	if c.MaxPacketSize < minPacketSize || c.MaxPacketSize > maxPacketSize {
		bad("max_packet_size", "%s out of range %d..%d bytes", c.MaxPacketSize, minPacketSize, maxPacketSize)
	}
	if c.MaxInflightMessages < 1 || c.MaxInflightMessages > maxInflight {
		bad("max_inflight_messages", "%d out of range 1..%d", c.MaxInflightMessages, maxInflight)
	}
	if c.MaxQueuedMessages < 0 {
		bad("max_queued_messages", "%d is negative", c.MaxQueuedMessages)
	}
	if c.MaxConnections == 0 || c.MaxConnections < -1 {
		bad("max_connections", "%d is invalid: want a positive limit, or -1 for no limit", c.MaxConnections)
	}
	if c.ConnectTimeout.Duration <= 0 {
		bad("connect_timeout", "%s is not positive", c.ConnectTimeout.Duration)
	}
	if c.WriteTimeout.Duration <= 0 {
		bad("write_timeout", "%s is not positive", c.WriteTimeout.Duration)
	}
	if c.MaxOutputBytes <= 0 || int64(c.MaxOutputBytes) > math.MaxInt {
		bad("max_output_bytes", "%s out of range 1..%d bytes", c.MaxOutputBytes, math.MaxInt)
	}
	if d := c.MaxKeepalive.Duration; d < 0 || d > maxKeepalive || d%time.Second != 0 {
		bad("max_keepalive", "%s is invalid: want whole seconds from 0s to %s", d, maxKeepalive)
	}
	for _, l := range []struct {
		key string
		v   int
	}{
		{"max_topic_levels", c.MaxTopicLevels}, {"max_subscriptions", c.MaxSubscriptions},
		{"max_user_properties", c.MaxUserProperties}, {"max_connect_rate", c.MaxConnectRate},
		{"auth_failure_limit", c.AuthFailureLimit},
	} {
		if l.v == 0 || l.v < -1 {
			bad(l.key, "%d is invalid: want a positive number, or -1 for no limit", l.v)
		}
	}
	if c.MaxTopicLength < 1 || c.MaxTopicLength > 65535 {
		bad("max_topic_length", "%d out of range 1..65535", c.MaxTopicLength)
	}
	if c.MaxPublishRate < 0 {
		bad("max_publish_rate", "%d is negative", c.MaxPublishRate)
	}
	if int64(c.MaxPublishBandwidth) < 0 {
		bad("max_publish_bandwidth", "%s is negative", c.MaxPublishBandwidth)
	}
	if c.AuthBanTime.Duration <= 0 {
		bad("auth_ban_time", "%s is not positive", c.AuthBanTime.Duration)
	}
	if c.HTTPListen != "" {
		if err := checkHostPort(c.HTTPListen); err != nil {
			bad("http_listen", "%w", err)
		}
	}
	if c.SysInterval.Duration < 0 {
		bad("sys_interval", "%s is negative", c.SysInterval.Duration)
	}
	if !slices.Contains(sharedStrategies, c.SharedSubscriptionStrategy) {
		bad("shared_subscription_strategy", "unknown strategy %q (strategies: %s)", c.SharedSubscriptionStrategy, strings.Join(sharedStrategies, ", "))
	}
	if !slices.Contains(storeKinds, c.Store) {
		bad("store", "unknown store %q (stores: %s)", c.Store, strings.Join(storeKinds, ", "))
	}
	if !slices.Contains(durabilities, c.Durability) {
		bad("durability", "unknown durability %q (durabilities: %s)", c.Durability, strings.Join(durabilities, ", "))
	}
	if c.CommitInterval.Duration < 0 || c.CommitInterval.Duration > time.Second {
		bad("commit_interval", "%s out of range 0s..1s", c.CommitInterval.Duration)
	}
	if int64(c.MaxStoreSize) < 0 {
		bad("max_store_size", "%s is negative", c.MaxStoreSize)
	}
	errs = append(errs, c.validateJWT()...)
	errs = append(errs, c.validateHTTPAuth()...)
	errs = append(errs, c.validateListeners()...)
	return errors.Join(errs...)
}

// maxJWTLeeway bounds jwt.leeway: more would let expired tokens in for long.
const maxJWTLeeway = 10 * time.Minute

// validateJWT checks the [jwt] table.
func (c *Config) validateJWT() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Err: fmt.Errorf(format, args...)})
	}
	j := &c.JWT
	if j.SecretFile != "" && j.PublicKeyFile != "" {
		bad("jwt.public_key_file", "set secret_file or public_key_file, not both")
	}
	for i, a := range j.Algorithms {
		key := "jwt.algorithms[" + strconv.Itoa(i) + "]"
		hmac := strings.HasPrefix(a, "HS")
		switch {
		case strings.EqualFold(a, "none"):
			bad(key, `"none" (unsigned tokens) is never accepted`)
		case !slices.Contains(jwtAlgorithms, a):
			bad(key, "unknown algorithm %q (algorithms: %s)", a, strings.Join(jwtAlgorithms, ", "))
		case hmac && j.PublicKeyFile != "":
			bad(key, "%s needs a secret_file, not a public_key_file", a)
		case !hmac && j.SecretFile != "":
			bad(key, "%s needs a public_key_file, not a secret_file", a)
		}
	}
	if j.Enabled() && j.UsernameClaim == "" && j.ClientIDClaim == "" {
		bad("jwt.username_claim", "username_claim or client_id_claim must be set, or a token would not be bound to its client")
	}
	if !j.Enabled() && (len(j.Algorithms) > 0 || j.Issuer != "" || j.Audience != "" || j.ClientIDClaim != "") {
		bad("jwt", "algorithms, issuer, audience and client_id_claim need a secret_file or a public_key_file")
	}
	if l := j.Leeway.Duration; l < 0 || l > maxJWTLeeway {
		bad("jwt.leeway", "%s out of range 0s..%s", l, maxJWTLeeway)
	}
	return errs
}

// validateHTTPAuth checks the [http_auth] table.
func (c *Config) validateHTTPAuth() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Err: fmt.Errorf(format, args...)})
	}
	h := &c.HTTPAuth
	if h.URL != "" {
		u, err := url.Parse(h.URL)
		switch {
		case err != nil:
			// url.Parse quotes the URL, which may hold a password.
			bad("http_auth.url", "not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			bad("http_auth.url", "%q: want an http:// or https:// URL", u.Redacted())
		case u.Host == "":
			bad("http_auth.url", "%q: no host", u.Redacted())
		case h.CAFile != "" && u.Scheme != "https":
			bad("http_auth.ca_file", "a CA file is for an https url")
		}
	} else if h.CAFile != "" {
		bad("http_auth.ca_file", "set without a url")
	}
	if h.Timeout.Duration <= 0 {
		bad("http_auth.timeout", "%s is not positive", h.Timeout.Duration)
	}
	if h.MaxConcurrent < 1 {
		bad("http_auth.max_concurrent", "%d is not positive", h.MaxConcurrent)
	}
	if h.CacheTTL.Duration < 0 {
		bad("http_auth.cache_ttl", "%s is negative", h.CacheTTL.Duration)
	}
	return errs
}

// validateListeners checks the [[listener]] tables.
func (c *Config) validateListeners() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Err: fmt.Errorf(format, args...)})
	}
	if len(c.Listeners) == 0 {
		bad("listener", "at least one [[listener]] is required")
	}
	seen := make(map[string]int, len(c.Listeners))
	for i, l := range c.Listeners {
		key := "listener[" + strconv.Itoa(i) + "]"
		switch first, dup := seen[l.Name]; {
		case l.Name == "":
			bad(key+".name", "must not be empty")
		case dup:
			bad(key+".name", "duplicate listener name %q (also listener[%d])", l.Name, first)
		default:
			seen[l.Name] = i
		}
		if !slices.Contains(listenerTypes, l.Type) {
			bad(key+".type", "unknown listener type %q (types: %s)", l.Type, strings.Join(listenerTypes, ", "))
		}
		secure := l.Type == "tls" || l.Type == "wss"
		if secure && (l.CertFile == "" || l.KeyFile == "") {
			bad(key+".cert_file", "a %s listener needs cert_file and key_file", l.Type)
		}
		if !secure && (l.CertFile != "" || l.KeyFile != "" || l.ClientCAFile != "") {
			bad(key+".cert_file", "certificates are for tls and wss listeners, not %s", l.Type)
		}
		if l.ClientAuth == "" {
			l.ClientAuth = "none"
		}
		if !slices.Contains(clientAuths, l.ClientAuth) {
			bad(key+".client_auth", "unknown value %q (values: %s)", l.ClientAuth, strings.Join(clientAuths, ", "))
		} else if l.ClientAuth != "none" && l.ClientCAFile == "" {
			bad(key+".client_auth", "client_auth %q needs client_ca_file", l.ClientAuth)
		}
		switch id := l.UseIdentityAsUsername; {
		case id != "" && id != "cn" && id != "san":
			bad(key+".use_identity_as_username", "unknown value %q (values: cn, san)", id)
		case id != "" && (!secure || l.ClientAuth == "none"):
			bad(key+".use_identity_as_username", "needs a tls or wss listener with client_auth request or require")
		}
		if (l.Type == "ws" || l.Type == "wss") && !strings.HasPrefix(l.Path, "/") {
			bad(key+".path", "path %q must start with /", l.Path)
		}
		if l.Address == "" {
			bad(key+".address", "must not be empty")
		} else if err := checkHostPort(l.Address); err != nil {
			bad(key+".address", "%w", err)
		}
	}
	return errs
}

// checkHostPort checks that addr is host:port with a port net.Listen takes: a
// number from 0 to 65535 or a service name.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("bad port in %q: %w", addr, err)
	}
	return nil
}
