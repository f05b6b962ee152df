package packet

// Connect is a CONNECT packet, the first packet a client sends.
type Connect struct {
	// ProtocolName is "MQTT", or "MQIsdp" for 3.1. Decode sets it; Append derives it from Version when it is empty
	// and refuses a name that does not belong to Version.
	ProtocolName string
	// Version is the protocol level byte. Append encodes for Version, or for its own v argument when Version is 0.
	Version Version
	// CleanStart is Clean Start in 5.0 and Clean Session in 3.x.
	CleanStart bool
	// KeepAlive is the keep alive in seconds; 0 turns the keep alive mechanism off.
	KeepAlive uint16
	// ClientID may be empty; the broker decides what that means. The 23-character limit of 3.1 is not enforced here.
	ClientID string
	// Will is the will message, or nil when the Will Flag is 0.
	Will *Will
	// UsernameFlag says whether Username is present.
	UsernameFlag bool
	// Username is the user name; it is ignored on encode when UsernameFlag is false.
	Username string
	// PasswordFlag says whether Password is present. Only 5.0 allows a password without a user name.
	PasswordFlag bool
	// Password is binary data, nil when empty; it is ignored on encode when PasswordFlag is false.
	Password []byte
	// Properties are the CONNECT properties (5.0 only; ignored on encode for 3.x).
	Properties Properties
}

// Will is the will message of a CONNECT.
type Will struct {
	// Topic is the will topic; wildcards are the topic package's concern.
	Topic string
	// Payload is the will message; nil when empty.
	Payload []byte
	// QoS is 0, 1 or 2.
	QoS byte
	// Retain asks for the will message to be retained.
	Retain bool
	// Properties are the Will Properties (5.0 only; ignored on encode for 3.x).
	Properties Properties
}

// The CONNECT flags (section 3.1.2.3).
const (
	connectReserved     = 0x01
	connectCleanStart   = 0x02
	connectWill         = 0x04
	connectWillQoSShift = 3
	connectWillRetain   = 0x20
	connectPassword     = 0x40
	connectUsername     = 0x80
)

// Type returns TypeConnect.
func (c *Connect) Type() Type { return TypeConnect }

// Decode resets c and decodes a CONNECT body into it. v is ignored: a CONNECT carries its own version. When the
// protocol name is known but the level is not one of its levels, Decode returns ErrUnsupportedVersion (Code
// UnsupportedProtocolVersion) with c.ProtocolName and c.Version set, so a broker can answer with the right CONNACK.
func (c *Connect) Decode(h FixedHeader, body []byte, _ Version) error {
	*c = Connect{}
	if err := checkHeader(h, TypeConnect, body, V5); err != nil {
		return err
	}
	name, b, err := readStringBytes(body)
	if err != nil {
		return err
	}
	level, b, err := readByte(b)
	if err != nil {
		return err
	}
	c.Version = Version(level)
	switch string(name) {
	case "MQTT":
		c.ProtocolName = "MQTT"
		if c.Version != V311 && c.Version != V5 {
			return ErrUnsupportedVersion // [MQTT-3.1.2-2]
		}
	case "MQIsdp":
		c.ProtocolName = "MQIsdp"
		if c.Version != V31 {
			return ErrUnsupportedVersion // [MQTT-3.1.2-2]
		}
	default:
		return ErrProtocolName // [MQTT-3.1.2-1]
	}
	flags, b, err := readByte(b)
	if err != nil {
		return err
	}
	if flags&connectReserved != 0 {
		return ErrReservedConnectFlag // [MQTT-3.1.2-3]
	}
	willQoS := flags >> connectWillQoSShift & 3
	if flags&connectWill == 0 && (willQoS != 0 || flags&connectWillRetain != 0) {
		return ErrInvalidWillFlags // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]
	}
	if willQoS == 3 {
		return ErrInvalidWillFlags // [MQTT-3.1.2-14]
	}
	c.CleanStart = flags&connectCleanStart != 0
	c.UsernameFlag = flags&connectUsername != 0
	c.PasswordFlag = flags&connectPassword != 0
	if c.Version != V5 && c.PasswordFlag && !c.UsernameFlag {
		return ErrPasswordWithoutUsername // [MQTT-3.1.2-22]
	}
	if c.KeepAlive, b, err = readUint16(b); err != nil {
		return err
	}
	a := arena{base: b} // every string from here on shares one copy
	if c.Version == V5 {
		if b, err = c.Properties.decode(b, &connectProps, &a); err != nil {
			return err
		}
	}
	if c.ClientID, b, err = a.readString(b); err != nil {
		return err
	}
	if flags&connectWill != 0 {
		w := &Will{QoS: willQoS, Retain: flags&connectWillRetain != 0}
		if c.Version == V5 {
			if b, err = w.Properties.decode(b, &willProps, &a); err != nil {
				return err
			}
		}
		if w.Topic, b, err = a.readString(b); err != nil {
			return err
		}
		if w.Payload, b, err = readBinary(b); err != nil {
			return err
		}
		w.Payload = nonEmpty(w.Payload)
		c.Will = w
	}
	if c.UsernameFlag {
		if c.Username, b, err = a.readString(b); err != nil {
			return err
		}
	}
	if c.PasswordFlag {
		if c.Password, b, err = readBinary(b); err != nil {
			return err
		}
		c.Password = nonEmpty(c.Password)
	}
	if len(b) != 0 {
		return ErrTrailingBytes
	}
	return nil
}

