package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// preamble pushes the keys of the test documents down a few lines, so that
// a line number of 1 cannot pass by accident.
const preamble = "# test file\n\n"

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want func(c *Config)
	}{
		{
			name: "empty file",
			doc:  "",
			want: func(*Config) {},
		},
		{
			name: "comments only",
			doc:  preamble + "# nothing\n",
			want: func(*Config) {},
		},
		{
			name: "top-level keys",
			doc: preamble + `data_dir = "/var/lib/midge"
log_level = "debug"
log_format = "json"
max_packet_size = "256KiB"
max_inflight_messages = 100
max_queued_messages = 0
max_connections = -1
connect_timeout = "2s"
write_timeout = "1m30s"
max_output_bytes = "64kB"
`,
			want: func(c *Config) {
				c.DataDir = "/var/lib/midge"
				c.LogLevel = "debug"
				c.LogFormat = "json"
				c.MaxPacketSize = 256 << 10
				c.MaxInflightMessages = 100
				c.MaxQueuedMessages = 0
				c.MaxConnections = -1
				c.ConnectTimeout = Duration{2 * time.Second}
				c.WriteTimeout = Duration{90 * time.Second}
				c.MaxOutputBytes = 64000
			},
		},
		{
			name: "sizes as integers and plain strings",
			doc:  preamble + "max_packet_size = 65536\nmax_output_bytes = \"1000000\"\n",
			want: func(c *Config) {
				c.MaxPacketSize = 65536
				c.MaxOutputBytes = 1000000
			},
		},
		{
			name: "size with a space before the unit",
			doc:  preamble + "max_packet_size = \"2 MB\"\n",
			want: func(c *Config) { c.MaxPacketSize = 2000000 },
		},
		{
			name: "listeners replace the default and keep field defaults",
			doc: preamble + `[[listener]]
name = "local"
address = "127.0.0.1:1883"

[[listener]]
name = "public"
type = "tcp"
address = "[::]:8883"

[[listener]]
name = "other"
`,
			want: func(c *Config) {
				c.Listeners = []Listener{
					{Name: "local", Type: "tcp", Address: "127.0.0.1:1883", ClientAuth: "none"},
					{Name: "public", Type: "tcp", Address: "[::]:8883", ClientAuth: "none"},
					{Name: "other", Type: "tcp", Address: ":1883", ClientAuth: "none"},
				}
			},
		},
		{
			name: "listener with no keys is the default listener",
			doc:  preamble + "[[listener]]\n",
			want: func(*Config) {},
		},
		{
			name: "listeners as an array of inline tables",
			doc:  preamble + "listener = [{name = \"a\", address = \":1\"}, {name = \"b\"}]\n",
			want: func(c *Config) {
				c.Listeners = []Listener{
					{Name: "a", Type: "tcp", Address: ":1", ClientAuth: "none"},
					{Name: "b", Type: "tcp", Address: ":1883", ClientAuth: "none"},
				}
			},
		},
		{
			name: "keys after the listeners stay top-level only before them",
			doc:  preamble + "log_level = \"warn\"\n[[listener]]\naddress = \"localhost:1884\"\n",
			want: func(c *Config) {
				c.LogLevel = "warn"
				c.Listeners = []Listener{{Name: "mqtt", Type: "tcp", Address: "localhost:1884", ClientAuth: "none"}}
			},
		},
		{
			name: "bounds are inclusive",
			doc:  preamble + "max_packet_size = 16\nmax_inflight_messages = 65535\nmax_connections = 1\n",
			want: func(c *Config) {
				c.MaxPacketSize = 16
				c.MaxInflightMessages = 65535
				c.MaxConnections = 1
			},
		},
		{
			name: "jwt table keeps the defaults of the keys it leaves out",
			doc:  preamble + "[jwt]\npublic_key_file = \"/etc/midge/jwt.pem\"\nalgorithms = [\"RS256\", \"ES256\"]\naudience = \"midge\"\n",
			want: func(c *Config) {
				c.JWT.PublicKeyFile = "/etc/midge/jwt.pem"
				c.JWT.Algorithms = []string{"RS256", "ES256"}
				c.JWT.Audience = "midge"
			},
		},
		{
			name: "jwt bound to the client id only",
			doc:  preamble + "[jwt]\nsecret_file = \"s\"\nusername_claim = \"\"\nclient_id_claim = \"cid\"\nleeway = \"0s\"\n",
			want: func(c *Config) {
				c.JWT.SecretFile = "s"
				c.JWT.UsernameClaim = ""
				c.JWT.ClientIDClaim = "cid"
				c.JWT.Leeway = Duration{}
			},
		},
		{
			name: "http_auth as a dotted key and a table",
			doc:  preamble + "http_auth.url = \"https://auth.example/mqtt\"\nhttp_auth.cache_ttl = \"1m\"\n",
			want: func(c *Config) {
				c.HTTPAuth.URL = "https://auth.example/mqtt"
				c.HTTPAuth.CacheTTL = Duration{time.Minute}
			},
		},
		{
			name: "largest packet size",
			doc:  preamble + "max_packet_size = 268435460\n",
			want: func(c *Config) { c.MaxPacketSize = 268435460 },
		},
		{
			name: "largest keepalive",
			doc:  preamble + "max_keepalive = \"18h12m15s\"\n",
			want: func(c *Config) { c.MaxKeepalive = Duration{65535 * time.Second} },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("midge.toml", []byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Defaults()
			tc.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string // preamble is prepended: line 3 is the first line of doc
		line int
		key  string
		want string // a further substring of the message
	}{
		// Unknown keys and tables (strict decoding).
		{name: "unknown key", doc: "log_level = \"info\"\n\n\n\nmax_inflite = 3\n", line: 7, key: "max_inflite", want: "unknown key"},
		{name: "unknown key in listener", doc: "[[listener]]\nname = \"a\"\nport = 1883\n", line: 5, key: "listener[0].port", want: "unknown key"},
		{name: "unknown key in second listener", doc: "[[listener]]\n[[listener]]\nname = \"b\"\nbind = \":1\"\n", line: 6, key: "listener[1].bind", want: "unknown key"},
		{name: "unknown key in inline listener", doc: "listener = [\n  {name = \"a\"},\n  {name = \"b\", bogus = 1},\n]\n", line: 5, key: "listener[1].bogus", want: "unknown key"},
		{name: "unknown table", doc: "\n[bridge]\nname = \"x\"\n", line: 4, key: "bridge", want: "unknown key"},
		{name: "unknown dotted key", doc: "log.level = \"info\"\n", line: 3, key: "log.level", want: "unknown key"},

		// Wrong types.
		{name: "string for integer", doc: "max_inflight_messages = \"32\"\n", line: 3, key: "max_inflight_messages", want: "want an integer, got a string"},
		{name: "integer for string", doc: "\ndata_dir = 5\n", line: 4, key: "data_dir", want: "want a string, got an integer"},
		{name: "float for integer", doc: "max_connections = 1.5\n", line: 3, key: "max_connections", want: "want an integer, got a float"},
		{name: "integer for duration", doc: "connect_timeout = 10\n", line: 3, key: "connect_timeout", want: `want a duration string like "10s", got an integer`},
		{name: "boolean for size", doc: "max_output_bytes = true\n", line: 3, key: "max_output_bytes", want: "got a boolean"},
		{name: "float for size", doc: "max_packet_size = 1.5\n", line: 3, key: "max_packet_size", want: "got a float"},
		{name: "array for string", doc: "log_level = [\"info\"]\n", line: 3, key: "log_level", want: "got an array"},
		{name: "date for duration", doc: "write_timeout = 1979-05-27\n", line: 3, key: "write_timeout", want: "got a date or time"},
		{name: "integer for listener name", doc: "[[listener]]\n\nname = 7\n", line: 5, key: "listener[0].name", want: "want a string"},
		{name: "listener as a plain table", doc: "[listener]\nname = \"a\"\n", line: 3, key: "listener", want: "written [[listener]]"},
		{name: "listener as an inline table", doc: "listener = {name = \"a\"}\n", line: 3, key: "listener", want: "got an inline table"},
		{name: "listener as an integer", doc: "listener = 1\n", line: 3, key: "listener", want: "got an integer"},
		{name: "listener array of integers", doc: "listener = [1]\n", line: 3, key: "listener[0]", want: "want a table, got an integer"},
		{name: "dotted key into listener", doc: "listener.name = \"a\"\n", line: 3, key: "listener", want: "got a table"},

		// Values the types refuse.
		{name: "bad size unit", doc: "\nmax_packet_size = \"1XB\"\n", line: 4, key: "max_packet_size", want: `invalid size "1XB"`},
		{name: "bad size number", doc: "max_output_bytes = \"MiB\"\n", line: 3, key: "max_output_bytes", want: `invalid size "MiB"`},
		{name: "negative size string", doc: "max_output_bytes = \"-1MiB\"\n", line: 3, key: "max_output_bytes", want: "invalid size"},
		{name: "overflowing size", doc: "max_output_bytes = \"9999999999GiB\"\n", line: 3, key: "max_output_bytes", want: "too large"},
		{name: "bad duration", doc: "connect_timeout = \"10 parsecs\"\n", line: 3, key: "connect_timeout", want: `invalid duration "10 parsecs"`},
		{name: "duration without unit", doc: "write_timeout = \"30\"\n", line: 3, key: "write_timeout", want: "invalid duration"},

		// Values out of range (Validate).
		{name: "empty data dir", doc: "data_dir = \"\"\n", line: 3, key: "data_dir", want: "must not be empty"},
		{name: "bad log level", doc: "log_level = \"verbose\"\n", line: 3, key: "log_level", want: `unknown level "verbose"`},
		{name: "bad log format", doc: "log_format = \"xml\"\n", line: 3, key: "log_format", want: `unknown format "xml"`},
		{name: "packet size too small", doc: "max_packet_size = \"8B\"\n", line: 3, key: "max_packet_size", want: "out of range"},
		{name: "packet size too large", doc: "max_packet_size = 268435461\n", line: 3, key: "max_packet_size", want: "out of range"},
		{name: "negative packet size", doc: "max_packet_size = -1\n", line: 3, key: "max_packet_size", want: "out of range"},
		{name: "zero inflight", doc: "max_inflight_messages = 0\n", line: 3, key: "max_inflight_messages", want: "out of range 1..65535"},
		{name: "too many inflight", doc: "max_inflight_messages = 65536\n", line: 3, key: "max_inflight_messages", want: "out of range"},
		{name: "negative queue", doc: "max_queued_messages = -1\n", line: 3, key: "max_queued_messages", want: "negative"},
		{name: "zero connections", doc: "max_connections = 0\n", line: 3, key: "max_connections", want: "-1 for no limit"},
		{name: "connections below -1", doc: "max_connections = -2\n", line: 3, key: "max_connections", want: "invalid"},
		{name: "zero connect timeout", doc: "connect_timeout = \"0s\"\n", line: 3, key: "connect_timeout", want: "not positive"},
		{name: "negative write timeout", doc: "write_timeout = \"-1s\"\n", line: 3, key: "write_timeout", want: "not positive"},
		{name: "zero output bytes", doc: "max_output_bytes = 0\n", line: 3, key: "max_output_bytes", want: "out of range"},
		{name: "negative keepalive", doc: "max_keepalive = \"-1s\"\n", line: 3, key: "max_keepalive", want: "whole seconds from 0s to 18h12m15s"},
		{name: "keepalive too long", doc: "max_keepalive = \"65536s\"\n", line: 3, key: "max_keepalive", want: "invalid"},
		{name: "keepalive fraction", doc: "max_keepalive = \"1500ms\"\n", line: 3, key: "max_keepalive", want: "invalid"},

		// Listeners (Validate).
		{name: "bad listener type", doc: "[[listener]]\nname = \"a\"\ntype = \"udp\"\n", line: 5, key: "listener[0].type", want: `unknown listener type "udp" (types: tcp, tls, ws, wss)`},
		{name: "duplicate listener name", doc: "[[listener]]\nname = \"a\"\naddress = \":1\"\n\n[[listener]]\nname = \"a\"\naddress = \":2\"\n", line: 8, key: "listener[1].name", want: `duplicate listener name "a"`},
		{name: "duplicate default listener name", doc: "[[listener]]\naddress = \":1\"\n[[listener]]\naddress = \":2\"\n", line: 5, key: "listener[1].name", want: `duplicate listener name "mqtt"`},
		{name: "empty listener name", doc: "[[listener]]\nname = \"\"\n", line: 4, key: "listener[0].name", want: "must not be empty"},
		{name: "empty listener address", doc: "[[listener]]\naddress = \"\"\n", line: 4, key: "listener[0].address", want: "must not be empty"},
		{name: "listener address without port", doc: "[[listener]]\naddress = \"1883\"\n", line: 4, key: "listener[0].address", want: "want host:port"},
		{name: "listener port out of range", doc: "[[listener]]\naddress = \"127.0.0.1:99999\"\n", line: 4, key: "listener[0].address", want: "bad port"},
		{name: "listener port not a number", doc: "[[listener]]\naddress = \"127.0.0.1:notaport\"\n", line: 4, key: "listener[0].address", want: "bad port"},
		{name: "http_listen bad port", doc: "http_listen = \"127.0.0.1:abc\"\n", line: 3, key: "http_listen", want: "bad port"},
		{name: "no listeners", doc: "listener = []\n", line: 3, key: "listener", want: "at least one"},
		{name: "inline listener with bad type", doc: "listener = [\n  {name = \"a\"},\n  {name = \"b\", type = \"quic\"},\n]\n", line: 5, key: "listener[1].type", want: "unknown listener type"},

		// [jwt] and [http_auth] (Validate).
		{name: "jwt both keys", doc: "[jwt]\nsecret_file = \"s\"\npublic_key_file = \"k\"\n", line: 5, key: "jwt.public_key_file", want: "not both"},
		{name: "jwt none", doc: "[jwt]\nsecret_file = \"s\"\nalgorithms = [\"none\"]\n", line: 5, key: "jwt.algorithms[0]", want: "never accepted"},
		{name: "jwt unknown algorithm", doc: "[jwt]\npublic_key_file = \"k\"\nalgorithms = [\"RS256\", \"RS1\"]\n", line: 5, key: "jwt.algorithms[1]", want: `unknown algorithm "RS1"`},
		{name: "jwt hmac with public key", doc: "[jwt]\npublic_key_file = \"k\"\nalgorithms = [\"HS256\"]\n", line: 5, key: "jwt.algorithms[0]", want: "needs a secret_file"},
		{name: "jwt rsa with secret", doc: "[jwt]\nsecret_file = \"s\"\nalgorithms = [\"RS256\"]\n", line: 5, key: "jwt.algorithms[0]", want: "needs a public_key_file"},
		{name: "jwt unbound", doc: "[jwt]\nsecret_file = \"s\"\nusername_claim = \"\"\n", line: 5, key: "jwt.username_claim", want: "not be bound"},
		{name: "jwt issuer without key", doc: "[jwt]\nissuer = \"x\"\n", line: 3, key: "jwt", want: "need a secret_file"},
		{name: "jwt leeway too long", doc: "[jwt]\nleeway = \"1h\"\n", line: 4, key: "jwt.leeway", want: "out of range"},
		{name: "jwt algorithms not an array", doc: "[jwt]\nalgorithms = \"RS256\"\n", line: 4, key: "jwt.algorithms", want: "want an array of strings, got a string"},
		{name: "jwt algorithm not a string", doc: "[jwt]\nalgorithms = [256]\n", line: 4, key: "jwt.algorithms[0]", want: "want a string, got an integer"},
		{name: "jwt unknown key", doc: "[jwt]\nsecret = \"s\"\n", line: 4, key: "jwt.secret", want: "unknown key"},
		{name: "http_auth bad scheme", doc: "[http_auth]\nurl = \"ftp://auth.example/\"\n", line: 4, key: "http_auth.url", want: "want an http:// or https:// URL"},
		{name: "http_auth url password not echoed", doc: "[http_auth]\nurl = \"ftp://u:hunter2@auth.example/\"\n", line: 4, key: "http_auth.url", want: "xxxxx"},
		{name: "http_auth no host", doc: "[http_auth]\nurl = \"http:///auth\"\n", line: 4, key: "http_auth.url", want: "no host"},
		{name: "http_auth ca with http", doc: "[http_auth]\nurl = \"http://a/\"\nca_file = \"ca.pem\"\n", line: 5, key: "http_auth.ca_file", want: "https"},
		{name: "http_auth ca without url", doc: "[http_auth]\nca_file = \"ca.pem\"\n", line: 4, key: "http_auth.ca_file", want: "without a url"},
		{name: "http_auth zero timeout", doc: "[http_auth]\ntimeout = \"0s\"\n", line: 4, key: "http_auth.timeout", want: "not positive"},
		{name: "http_auth zero concurrency", doc: "[http_auth]\nmax_concurrent = 0\n", line: 4, key: "http_auth.max_concurrent", want: "not positive"},
		{name: "http_auth negative cache", doc: "[http_auth]\ncache_ttl = \"-1s\"\n", line: 4, key: "http_auth.cache_ttl", want: "negative"},

		// TOML syntax and semantics.
		{name: "duplicate key", doc: "log_level = \"info\"\nlog_level = \"debug\"\n", line: 4, key: "log_level", want: "already defined"},
		{name: "missing value", doc: "\nlog_level =\n", line: 4, want: "start of value"},
		{name: "unterminated string", doc: "data_dir = \"x\n", line: 3, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("midge.toml", []byte(preamble+tc.doc))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			msg := err.Error()
			wantPrefix := fmt.Sprintf("midge.toml:%d: ", tc.line)
			if !strings.HasPrefix(msg, wantPrefix) {
				t.Errorf("error %q does not start with %q", msg, wantPrefix)
			}
			if tc.key != "" && !strings.Contains(msg, fmt.Sprintf("%q", tc.key)) {
				t.Errorf("error %q does not name key %q", msg, tc.key)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			errs := Errors(err)
			if len(errs) == 0 {
				t.Fatalf("error %q holds no *Error", msg)
			}
			if e := errs[0]; e.File != "midge.toml" || e.Line != tc.line || e.Key != tc.key {
				t.Errorf("first *Error = {File: %q, Line: %d, Key: %q}, want {midge.toml, %d, %q}", e.File, e.Line, e.Key, tc.line, tc.key)
			}
		})
	}
}

func TestParseSeveralErrors(t *testing.T) {
	doc := `max_packet_size = 1
log_level = "loud"
[[listener]]
type = "udp"
`
	_, err := Parse("m.toml", []byte(doc))
	errs := Errors(err)
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d %s", e.Line, e.Key))
	}
	want := []string{"1 max_packet_size", "2 log_level", "4 listener[0].type"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors at %q, want %q (error: %v)", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n"); n != 2 {
		t.Errorf("error has %d newlines, want one error per line:\n%v", n, err)
	}
}

