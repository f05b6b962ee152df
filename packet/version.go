package packet

import "strconv"

// Version is an MQTT protocol level, the byte a CONNECT carries after the protocol name. The zero Version is not a
// valid protocol level.
type Version byte

// The protocol levels this package speaks.
const (
	// V31 is MQTT 3.1, whose CONNECT names the protocol "MQIsdp".
	V31 Version = 3
	// V311 is MQTT 3.1.1, whose CONNECT names the protocol "MQTT".
	V311 Version = 4
	// V5 is MQTT 5.0, whose CONNECT names the protocol "MQTT".
	V5 Version = 5
)

// String returns the version as it is usually written ("3.1", "3.1.1", "5.0"), or "Version(n)" for an unknown level.
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return "Version(" + strconv.Itoa(int(v)) + ")"
}

// Valid reports whether v is one of V31, V311 and V5.
func (v Version) Valid() bool {
	return v == V31 || v == V311 || v == V5
}

// protocolName returns the protocol name a CONNECT of version v carries.
func (v Version) protocolName() string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// checkVersion returns ErrUnsupportedVersion unless v is valid.
func checkVersion(v Version) error {
	if !v.Valid() {
		return ErrUnsupportedVersion
	}
	return nil
}
