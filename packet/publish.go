package packet

// Publish is a PUBLISH packet. The broker can decode every incoming PUBLISH into one reused Publish: Decode then
// allocates only the topic string (which the strings of any properties share) and the slices of any properties.
type Publish struct {
	// Dup marks a redelivery; it must be false for QoS 0 [MQTT-3.3.1-2].
	Dup bool
	// QoS is 0, 1 or 2.
	QoS byte
	// Retain asks the server to retain the message, or marks a retained message.
	Retain bool
	// Topic is the topic name. Only 5.0 allows it empty, and then only with a Topic Alias; whether the alias is
	// known is the broker's concern, and wildcards are the topic package's.
	Topic string
	// PacketID is present only when QoS > 0, and then it is not 0 [MQTT-2.2.1-3]; it is ignored on encode for QoS 0.
	PacketID uint16
	// Properties are the PUBLISH properties (5.0 only; ignored on encode for 3.x, so one Publish can be encoded
	// for subscribers of every version).
	Properties Properties
	// Payload is the application message; nil when empty. Decode makes it alias the body.
	Payload []byte
}

// The PUBLISH fixed header flags.
const (
	publishRetain   = 0x01
	publishQoSShift = 1
	publishDup      = 0x08
)

// Type returns TypePublish.
func (p *Publish) Type() Type { return TypePublish }

// Decode resets p and decodes a PUBLISH with fixed header h and body for version v into it.
func (p *Publish) Decode(h FixedHeader, body []byte, v Version) error {
	*p = Publish{}
	if err := checkHeader(h, TypePublish, body, v); err != nil {
		return err
	}
	p.Dup = h.Flags&publishDup != 0
	p.QoS = h.Flags >> publishQoSShift & 3
	p.Retain = h.Flags&publishRetain != 0
	if p.Dup && p.QoS == 0 {
		return ErrDupQoS0 // [MQTT-3.3.1-2]
	}
	topic, b, err := readStringBytes(body)
	if err != nil {
		return err
	}
	if p.QoS > 0 {
		if p.PacketID, b, err = readUint16(b); err != nil {
			return err
		}
		if p.PacketID == 0 {
			return ErrPacketIDZero // [MQTT-2.2.1-3]
		}
	}
	// The topic and the strings of the properties share one copy, of the body from the topic to the end of the
	// properties; the payload is never copied. Without string properties only the topic is copied.
	var a arena
	if v == V5 {
		if n, rest, err := readVarint(b); err == nil && n <= len(rest) {
			a.base = body[2 : len(body)-len(rest)+n]
		}
		if b, err = p.Properties.decode(b, &publishProps, &a); err != nil {
			return err
		}
	}
	if a.made {
		p.Topic = a.str(topic, 0)
	} else if len(topic) > 0 {
		p.Topic = string(topic)
	}
	if err := p.checkTopic(v); err != nil {
		return err
	}
	p.Payload = nonEmpty(b)
	return nil
}

// checkTopic refuses an empty topic name, except in 5.0 with a Topic Alias [MQTT-4.7.3-1].
func (p *Publish) checkTopic(v Version) error {
	if p.Topic == "" && (v != V5 || !p.Properties.HasTopicAlias) {
		return ErrEmptyTopic
	}
	return nil
}

// Append appends the PUBLISH for version v. It allocates only when dst is too small.
func (p *Publish) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.QoS > 2 {
		return dst, ErrInvalidQoS
	}
	flags := p.QoS << publishQoSShift
	if p.Dup {
		if p.QoS == 0 {
			return dst, ErrDupQoS0 // [MQTT-3.3.1-2]
		}
		flags |= publishDup
	}
	if p.Retain {
		flags |= publishRetain
	}
	if err := p.checkTopic(v); err != nil {
		return dst, err
	}
	rem, err := sizeString(p.Topic)
	if err != nil {
		return dst, err
	}
	if p.QoS > 0 {
		if p.PacketID == 0 {
			return dst, ErrPacketIDZero // [MQTT-2.2.1-3]
		}
		rem += 2
	}
	var propLen int
	if v == V5 {
		var n int
		if n, propLen, err = p.Properties.sizeWithLength(&publishProps); err != nil {
			return dst, err
		}
		rem += n
	}
	rem += len(p.Payload)
	orig := dst
	if dst, err = appendHeader(dst, TypePublish, flags, rem); err != nil {
		return orig, err
	}
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = p.Properties.append(dst, propLen)
	}
	return append(dst, p.Payload...), nil
}
