package packet

// Auth is an AUTH packet, the exchange of MQTT 5.0 extended authentication. It does not exist in 3.x: Decode and
// Append return ErrAuthNotV5 for them.
type Auth struct {
	// ReasonCode is Success, ContinueAuthentication or ReAuthenticate.
	ReasonCode ReasonCode
	// Properties are the AUTH properties: Authentication Method and Data, Reason String, User Properties.
	Properties Properties
}

// Type returns TypeAuth.
func (a *Auth) Type() Type { return TypeAuth }

// Decode resets a and decodes an AUTH body into it. An empty body means Success without properties (section
// 3.15.2.1); a body holding only the reason code is accepted too.
func (a *Auth) Decode(h FixedHeader, body []byte, v Version) error {
	*a = Auth{}
	if err := checkHeader(h, TypeAuth, body, v); err != nil {
		return err
	}
	if v != V5 {
		return ErrAuthNotV5
	}
	code, props, err := decodeReasonAndProperties(body, &authCodes, &authProps)
	a.ReasonCode, a.Properties = code, props
	return err
}

// Append appends the AUTH, which needs v to be V5, in its shortest form.
func (a *Auth) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if v != V5 {
		return dst, ErrAuthNotV5
	}
	return appendReasonAndProperties(dst, TypeAuth, a.ReasonCode, &a.Properties, &authCodes, &authProps)
}
