package packet

// Pingreq is a PINGREQ packet. It has no body.
type Pingreq struct{}

// Pingresp is a PINGRESP packet. It has no body.
type Pingresp struct{}

// Type returns TypePingreq.
func (*Pingreq) Type() Type { return TypePingreq }

// Type returns TypePingresp.
func (*Pingresp) Type() Type { return TypePingresp }

// Decode checks that a PINGREQ has an empty body.
func (*Pingreq) Decode(h FixedHeader, body []byte, v Version) error {
	return decodeEmpty(h, TypePingreq, body, v)
}

// Decode checks that a PINGRESP has an empty body.
func (*Pingresp) Decode(h FixedHeader, body []byte, v Version) error {
	return decodeEmpty(h, TypePingresp, body, v)
}

// Append appends the two bytes of a PINGREQ.
func (*Pingreq) Append(dst []byte, v Version) ([]byte, error) {
	return appendEmpty(dst, TypePingreq, v)
}

// Append appends the two bytes of a PINGRESP.
func (*Pingresp) Append(dst []byte, v Version) ([]byte, error) {
	return appendEmpty(dst, TypePingresp, v)
}

func decodeEmpty(h FixedHeader, t Type, body []byte, v Version) error {
	if err := checkHeader(h, t, body, v); err != nil {
		return err
	}
	if h.Remaining != 0 {
		return ErrTrailingBytes
	}
	return nil
}

func appendEmpty(dst []byte, t Type, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	return append(dst, byte(t)<<4, 0), nil
}
