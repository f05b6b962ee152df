package packet

// Subscribe is a SUBSCRIBE packet.
type Subscribe struct {
	// PacketID is not 0 [MQTT-2.2.1-3].
	PacketID uint16
	// Properties are the SUBSCRIBE properties (5.0 only; ignored on encode for 3.x): at most one Subscription
	// Identifier, and User Properties.
	Properties Properties
	// Subscriptions holds at least one subscription [MQTT-3.8.3-3].
	Subscriptions []Subscription
}

// Subscription is one topic filter of a SUBSCRIBE with its subscription options.
type Subscription struct {
	// Filter is the topic filter; its syntax is the topic package's concern.
	Filter string
	// QoS is the maximum QoS, 0, 1 or 2.
	QoS byte
	// NoLocal asks not to receive one's own messages (5.0 only).
	NoLocal bool
	// RetainAsPublished keeps the RETAIN flag of forwarded messages (5.0 only).
	RetainAsPublished bool
	// RetainHandling is 0 (send retained messages), 1 (only for a new subscription) or 2 (never); 5.0 only.
	RetainHandling byte
}

// The subscription options byte (section 3.8.3.1).
const (
	subQoSMask              = 0x03
	subNoLocal              = 0x04
	subRetainAsPublished    = 0x08
	subRetainHandlingShift  = 4
	subReservedV5           = 0xC0
	subReservedV3           = 0xFC
	subscriptionMinEncoding = 3 // a two-byte length, an empty filter and the options byte
)

// Type returns TypeSubscribe.
func (s *Subscribe) Type() Type { return TypeSubscribe }

