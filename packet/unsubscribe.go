package packet

// Unsubscribe is an UNSUBSCRIBE packet.
type Unsubscribe struct {
	// PacketID is not 0 [MQTT-2.2.1-3].
	PacketID uint16
	// Properties are the UNSUBSCRIBE properties (5.0 only; ignored on encode for 3.x): User Properties only.
	Properties Properties
	// Filters holds at least one topic filter [MQTT-3.10.3-2].
	Filters []string
}

// Type returns TypeUnsubscribe.
func (u *Unsubscribe) Type() Type { return TypeUnsubscribe }

// Decode resets u and decodes an UNSUBSCRIBE body for version v into it.
func (u *Unsubscribe) Decode(h FixedHeader, body []byte, v Version) error {
	*u = Unsubscribe{}
	if err := checkHeader(h, TypeUnsubscribe, body, v); err != nil {
		return err
	}
	id, b, err := readUint16(body)
	if err != nil {
		return err
	}
	if id == 0 {
		return ErrPacketIDZero // [MQTT-2.2.1-3]
	}
	u.PacketID = id
	a := arena{base: b} // the properties and the filters share one copy
	if v == V5 {
		if b, err = u.Properties.decode(b, &userOnlyProps, &a); err != nil {
			return err
		}
	}
	if len(b) == 0 {
		return ErrNoSubscriptions // [MQTT-3.10.3-2]
	}
	// Count the filters first and allocate the slice once. Each counted filter took at least its two-byte
	// length, which bounds the count by the body.
	n := 0
	for rest := b; len(rest) > 0; n++ {
		if _, rest, err = readBinary(rest); err != nil {
			break
		}
	}
	u.Filters = make([]string, 0, n)
	for len(b) > 0 {
		var f string
		if f, b, err = a.readString(b); err != nil {
			return err
		}
		u.Filters = append(u.Filters, f)
	}
	return nil
}

// Append appends the UNSUBSCRIBE for version v.
func (u *Unsubscribe) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if u.PacketID == 0 {
		return dst, ErrPacketIDZero
	}
	if len(u.Filters) == 0 {
		return dst, ErrNoSubscriptions
	}
	rem, propLen := 2, 0
	if v == V5 {
		n, pl, err := u.Properties.sizeWithLength(&userOnlyProps)
		if err != nil {
			return dst, err
		}
		rem, propLen = rem+n, pl
	}
	for _, f := range u.Filters {
		n, err := sizeString(f)
		if err != nil {
			return dst, err
		}
		rem += n
	}
	orig := dst
	dst, err := appendHeader(dst, TypeUnsubscribe, requiredFlags(TypeUnsubscribe), rem)
	if err != nil {
		return orig, err
	}
	dst = appendUint16(dst, u.PacketID)
	if v == V5 {
		dst = u.Properties.append(dst, propLen)
	}
	for _, f := range u.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}

// Unsuback is an UNSUBACK packet.
type Unsuback struct {
	// PacketID is the identifier of the UNSUBSCRIBE it answers; it is not 0.
	PacketID uint16
	// Properties are the UNSUBACK properties (5.0 only; ignored on encode for 3.x).
	Properties Properties
	// ReasonCodes holds one code per filter, at least one, in 5.0. A 3.x UNSUBACK has none: they are ignored on
	// encode and nil on decode.
	ReasonCodes []ReasonCode
}

// Type returns TypeUnsuback.
func (u *Unsuback) Type() Type { return TypeUnsuback }

// Decode resets u and decodes an UNSUBACK body for version v into it.
func (u *Unsuback) Decode(h FixedHeader, body []byte, v Version) error {
	*u = Unsuback{}
	if err := checkHeader(h, TypeUnsuback, body, v); err != nil {
		return err
	}
	id, b, err := readUint16(body)
	if err != nil {
		return err
	}
	if id == 0 {
		return ErrPacketIDZero
	}
	u.PacketID = id
	if v != V5 {
		if len(b) != 0 {
			return ErrTrailingBytes
		}
		return nil
	}
	if b, err = u.Properties.decode(b, &ackProps, &arena{base: b}); err != nil {
		return err
	}
	u.ReasonCodes, err = decodeCodes(b, &unsubackCodes)
	return err
}

// Append appends the UNSUBACK for version v.
func (u *Unsuback) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if u.PacketID == 0 {
		return dst, ErrPacketIDZero
	}
	rem, propLen := 2, 0
	if v == V5 {
		n, err := sizeCodes(u.ReasonCodes, &unsubackCodes)
		if err != nil {
			return dst, err
		}
		pn, pl, err := u.Properties.sizeWithLength(&ackProps)
		if err != nil {
			return dst, err
		}
		rem, propLen = rem+n+pn, pl
	}
	orig := dst
	dst, err := appendHeader(dst, TypeUnsuback, 0, rem)
	if err != nil {
		return orig, err
	}
	dst = appendUint16(dst, u.PacketID)
	if v == V5 {
		dst = u.Properties.append(dst, propLen)
		for _, c := range u.ReasonCodes {
			dst = append(dst, byte(c))
		}
	}
	return dst, nil
}
