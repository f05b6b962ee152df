package packet

// Ack is a PUBACK, PUBREC, PUBREL or PUBCOMP packet: the four acknowledgements of the QoS 1 and QoS 2 flows have the
// same shape and are told apart by Kind.
type Ack struct {
	// Kind is TypePuback, TypePubrec, TypePubrel or TypePubcomp; Append refuses any other value.
	Kind Type
	// PacketID is the identifier of the acknowledged PUBLISH; it is not 0 [MQTT-2.2.1-3].
	PacketID uint16
	// ReasonCode is a 5.0 reason code the Kind may carry (ignored on encode for 3.x). It is omitted on the wire when
	// it is Success and there are no properties (Remaining Length 2), as the specification allows.
	ReasonCode ReasonCode
	// Properties are the acknowledgement's properties (5.0 only; ignored on encode for 3.x).
	Properties Properties
}

// Type returns a.Kind.
func (a *Ack) Type() Type { return a.Kind }

// codes returns the reason codes Kind may carry.
func (a *Ack) codes() *codeSet {
	if a.Kind == TypePubrel || a.Kind == TypePubcomp {
		return &pubrelCodes
	}
	return &pubackCodes
}

func isAck(t Type) bool {
	return t >= TypePuback && t <= TypePubcomp
}

// Decode resets a and decodes a PUBACK, PUBREC, PUBREL or PUBCOMP body for version v into it; h.Type gives Kind.
func (a *Ack) Decode(h FixedHeader, body []byte, v Version) error {
	*a = Ack{}
	if !isAck(h.Type) {
		return ErrWrongType
	}
	if err := checkBody(h, body, v); err != nil {
		return err
	}
	a.Kind = h.Type
	id, b, err := readUint16(body)
	if err != nil {
		return err
	}
	if id == 0 {
		return ErrPacketIDZero // [MQTT-2.2.1-3]
	}
	a.PacketID = id
	// A 5.0 acknowledgement may stop after the packet identifier (Success, no properties) or after the reason code
	// (no properties): sections 3.4.2.1 and 3.4.2.2.
	if v == V5 && len(b) > 0 {
		code := ReasonCode(b[0])
		if !a.codes().has(code) {
			return ErrInvalidReasonCode
		}
		a.ReasonCode = code
		if b = b[1:]; len(b) > 0 {
			if b, err = a.Properties.decode(b, &ackProps, &arena{base: b}); err != nil {
				return err
			}
		}
	}
	if len(b) != 0 {
		return ErrTrailingBytes
	}
	return nil
}

// Append appends the acknowledgement for version v, in its shortest form.
func (a *Ack) Append(dst []byte, v Version) ([]byte, error) {
	if !isAck(a.Kind) {
		return dst, ErrWrongType
	}
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if a.PacketID == 0 {
		return dst, ErrPacketIDZero
	}
	rem, propLen := 2, 0
	if v == V5 {
		if !a.codes().has(a.ReasonCode) {
			return dst, ErrInvalidReasonCode
		}
		n, err := a.Properties.size(&ackProps)
		if err != nil {
			return dst, err
		}
		switch {
		case n > 0:
			rem, propLen = 3+SizeVarint(n)+n, n
		case a.ReasonCode != Success:
			rem = 3
		}
	}
	orig := dst
	dst, err := appendHeader(dst, a.Kind, requiredFlags(a.Kind), rem)
	if err != nil {
		return orig, err
	}
	dst = appendUint16(dst, a.PacketID)
	if rem > 2 {
		dst = append(dst, byte(a.ReasonCode))
	}
	if rem > 3 {
		dst = a.Properties.append(dst, propLen)
	}
	return dst, nil
}
