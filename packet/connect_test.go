package packet

import (
	"errors"
	"testing"
)

func TestConnectVectors(t *testing.T) { runVectors(t, "connect.txt") }

// TestConnectUnsupportedVersion checks that a refused protocol level still tells the broker which CONNACK to send.
func TestConnectUnsupportedVersion(t *testing.T) {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 1, 'c'}
	var c Connect
	err := c.Decode(FixedHeader{Type: TypeConnect, Remaining: len(body)}, body, 0)
	var re *ReasonError
	if !errors.As(err, &re) || re.Code != UnsupportedProtocolVersion {
		t.Fatalf("Decode error %v, want UnsupportedProtocolVersion", err)
	}
	if c.ProtocolName != "MQTT" || c.Version != 6 {
		t.Fatalf("ProtocolName %q, Version %d; want MQTT, 6", c.ProtocolName, c.Version)
	}
}

// TestConnectVersionFromArgument checks that a Connect without Version encodes for Append's v.
func TestConnectVersionFromArgument(t *testing.T) {
	tests := []struct {
		name string
		v    Version
		want string
	}{
		{name: "v31", v: V31, want: "\x10\x0e\x00\x06MQIsdp\x03\x00\x00\x00\x00\x00"},
		{name: "v311", v: V311, want: "\x10\x0c\x00\x04MQTT\x04\x00\x00\x00\x00\x00"},
		{name: "v5", v: V5, want: "\x10\x0d\x00\x04MQTT\x05\x00\x00\x00\x00\x00\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := (&Connect{}).Append(nil, tc.v)
			if err != nil || string(got) != tc.want {
				t.Fatalf("Append = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