// Decode resets s and decodes a SUBSCRIBE body for version v into it. 3.1 is decoded as 3.1.1.
func (s *Subscribe) Decode(h FixedHeader, body []byte, v Version) error {
	*s = Subscribe{}
	if err := checkHeader(h, TypeSubscribe, body, v); err != nil {
		return err
	}
	id, b, err := readUint16(body)
	if err != nil {
		return err
	}
	if id == 0 {
		return ErrPacketIDZero // [MQTT-2.2.1-3]
	}
	s.PacketID = id
	a := arena{base: b} // the properties and the filters share one copy
	if v == V5 {
		if b, err = s.Properties.decode(b, &subscribeProps, &a); err != nil {
			return err
		}
	}
	if len(b) == 0 {
		return ErrNoSubscriptions // [MQTT-3.8.3-3]
	}
	// Count the subscriptions first and allocate the slice once. Each counted subscription took at least
	// subscriptionMinEncoding bytes, which bounds the count by the body.
	n := 0
	for rest := b; len(rest) > 0; n++ {
		if _, rest, err = readBinary(rest); err != nil || len(rest) == 0 {
			break
		}
		rest = rest[1:]
	}
	s.Subscriptions = make([]Subscription, 0, n)
	for len(b) > 0 {
		var sub Subscription
		if sub.Filter, b, err = a.readString(b); err != nil {
			return err
		}
		var opts byte
		if opts, b, err = readByte(b); err != nil {
			return err
		}
		if err := sub.setOptions(opts, v); err != nil {
			return err
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	return nil
}

// setOptions decodes a subscription options byte.
func (sub *Subscription) setOptions(opts byte, v Version) error {
	if v == V5 {
		if opts&subReservedV5 != 0 {
			return ErrSubscriptionOptions // [MQTT-3.8.3-5]
		}
	} else if opts&subReservedV3 != 0 {
		return ErrSubscriptionOptions // [MQTT-3.8.3-4]
	}
	sub.QoS = opts & subQoSMask
	if sub.QoS == 3 {
		return ErrInvalidQoS // [MQTT-3.8.3-4]
	}
	sub.NoLocal = opts&subNoLocal != 0
	sub.RetainAsPublished = opts&subRetainAsPublished != 0
	sub.RetainHandling = opts >> subRetainHandlingShift & 3
	if sub.RetainHandling == 3 {
		return ErrRetainHandling
	}
	return nil
}

// options encodes the subscription options byte for version v; 3.x carries only the QoS.
func (sub *Subscription) options(v Version) (byte, error) {
	if sub.QoS > 2 {
		return 0, ErrInvalidQoS
	}
	opts := sub.QoS
	if v != V5 {
		return opts, nil
	}
	if sub.RetainHandling > 2 {
		return 0, ErrRetainHandling
	}
	if sub.NoLocal {
		opts |= subNoLocal
	}
	if sub.RetainAsPublished {
		opts |= subRetainAsPublished
	}
	return opts | sub.RetainHandling<<subRetainHandlingShift, nil
}

// Append appends the SUBSCRIBE for version v. For 3.x only each filter's QoS is written.
func (s *Subscribe) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if s.PacketID == 0 {
		return dst, ErrPacketIDZero
	}
	if len(s.Subscriptions) == 0 {
		return dst, ErrNoSubscriptions
	}
	rem, propLen := 2, 0
	if v == V5 {
		n, pl, err := s.Properties.sizeWithLength(&subscribeProps)
		if err != nil {
			return dst, err
		}
		rem, propLen = rem+n, pl
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		n, err := sizeString(sub.Filter)
		if err != nil {
			return dst, err
		}
		if _, err := sub.options(v); err != nil {
			return dst, err
		}
		rem += n + 1
	}
	orig := dst
	dst, err := appendHeader(dst, TypeSubscribe, requiredFlags(TypeSubscribe), rem)
	if err != nil {
		return orig, err
	}
	dst = appendUint16(dst, s.PacketID)
	if v == V5 {
		dst = s.Properties.append(dst, propLen)
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		opts, _ := sub.options(v)
		dst = append(appendString(dst, sub.Filter), opts)
	}
	return dst, nil
}

// Suback is a SUBACK packet.
type Suback struct {
	// PacketID is the identifier of the SUBSCRIBE it answers; it is not 0.
	PacketID uint16
	// Properties are the SUBACK properties (5.0 only; ignored on encode for 3.x).
	Properties Properties
	// ReasonCodes holds one code per subscription, at least one. For 3.x only GrantedQoS0/1/2 and failures
	// exist: any code >= 0x80 is written as 0x80 and decodes as UnspecifiedError.
	ReasonCodes []ReasonCode
}

// Type returns TypeSuback.
func (s *Suback) Type() Type { return TypeSuback }

// Decode resets s and decodes a SUBACK body for version v into it.
func (s *Suback) Decode(h FixedHeader, body []byte, v Version) error {
	*s = Suback{}
	if err := checkHeader(h, TypeSuback, body, v); err != nil {
		return err
	}
	id, b, err := readUint16(body)
	if err != nil {
		return err
	}
	if id == 0 {
		return ErrPacketIDZero
	}
	s.PacketID = id
	if v == V5 {
		if b, err = s.Properties.decode(b, &ackProps, &arena{base: b}); err != nil {
			return err
		}
	}
	if s.ReasonCodes, err = decodeCodes(b, &subackCodes); err != nil {
		return err
	}
	if v != V5 {
		for _, c := range s.ReasonCodes {
			if c > GrantedQoS2 && c != UnspecifiedError {
				return ErrInvalidReasonCode // [MQTT-3.9.3-2] in 3.1.1
			}
		}
	}
	return nil
}

// decodeCodes copies the reason codes of a SUBACK or UNSUBACK: at least one, each in set.
func decodeCodes(b []byte, set *codeSet) ([]ReasonCode, error) {
	if len(b) == 0 {
		return nil, ErrNoReasonCodes
	}
	codes := make([]ReasonCode, len(b))
	for i, c := range b {
		codes[i] = ReasonCode(c)
		if !set.has(codes[i]) {
			return nil, ErrInvalidReasonCode
		}
	}
	return codes, nil
}

// sizeCodes checks reason codes for encoding.
func sizeCodes(codes []ReasonCode, set *codeSet) (int, error) {
	if len(codes) == 0 {
		return 0, ErrNoReasonCodes
	}
	for _, c := range codes {
		if !set.has(c) {
			return 0, ErrInvalidReasonCode
		}
	}
	return len(codes), nil
}

// Append appends the SUBACK for version v.
func (s *Suback) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if s.PacketID == 0 {
		return dst, ErrPacketIDZero
	}
	n, err := sizeCodes(s.ReasonCodes, &subackCodes)
	if err != nil {
		return dst, err
	}
	rem, propLen := 2+n, 0
	if v == V5 {
		n, pl, err := s.Properties.sizeWithLength(&ackProps)
		if err != nil {
			return dst, err
		}
		rem, propLen = rem+n, pl
	}
	orig := dst
	if dst, err = appendHeader(dst, TypeSuback, 0, rem); err != nil {
		return orig, err
	}
	dst = appendUint16(dst, s.PacketID)
	if v == V5 {
		dst = s.Properties.append(dst, propLen)
		for _, c := range s.ReasonCodes {
			dst = append(dst, byte(c))
		}
		return dst, nil
	}
	for _, c := range s.ReasonCodes {
		if c.IsError() {
			c = UnspecifiedError
		}
		dst = append(dst, byte(c))
	}
	return dst, nil
}
