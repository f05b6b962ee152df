package config

import (
	"errors"
	"fmt"
	"math"
	"net"
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
	if c.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
			bad("http_listen", "want host:port: %w", err)
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
	errs = append(errs, c.validateListeners()...)
	return errors.Join(errs...)
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
		} else if _, _, err := net.SplitHostPort(l.Address); err != nil {
			bad(key+".address", "want host:port: %w", err)
		}
	}
	return errs
}
