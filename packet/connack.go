package packet

// Connack is a CONNACK packet, the server's answer to a CONNECT.
type Connack struct {
	// SessionPresent says the server resumed a session; it must be false with a failure reason code
	// [MQTT-3.2.2-4] [MQTT-3.2.2-6].
	SessionPresent bool
	// ReasonCode is always a 5.0 reason code, one a CONNACK may carry. For 3.x it is mapped to a return code on
	// encode: Success to 0, UnsupportedProtocolVersion to 1, ClientIdentifierNotValid to 2, BadUserNameOrPassword
	// to 4, NotAuthorized to 5, and every other failure (ServerUnavailable, ServerBusy, Banned, QuotaExceeded, ...)
	// to 3, "server unavailable". A 3.x CONNACK decodes the other way; a return code above 5 is malformed.
	ReasonCode ReasonCode
	// Properties are the CONNACK properties (5.0 only; ignored on encode for 3.x).
	Properties Properties
}

// The 3.x CONNACK return codes, indexed by value.
var connackReturnCodes = [...]ReasonCode{Success, UnsupportedProtocolVersion, ClientIdentifierNotValid,
	ServerUnavailable, BadUserNameOrPassword, NotAuthorized}

// connackReturnCode maps a 5.0 reason code to a 3.x return code.
func connackReturnCode(c ReasonCode) byte {
	for i, rc := range connackReturnCodes {
		if rc == c {
			return byte(i)
		}
	}
	return 3
}

// Type returns TypeConnack.
func (c *Connack) Type() Type { return TypeConnack }

// Decode resets c and decodes a CONNACK body for version v into it.
func (c *Connack) Decode(h FixedHeader, body []byte, v Version) error {
	*c = Connack{}
	if err := checkHeader(h, TypeConnack, body, v); err != nil {
		return err
	}
	flags, b, err := readByte(body)
	if err != nil {
		return err
	}
	if flags&^1 != 0 {
		return ErrConnackFlags // [MQTT-3.2.2-1]
	}
	c.SessionPresent = flags == 1
	code, b, err := readByte(b)
	if err != nil {
		return err
	}
	if v == V5 {
		c.ReasonCode = ReasonCode(code)
		if !connackCodes.has(c.ReasonCode) {
			return ErrInvalidReasonCode
		}
		if b, err = c.Properties.decode(b, &connackProps, &arena{base: b}); err != nil {
			return err
		}
	} else {
		if int(code) >= len(connackReturnCodes) {
			return ErrConnackReturnCode
		}
		c.ReasonCode = connackReturnCodes[code]
	}
	if len(b) != 0 {
		return ErrTrailingBytes
	}
	if c.SessionPresent && c.ReasonCode.IsError() {
		return ErrSessionPresent // [MQTT-3.2.2-4] [MQTT-3.2.2-6]
	}
	return nil
}

// Append appends the CONNACK for version v.
func (c *Connack) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if !connackCodes.has(c.ReasonCode) {
		return dst, ErrInvalidReasonCode
	}
	if c.SessionPresent && c.ReasonCode.IsError() {
		return dst, ErrSessionPresent
	}
	rem, propLen := 2, 0
	if v == V5 {
		n, pl, err := c.Properties.sizeWithLength(&connackProps)
		if err != nil {
			return dst, err
		}
		rem, propLen = rem+n, pl
	}
	orig := dst
	dst, err := appendHeader(dst, TypeConnack, 0, rem)
	if err != nil {
		return orig, err
	}
	var flags byte
	if c.SessionPresent {
		flags = 1
	}
	if v != V5 {
		return append(dst, flags, connackReturnCode(c.ReasonCode)), nil
	}
	dst = append(dst, flags, byte(c.ReasonCode))
	return c.Properties.append(dst, propLen), nil
}
