package packet

// Disconnect is a DISCONNECT packet. In 3.x it has no body, and its fields are ignored on encode.
type Disconnect struct {
	// ReasonCode is a 5.0 reason code a DISCONNECT may carry; the zero value is NormalDisconnection.
	ReasonCode ReasonCode
	// Properties are the DISCONNECT properties (5.0 only).
	Properties Properties
}

// Type returns TypeDisconnect.
func (d *Disconnect) Type() Type { return TypeDisconnect }

// Decode resets d and decodes a DISCONNECT body for version v into it. A 5.0 body may be empty (normal
// disconnection, no properties) or hold only the reason code (section 3.14.2.1).
func (d *Disconnect) Decode(h FixedHeader, body []byte, v Version) error {
	*d = Disconnect{}
	if err := checkHeader(h, TypeDisconnect, body, v); err != nil {
		return err
	}
	if v != V5 {
		if len(body) != 0 {
			return ErrTrailingBytes
		}
		return nil
	}
	code, props, err := decodeReasonAndProperties(body, &disconnectCodes, &disconnectProps)
	d.ReasonCode, d.Properties = code, props
	return err
}

// Append appends the DISCONNECT for version v, in its shortest form.
func (d *Disconnect) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if v != V5 {
		return append(dst, byte(TypeDisconnect)<<4, 0), nil
	}
	return appendReasonAndProperties(dst, TypeDisconnect, d.ReasonCode, &d.Properties, &disconnectCodes,
		&disconnectProps)
}

// decodeReasonAndProperties decodes the body of a 5.0 DISCONNECT or AUTH: an optional reason code followed by
// optional properties. An empty body means Success without properties.
func decodeReasonAndProperties(body []byte, codes *codeSet, ctx *propContext) (ReasonCode, Properties, error) {
	var p Properties
	if len(body) == 0 {
		return Success, p, nil
	}
	code := ReasonCode(body[0])
	if !codes.has(code) {
		return 0, p, ErrInvalidReasonCode
	}
	b := body[1:]
	if len(b) > 0 {
		var err error
		if b, err = p.decode(b, ctx, &arena{base: b}); err != nil {
			return 0, Properties{}, err
		}
		if len(b) != 0 {
			return 0, Properties{}, ErrTrailingBytes
		}
	}
	return code, p, nil
}

// appendReasonAndProperties encodes a 5.0 DISCONNECT or AUTH in its shortest form: no body for Success without
// properties, the reason code alone when there are no properties.
func appendReasonAndProperties(dst []byte, t Type, code ReasonCode, p *Properties, codes *codeSet,
	ctx *propContext) ([]byte, error) {
	if !codes.has(code) {
		return dst, ErrInvalidReasonCode
	}
	n, err := p.size(ctx)
	if err != nil {
		return dst, err
	}
	rem := 0
	switch {
	case n > 0:
		rem = 1 + SizeVarint(n) + n
	case code != Success:
		rem = 1
	}
	orig := dst
	if dst, err = appendHeader(dst, t, 0, rem); err != nil {
		return orig, err
	}
	if rem > 0 {
		dst = append(dst, byte(code))
	}
	if n > 0 {
		dst = p.append(dst, n)
	}
	return dst, nil
}