func TestParseSeveralUnknownKeys(t *testing.T) {
	doc := "a = 1\nlog_level = \"info\"\nb = 2\n"
	_, err := Parse("m.toml", []byte(doc))
	errs := Errors(err)
	if len(errs) != 2 || errs[0].Line != 1 || errs[1].Line != 3 {
		t.Fatalf("got %v, want unknown keys on lines 1 and 3", err)
	}
	for _, e := range errs {
		if !errors.Is(e, ErrUnknownKey) {
			t.Errorf("%v: not ErrUnknownKey", e)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "midge.toml")
	if err := os.WriteFile(path, []byte("log_level = \"warn\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.LogLevel != "warn" {
		t.Errorf("LogLevel = %q, want warn", c.LogLevel)
	}

	if err := os.WriteFile(path, []byte("\nlog_level = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if want := path + ":2: key \"log_level\""; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load = %v, want an error starting %q", err, want)
	}

	_, err = Load(filepath.Join(dir, "missing.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want os.ErrNotExist", err)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Defaults()
	c.LogLevel = "loud"
	err := c.Validate()
	if want := `key "log_level": unknown level "loud"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Validate = %v, want an error starting %q", err, want)
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("Defaults().Validate() = %v", err)
	}
}

func TestDefaultsFileRoundTrip(t *testing.T) {
	got, err := Parse("defaults", []byte(DefaultsFile()))
	if err != nil {
		t.Fatalf("Parse(DefaultsFile()): %v", err)
	}
	if want := Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(DefaultsFile()):\n got %+v\nwant %+v", got, want)
	}
}

// TestDefaultsFileDocumentsEveryKey checks that DefaultsFile sets every key
// of Config, each under a comment, and no key that Config lacks.
func TestDefaultsFileDocumentsEveryKey(t *testing.T) {
	lines := strings.Split(DefaultsFile(), "\n")
	found := make(map[string]bool)
	table := ""
	for i, line := range lines {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[["):
			table = strings.Trim(line, "[] ")
			continue
		case strings.HasPrefix(line, "["):
			table = strings.Trim(line, "[] ")
			continue
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		}
		key, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("line %d: %q is not a key = value line", i+1, line)
			continue
		}
		path := join(table, strings.TrimSpace(key))
		found[path] = true
		if _, known := schema[path]; !known {
			t.Errorf("line %d: key %q is not a key of Config", i+1, path)
		}
		if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "# ") {
			t.Errorf("line %d: key %q has no comment on the line above", i+1, path)
		}
	}
	all := keys()
	if len(all) < 13 {
		t.Fatalf("keys() = %q: too few, is the schema walk broken?", all)
	}
	for _, k := range all {
		if !found[k] {
			t.Errorf("key %q is missing from DefaultsFile", k)
		}
	}
}

// TestREADMEShowsDefaultsFile checks that the configuration reference in
// the README is DefaultsFile, as "midge config defaults" prints it.
func TestREADMEShowsDefaultsFile(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```toml\n"+DefaultsFile()+"```\n") {
		t.Error("README.md does not show DefaultsFile() in a toml block: paste the output of \"midge config defaults\" into its Configuration section")
	}
}

// TestMarshalRoundTrip checks that the TextMarshalers write what the
// TextUnmarshalers read: a Config encoded by go-toml parses back the same.
func TestMarshalRoundTrip(t *testing.T) {
	c := Defaults()
	c.MaxPacketSize = 1000
	c.MaxOutputBytes = 12345
	c.WriteTimeout = Duration{1500 * time.Millisecond}
	c.Listeners = append(c.Listeners, Listener{Name: "b", Type: "tcp", Address: "127.0.0.1:1884", ClientAuth: "none"})
	data, err := toml.Marshal(c)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got, err := Parse("marshaled", data)
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v\n%s", got, c, data)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "100B", want: 100},
		{in: "64kB", want: 64000},
		{in: "512KiB", want: 512 << 10},
		{in: "1MiB", want: 1 << 20},
		{in: "3MB", want: 3000000},
		{in: "2GiB", want: 2 << 30},
		{in: "1GB", want: 1000000000},
		{in: " 4 MiB ", want: 4 << 20},
		{in: "", wantErr: "invalid size"},
		{in: "MiB", wantErr: "invalid size"},
		{in: "-1", wantErr: "invalid size"},
		{in: "1.5MiB", wantErr: `unknown unit ".5MiB"`},
		{in: "1KB", wantErr: `unknown unit "KB"`},
		{in: "1mib", wantErr: "unknown unit"},
		{in: "99999999999999999999", wantErr: "too large"},
		{in: "9000000000GiB", wantErr: "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
			// String must give back a text that parses to the same size.
			again, err := ParseSize(got.String())
			if err != nil || again != got {
				t.Errorf("ParseSize(%q.String() = %q) = %d, %v", tc.in, got.String(), again, err)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1B"},
		{1000, "1kB"},
		{1024, "1KiB"},
		{1 << 20, "1MiB"},
		{4 << 20, "4MiB"},
		{1536, "1536B"},
		{64000, "64kB"},
		{-5, "-5"},
	}
	for _, tc := range tests {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Duration != 90*time.Second {
		t.Fatalf("UnmarshalText(1m30s) = %v, %v", d, err)
	}
	text, err := d.MarshalText()
	if err != nil || string(text) != "1m30s" {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil || !strings.Contains(err.Error(), `invalid duration "soon"`) {
		t.Errorf("UnmarshalText(soon) = %v", err)
	}
}

// FuzzConfig checks that Parse never panics, that every error it returns is
// made of *Error values, that it is deterministic, and that what it accepts
// is valid.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(DefaultsFile()))
	f.Add([]byte(""))
	f.Add([]byte("max_packet_size = \"1XB\"\n"))
	f.Add([]byte("[[listener]]\nname = \"a\"\n[[listener]]\nname = \"a\"\n"))
	f.Add([]byte("listener = [{name = \"a\", type = \"ws\"}]\n"))
	f.Add([]byte("[listener]\nname = 1\n[[listener.x]]\n"))
	f.Add([]byte("a.b.c = 1\n[a.b]\n[[a.b.d]]\nconnect_timeout = 10\n"))
	f.Add([]byte("connect_timeout = \"\"\"\n10s\"\"\"\nlog_level = 'info'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if c != nil {
				t.Errorf("Parse returned a Config and error %v", err)
			}
			if len(Errors(err)) == 0 {
				t.Errorf("error %q holds no *Error", err)
			}
			_, err2 := Parse("fuzz.toml", data)
			if err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Parse is not deterministic: %v, then %v", err, err2)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Parse accepted a Config that Validate refuses: %v", err)
		}
	})
}

func TestListenerTransports(t *testing.T) {
	c, err := Parse("midge.toml", []byte("[[listener]]\nname = \"w\"\ntype = \"ws\"\n[[listener]]\nname = \"s\"\ntype = \"tls\"\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ws := c.Listeners[0]; ws.Address != ":8083" || ws.Path != "/mqtt" {
		t.Fatalf("ws listener defaults: %+v", ws)
	}
	if tl := c.Listeners[1]; tl.Address != ":8883" || tl.ClientAuth != "none" {
		t.Fatalf("tls listener defaults: %+v", tl)
	}
	for _, tt := range []struct{ doc, want string }{
		{"[[listener]]\ntype = \"tls\"\n", `listener[0].cert_file": a tls listener needs cert_file and key_file`},
		{"[[listener]]\ntype = \"tcp\"\ncert_file = \"c\"\n", "certificates are for tls and wss listeners"},
		{"[[listener]]\ntype = \"wss\"\ncert_file = \"c\"\nkey_file = \"k\"\nclient_auth = \"require\"\n", "needs client_ca_file"},
		{"[[listener]]\ntype = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\nclient_auth = \"maybe\"\n", `unknown value "maybe"`},
		{"[[listener]]\ntype = \"ws\"\npath = \"mqtt\"\n", "must start with /"},
	} {
		if _, err := Parse("midge.toml", []byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.doc, err, tt.want)
		}
	}
}