// version returns the version c encodes for.
func (c *Connect) version(v Version) Version {
	if c.Version != 0 {
		return c.Version
	}
	return v
}

// size returns the Remaining Length of c for version v and the two property lengths.
func (c *Connect) size(v Version) (rem, propLen, willPropLen int, err error) {
	name := c.ProtocolName
	if name == "" {
		name = v.protocolName()
	} else if name != v.protocolName() {
		return 0, 0, 0, ErrProtocolName
	}
	rem = 2 + len(name) + 1 + 1 + 2
	if v == V5 {
		var n int
		if n, propLen, err = c.Properties.sizeWithLength(&connectProps); err != nil {
			return 0, 0, 0, err
		}
		rem += n
	} else if c.PasswordFlag && !c.UsernameFlag {
		return 0, 0, 0, ErrPasswordWithoutUsername // [MQTT-3.1.2-22]
	}
	add := func(n int, e error) {
		rem += n
		if err == nil {
			err = e
		}
	}
	add(sizeString(c.ClientID))
	if w := c.Will; w != nil {
		if w.QoS > 2 {
			return 0, 0, 0, ErrInvalidWillFlags
		}
		if v == V5 {
			var n int
			if n, willPropLen, err = w.Properties.sizeWithLength(&willProps); err != nil {
				return 0, 0, 0, err
			}
			rem += n
		}
		add(sizeString(w.Topic))
		add(sizeBinary(w.Payload))
	}
	if c.UsernameFlag {
		add(sizeString(c.Username))
	}
	if c.PasswordFlag {
		add(sizeBinary(c.Password))
	}
	return rem, propLen, willPropLen, err
}

// Append appends the CONNECT for c.Version (v when c.Version is 0). For 3.x the properties are not written.
func (c *Connect) Append(dst []byte, v Version) ([]byte, error) {
	v = c.version(v)
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	rem, propLen, willPropLen, err := c.size(v)
	if err != nil {
		return dst, err
	}
	orig := dst
	if dst, err = appendHeader(dst, TypeConnect, 0, rem); err != nil {
		return orig, err
	}
	var flags byte
	if c.CleanStart {
		flags |= connectCleanStart
	}
	if w := c.Will; w != nil {
		flags |= connectWill | w.QoS<<connectWillQoSShift
		if w.Retain {
			flags |= connectWillRetain
		}
	}
	if c.UsernameFlag {
		flags |= connectUsername
	}
	if c.PasswordFlag {
		flags |= connectPassword
	}
	dst = appendString(dst, v.protocolName())
	dst = append(dst, byte(v), flags)
	dst = appendUint16(dst, c.KeepAlive)
	if v == V5 {
		dst = c.Properties.append(dst, propLen)
	}
	dst = appendString(dst, c.ClientID)
	if w := c.Will; w != nil {
		if v == V5 {
			dst = w.Properties.append(dst, willPropLen)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if c.UsernameFlag {
		dst = appendString(dst, c.Username)
	}
	if c.PasswordFlag {
		dst = appendBinary(dst, c.Password)
	}
	return dst, nil
}
