package packet

// UserProperty is one MQTT 5.0 User Property: a name/value pair of UTF-8 strings. Either may be empty.
type UserProperty struct {
	Key   string
	Value string
}

// Properties holds the MQTT 5.0 properties of any packet (and the Will Properties of a CONNECT). Which properties a
// packet may carry is fixed by table 2-4 of the specification; Append refuses the others with ErrPropertyNotAllowed,
// and Decode with the same error.
//
// A numeric property has a Has... flag, because zero is a meaningful value: the property is written when its flag
// is set, whatever its value. A string property is absent when empty; a []byte property is absent when nil, so a
// non-nil empty slice is written as a zero-length property. The zero Properties has no property.
//
// Append writes the properties in increasing order of identifier, User Properties in their order. Decoded strings
// are copies; decoded []byte fields alias the packet body.
type Properties struct {
	// PayloadFormatIndicator is 0 for unspecified bytes or 1 for UTF-8 (PUBLISH, Will).
	PayloadFormatIndicator    byte
	HasPayloadFormatIndicator bool
	// MessageExpiryInterval is the lifetime of the message in seconds (PUBLISH, Will).
	MessageExpiryInterval    uint32
	HasMessageExpiryInterval bool
	// ContentType describes the payload (PUBLISH, Will).
	ContentType string
	// ResponseTopic is the topic name for a response message (PUBLISH, Will).
	ResponseTopic string
	// CorrelationData identifies the request a response belongs to (PUBLISH, Will).
	CorrelationData []byte
	// SubscriptionIdentifiers are 1..268435455: a PUBLISH carries one for each matching subscription that has
	// one; a SUBSCRIBE carries at most one.
	SubscriptionIdentifiers []uint32
	// SessionExpiryInterval is in seconds; 0xFFFFFFFF means never (CONNECT, CONNACK, DISCONNECT).
	SessionExpiryInterval    uint32
	HasSessionExpiryInterval bool
	// AssignedClientIdentifier is the client identifier the server chose (CONNACK).
	AssignedClientIdentifier string
	// ServerKeepAlive is the keep alive, in seconds, the server imposes (CONNACK).
	ServerKeepAlive    uint16
	HasServerKeepAlive bool
	// AuthenticationMethod names the extended authentication method (CONNECT, CONNACK, AUTH).
	AuthenticationMethod string
	// AuthenticationData is method-specific data; it needs an AuthenticationMethod (CONNECT, CONNACK, AUTH).
	AuthenticationData []byte
	// RequestProblemInformation is 0 or 1; absent means 1 (CONNECT).
	RequestProblemInformation    byte
	HasRequestProblemInformation bool
	// WillDelayInterval is in seconds (Will).
	WillDelayInterval    uint32
	HasWillDelayInterval bool
	// RequestResponseInformation is 0 or 1; absent means 0 (CONNECT).
	RequestResponseInformation    byte
	HasRequestResponseInformation bool
	// ResponseInformation is the basis for response topics (CONNACK).
	ResponseInformation string
	// ServerReference names another server to use (CONNACK, DISCONNECT).
	ServerReference string
	// ReasonString is a human-readable diagnostic (CONNACK, acknowledgements, DISCONNECT, AUTH).
	ReasonString string
	// ReceiveMaximum is the number of unacknowledged QoS 1/2 PUBLISH packets accepted, 1..65535; absent means 65535
	// (CONNECT, CONNACK).
	ReceiveMaximum    uint16
	HasReceiveMaximum bool
	// TopicAliasMaximum is the highest Topic Alias accepted; absent means 0, no aliases (CONNECT, CONNACK).
	TopicAliasMaximum    uint16
	HasTopicAliasMaximum bool
	// TopicAlias stands for the topic name, 1..65535 (PUBLISH).
	TopicAlias    uint16
	HasTopicAlias bool
	// MaximumQoS is 0 or 1; absent means 2 (CONNACK).
	MaximumQoS    byte
	HasMaximumQoS bool
	// RetainAvailable is 0 or 1; absent means 1 (CONNACK).
	RetainAvailable    byte
	HasRetainAvailable bool
	// UserProperties keep their order on the wire (every packet type but PINGREQ and PINGRESP).
	UserProperties []UserProperty
	// MaximumPacketSize is the largest packet accepted, at least 1; absent means no limit (CONNECT, CONNACK).
	MaximumPacketSize    uint32
	HasMaximumPacketSize bool
	// WildcardSubscriptionAvailable is 0 or 1; absent means 1 (CONNACK).
	WildcardSubscriptionAvailable    byte
	HasWildcardSubscriptionAvailable bool
	// SubscriptionIdentifierAvailable is 0 or 1; absent means 1 (CONNACK).
	SubscriptionIdentifierAvailable    byte
	HasSubscriptionIdentifierAvailable bool
	// SharedSubscriptionAvailable is 0 or 1; absent means 1 (CONNACK).
	SharedSubscriptionAvailable    byte
	HasSharedSubscriptionAvailable bool
}

// Property identifiers (section 2.2.2.2). They are variable byte integers on the wire, but every one defined is a
// single byte below 0x80.
const (
	propPayloadFormatIndicator          = 0x01
	propMessageExpiryInterval           = 0x02
	propContentType                     = 0x03
	propResponseTopic                   = 0x08
	propCorrelationData                 = 0x09
	propSubscriptionIdentifier          = 0x0B
	propSessionExpiryInterval           = 0x11
	propAssignedClientIdentifier        = 0x12
	propServerKeepAlive                 = 0x13
	propAuthenticationMethod            = 0x15
	propAuthenticationData              = 0x16
	propRequestProblemInformation       = 0x17
	propWillDelayInterval               = 0x18
	propRequestResponseInformation      = 0x19
	propResponseInformation             = 0x1A
	propServerReference                 = 0x1C
	propReasonString                    = 0x1F
	propReceiveMaximum                  = 0x21
	propTopicAliasMaximum               = 0x22
	propTopicAlias                      = 0x23
	propMaximumQoS                      = 0x24
	propRetainAvailable                 = 0x25
	propUserProperty                    = 0x26
	propMaximumPacketSize               = 0x27
	propWildcardSubscriptionAvailable   = 0x28
	propSubscriptionIdentifierAvailable = 0x29
	propSharedSubscriptionAvailable     = 0x2A
)

// propSet is a set of property identifiers, one bit per identifier (all are below 64).
type propSet uint64

func bit(id byte) propSet { return 1 << id }

func bits(ids ...byte) propSet {
	var s propSet
	for _, id := range ids {
		s |= bit(id)
	}
	return s
}

// propContext says which properties a packet may carry and which of them may repeat (table 2-4).
type propContext struct {
	allowed    propSet
	repeatable propSet
}

var (
	knownProps = bits(propPayloadFormatIndicator, propMessageExpiryInterval, propContentType, propResponseTopic,
		propCorrelationData, propSubscriptionIdentifier, propSessionExpiryInterval, propAssignedClientIdentifier,
		propServerKeepAlive, propAuthenticationMethod, propAuthenticationData, propRequestProblemInformation,
		propWillDelayInterval, propRequestResponseInformation, propResponseInformation, propServerReference,
		propReasonString, propReceiveMaximum, propTopicAliasMaximum, propTopicAlias, propMaximumQoS,
		propRetainAvailable, propUserProperty, propMaximumPacketSize, propWildcardSubscriptionAvailable,
		propSubscriptionIdentifierAvailable, propSharedSubscriptionAvailable)

	onlyUser = bit(propUserProperty)

	connectProps = propContext{allowed: bits(propSessionExpiryInterval, propAuthenticationMethod,
		propAuthenticationData, propRequestProblemInformation, propRequestResponseInformation, propReceiveMaximum,
		propTopicAliasMaximum, propUserProperty, propMaximumPacketSize), repeatable: onlyUser}
	willProps = propContext{allowed: bits(propPayloadFormatIndicator, propMessageExpiryInterval, propContentType,
		propResponseTopic, propCorrelationData, propWillDelayInterval, propUserProperty), repeatable: onlyUser}
	connackProps = propContext{allowed: bits(propSessionExpiryInterval, propAssignedClientIdentifier,
		propServerKeepAlive, propAuthenticationMethod, propAuthenticationData, propResponseInformation,
		propServerReference, propReasonString, propReceiveMaximum, propTopicAliasMaximum, propMaximumQoS,
		propRetainAvailable, propUserProperty, propMaximumPacketSize, propWildcardSubscriptionAvailable,
		propSubscriptionIdentifierAvailable, propSharedSubscriptionAvailable), repeatable: onlyUser}
	publishProps = propContext{allowed: bits(propPayloadFormatIndicator, propMessageExpiryInterval,
		propContentType, propResponseTopic, propCorrelationData, propSubscriptionIdentifier, propTopicAlias,
		propUserProperty), repeatable: bits(propUserProperty, propSubscriptionIdentifier)}
	ackProps        = propContext{allowed: bits(propReasonString, propUserProperty), repeatable: onlyUser}
	subscribeProps  = propContext{allowed: bits(propSubscriptionIdentifier, propUserProperty), repeatable: onlyUser}
	userOnlyProps   = propContext{allowed: onlyUser, repeatable: onlyUser}
	disconnectProps = propContext{allowed: bits(propSessionExpiryInterval, propServerReference, propReasonString,
		propUserProperty), repeatable: onlyUser}
	authProps = propContext{allowed: bits(propAuthenticationMethod, propAuthenticationData, propReasonString,
		propUserProperty), repeatable: onlyUser}
)

// decode reads a property length and the properties it covers into p, which must be zero, and returns what follows
// them. It checks that each identifier is known (MalformedPacket), allowed in ctx and not repeated unless it may be
// (ProtocolError), that the length does not overrun the body, and the value ranges (see validate). Strings are
// taken from a (see arena); the User Property and Subscription Identifier slices are counted first and allocated
// once, at their exact size.
func (p *Properties) decode(b []byte, ctx *propContext, a *arena) ([]byte, error) {
	n, b, err := readVarint(b)
	if err != nil {
		return nil, err
	}
	if n > len(b) {
		return nil, ErrTruncated
	}
	data, rest := b[:n], b[n:]
	var seen propSet
	for len(data) > 0 {
		id := data[0]
		if (id == propUserProperty && p.UserProperties == nil) ||
			(id == propSubscriptionIdentifier && p.SubscriptionIdentifiers == nil) {
			p.allocRepeated(data)
		}
		data = data[1:]
		if id >= 64 || knownProps&bit(id) == 0 {
			return nil, ErrUnknownProperty
		}
		if ctx.allowed&bit(id) == 0 {
			return nil, ErrPropertyNotAllowed
		}
		if seen&bit(id) != 0 && ctx.repeatable&bit(id) == 0 {
			return nil, ErrDuplicateProperty
		}
		seen |= bit(id)
		if data, err = p.decodeOne(id, data, a); err != nil {
			return nil, err
		}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return rest, nil
}

// decodeOne reads the value of property id. Every read stays inside the property length: data ends there.
func (p *Properties) decodeOne(id byte, data []byte, a *arena) (rest []byte, err error) {
	switch id {
	case propPayloadFormatIndicator:
		p.HasPayloadFormatIndicator = true
		p.PayloadFormatIndicator, rest, err = readByte(data)
	case propMessageExpiryInterval:
		p.HasMessageExpiryInterval = true
		p.MessageExpiryInterval, rest, err = readUint32(data)
	case propContentType:
		p.ContentType, rest, err = a.readString(data)
	case propResponseTopic:
		p.ResponseTopic, rest, err = a.readString(data)
	case propCorrelationData:
		p.CorrelationData, rest, err = readBinary(data)
	case propSubscriptionIdentifier:
		var v int
		if v, rest, err = readVarint(data); err == nil {
			p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers, uint32(v))
		}
	case propSessionExpiryInterval:
		p.HasSessionExpiryInterval = true
		p.SessionExpiryInterval, rest, err = readUint32(data)
	case propAssignedClientIdentifier:
		p.AssignedClientIdentifier, rest, err = a.readString(data)
	case propServerKeepAlive:
		p.HasServerKeepAlive = true
		p.ServerKeepAlive, rest, err = readUint16(data)
	case propAuthenticationMethod:
		p.AuthenticationMethod, rest, err = a.readString(data)
	case propAuthenticationData:
		p.AuthenticationData, rest, err = readBinary(data)
	case propRequestProblemInformation:
		p.HasRequestProblemInformation = true
		p.RequestProblemInformation, rest, err = readByte(data)
	case propWillDelayInterval:
		p.HasWillDelayInterval = true
		p.WillDelayInterval, rest, err = readUint32(data)
	case propRequestResponseInformation:
		p.HasRequestResponseInformation = true
		p.RequestResponseInformation, rest, err = readByte(data)
	case propResponseInformation:
		p.ResponseInformation, rest, err = a.readString(data)
	case propServerReference:
		p.ServerReference, rest, err = a.readString(data)
	case propReasonString:
		p.ReasonString, rest, err = a.readString(data)
	case propReceiveMaximum:
		p.HasReceiveMaximum = true
		p.ReceiveMaximum, rest, err = readUint16(data)
	case propTopicAliasMaximum:
		p.HasTopicAliasMaximum = true
		p.TopicAliasMaximum, rest, err = readUint16(data)
	case propTopicAlias:
		p.HasTopicAlias = true
		p.TopicAlias, rest, err = readUint16(data)
	case propMaximumQoS:
		p.HasMaximumQoS = true
		p.MaximumQoS, rest, err = readByte(data)
	case propRetainAvailable:
		p.HasRetainAvailable = true
		p.RetainAvailable, rest, err = readByte(data)
	case propUserProperty:
		var u UserProperty
		if u.Key, rest, err = a.readString(data); err == nil {
			if u.Value, rest, err = a.readString(rest); err == nil {
				p.UserProperties = append(p.UserProperties, u)
			}
		}
	case propMaximumPacketSize:
		p.HasMaximumPacketSize = true
		p.MaximumPacketSize, rest, err = readUint32(data)
	case propWildcardSubscriptionAvailable:
		p.HasWildcardSubscriptionAvailable = true
		p.WildcardSubscriptionAvailable, rest, err = readByte(data)
	case propSubscriptionIdentifierAvailable:
		p.HasSubscriptionIdentifierAvailable = true
		p.SubscriptionIdentifierAvailable, rest, err = readByte(data)
	case propSharedSubscriptionAvailable:
		p.HasSharedSubscriptionAvailable = true
		p.SharedSubscriptionAvailable, rest, err = readByte(data)
	}
	return rest, err
}

// propWidth gives the encoded size of each property's value, for allocRepeated: a fixed size, or one of the
// variable forms below. 0 marks an unknown identifier.
var propWidth = [64]int8{
	propPayloadFormatIndicator: 1, propMessageExpiryInterval: 4, propContentType: widthString,
	propResponseTopic: widthString, propCorrelationData: widthString, propSubscriptionIdentifier: widthVarint,
	propSessionExpiryInterval: 4, propAssignedClientIdentifier: widthString, propServerKeepAlive: 2,
	propAuthenticationMethod: widthString, propAuthenticationData: widthString, propRequestProblemInformation: 1,
	propWillDelayInterval: 4, propRequestResponseInformation: 1, propResponseInformation: widthString,
	propServerReference: widthString, propReasonString: widthString, propReceiveMaximum: 2,
	propTopicAliasMaximum: 2, propTopicAlias: 2, propMaximumQoS: 1, propRetainAvailable: 1,
	propUserProperty: widthPair, propMaximumPacketSize: 4, propWildcardSubscriptionAvailable: 1,
	propSubscriptionIdentifierAvailable: 1, propSharedSubscriptionAvailable: 1,
}

const (
	widthVarint = -1 // a variable byte integer
	widthString = -2 // a two-byte length and that many bytes
	widthPair   = -3 // two of those
)

// allocRepeated counts the User Properties and Subscription Identifiers in data, the rest of a property block from
// an identifier on, and gives p's slices for them their capacity, so that decoding appends without growing. The
// count stops at the first malformed property (decode then fails there); each counted element took at least 5
// (User Property) or 2 (Subscription Identifier) bytes of data, so the capacity is bounded by the body.
func (p *Properties) allocRepeated(data []byte) {
	var users, ids int
	for len(data) > 0 {
		id := data[0]
		if id >= 64 || propWidth[id] == 0 {
			break
		}
		data = data[1:]
		var err error
		switch w := propWidth[id]; w {
		case widthVarint:
			if _, data, err = readVarint(data); err == nil {
				ids++
			}
		case widthString:
			_, data, err = readBinary(data)
		case widthPair:
			if _, data, err = readBinary(data); err == nil {
				if _, data, err = readBinary(data); err == nil {
					users++
				}
			}
		default:
			if int(w) > len(data) {
				err = ErrTruncated
			} else {
				data = data[w:]
			}
		}
		if err != nil {
			break
		}
	}
	if p.UserProperties == nil && users > 0 {
		p.UserProperties = make([]UserProperty, 0, users)
	}
	if p.SubscriptionIdentifiers == nil && ids > 0 {
		p.SubscriptionIdentifiers = make([]uint32, 0, ids)
	}
}

// validate checks the value ranges of the properties that are set. Decode and Append share it, so that Append
// never writes what Decode would refuse.
func (p *Properties) validate() error {
	flag := func(has bool, v byte) bool { return has && v > 1 }
	switch {
	case flag(p.HasPayloadFormatIndicator, p.PayloadFormatIndicator),
		flag(p.HasRequestProblemInformation, p.RequestProblemInformation),
		flag(p.HasRequestResponseInformation, p.RequestResponseInformation),
		flag(p.HasMaximumQoS, p.MaximumQoS),
		flag(p.HasRetainAvailable, p.RetainAvailable),
		flag(p.HasWildcardSubscriptionAvailable, p.WildcardSubscriptionAvailable),
		flag(p.HasSubscriptionIdentifierAvailable, p.SubscriptionIdentifierAvailable),
		flag(p.HasSharedSubscriptionAvailable, p.SharedSubscriptionAvailable),
		p.HasReceiveMaximum && p.ReceiveMaximum == 0,
		p.HasMaximumPacketSize && p.MaximumPacketSize == 0:
		return ErrPropertyValue
	case p.HasTopicAlias && p.TopicAlias == 0:
		return ErrTopicAliasZero // [MQTT-3.3.2-8]
	case p.AuthenticationData != nil && p.AuthenticationMethod == "":
		return ErrAuthDataWithoutMethod
	}
	for _, id := range p.SubscriptionIdentifiers {
		if id == 0 || id > MaxRemaining {
			return ErrPropertyValue
		}
	}
	return nil
}

// size returns the length of the encoded properties, without the property length itself, after checking that
// each set property is allowed in ctx and in range.
func (p *Properties) size(ctx *propContext) (int, error) {
	// The fixed-size properties first: one identifier byte plus the value each.
	var n int
	var set propSet
	if p.HasPayloadFormatIndicator {
		n += 2
		set |= bit(propPayloadFormatIndicator)
	}
	if p.HasMessageExpiryInterval {
		n += 5
		set |= bit(propMessageExpiryInterval)
	}
	if p.HasSessionExpiryInterval {
		n += 5
		set |= bit(propSessionExpiryInterval)
	}
	if p.HasServerKeepAlive {
		n += 3
		set |= bit(propServerKeepAlive)
	}
	if p.HasRequestProblemInformation {
		n += 2
		set |= bit(propRequestProblemInformation)
	}
	if p.HasWillDelayInterval {
		n += 5
		set |= bit(propWillDelayInterval)
	}
	if p.HasRequestResponseInformation {
		n += 2
		set |= bit(propRequestResponseInformation)
	}
	if p.HasReceiveMaximum {
		n += 3
		set |= bit(propReceiveMaximum)
	}
	if p.HasTopicAliasMaximum {
		n += 3
		set |= bit(propTopicAliasMaximum)
	}
	if p.HasTopicAlias {
		n += 3
		set |= bit(propTopicAlias)
	}
	if p.HasMaximumQoS {
		n += 2
		set |= bit(propMaximumQoS)
	}
	if p.HasRetainAvailable {
		n += 2
		set |= bit(propRetainAvailable)
	}
	if p.HasMaximumPacketSize {
		n += 5
		set |= bit(propMaximumPacketSize)
	}
	if p.HasWildcardSubscriptionAvailable {
		n += 2
		set |= bit(propWildcardSubscriptionAvailable)
	}
	if p.HasSubscriptionIdentifierAvailable {
		n += 2
		set |= bit(propSubscriptionIdentifierAvailable)
	}
	if p.HasSharedSubscriptionAvailable {
		n += 2
		set |= bit(propSharedSubscriptionAvailable)
	}
	// Then the variable-size ones, which are absent when empty (strings) or nil ([]byte, slices).
	if len(p.SubscriptionIdentifiers) > 0 {
		set |= bit(propSubscriptionIdentifier)
		for _, id := range p.SubscriptionIdentifiers {
			n += 1 + SizeVarint(int(id))
		}
	}
	for _, u := range p.UserProperties {
		k, err := sizeString(u.Key)
		if err != nil {
			return 0, err
		}
		v, err := sizeString(u.Value)
		if err != nil {
			return 0, err
		}
		n += 1 + k + v
		set |= bit(propUserProperty)
	}
	if p.ContentType != "" {
		size, err := sizeString(p.ContentType)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propContentType)
	}
	if p.ResponseTopic != "" {
		size, err := sizeString(p.ResponseTopic)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propResponseTopic)
	}
	if p.AssignedClientIdentifier != "" {
		size, err := sizeString(p.AssignedClientIdentifier)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propAssignedClientIdentifier)
	}
	if p.AuthenticationMethod != "" {
		size, err := sizeString(p.AuthenticationMethod)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propAuthenticationMethod)
	}
	if p.ResponseInformation != "" {
		size, err := sizeString(p.ResponseInformation)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propResponseInformation)
	}
	if p.ServerReference != "" {
		size, err := sizeString(p.ServerReference)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propServerReference)
	}
	if p.ReasonString != "" {
		size, err := sizeString(p.ReasonString)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propReasonString)
	}
	if p.CorrelationData != nil {
		size, err := sizeBinary(p.CorrelationData)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propCorrelationData)
	}
	if p.AuthenticationData != nil {
		size, err := sizeBinary(p.AuthenticationData)
		if err != nil {
			return 0, err
		}
		n += 1 + size
		set |= bit(propAuthenticationData)
	}
	if set&^ctx.allowed != 0 {
		return 0, ErrPropertyNotAllowed
	}
	if len(p.SubscriptionIdentifiers) > 1 && ctx.repeatable&bit(propSubscriptionIdentifier) == 0 {
		return 0, ErrDuplicateProperty
	}
	if err := p.validate(); err != nil {
		return 0, err
	}
	return n, nil
}

// sizeWithLength returns the encoded size of the properties including the property length, and the property length.
func (p *Properties) sizeWithLength(ctx *propContext) (total, n int, err error) {
	n, err = p.size(ctx)
	if err != nil {
		return 0, 0, err
	}
	return SizeVarint(n) + n, n, nil
}

// append appends the property length n (as returned by size) and the properties, in increasing identifier order.
func (p *Properties) append(dst []byte, n int) []byte {
	dst = AppendVarint(dst, n)
	if n == 0 {
		return dst
	}
	if p.HasPayloadFormatIndicator {
		dst = append(dst, propPayloadFormatIndicator, p.PayloadFormatIndicator)
	}
	if p.HasMessageExpiryInterval {
		dst = appendUint32(append(dst, propMessageExpiryInterval), p.MessageExpiryInterval)
	}
	if p.ContentType != "" {
		dst = appendString(append(dst, propContentType), p.ContentType)
	}
	if p.ResponseTopic != "" {
		dst = appendString(append(dst, propResponseTopic), p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		dst = appendBinary(append(dst, propCorrelationData), p.CorrelationData)
	}
	for _, id := range p.SubscriptionIdentifiers {
		dst = AppendVarint(append(dst, propSubscriptionIdentifier), int(id))
	}
	if p.HasSessionExpiryInterval {
		dst = appendUint32(append(dst, propSessionExpiryInterval), p.SessionExpiryInterval)
	}
	if p.AssignedClientIdentifier != "" {
		dst = appendString(append(dst, propAssignedClientIdentifier), p.AssignedClientIdentifier)
	}
	if p.HasServerKeepAlive {
		dst = appendUint16(append(dst, propServerKeepAlive), p.ServerKeepAlive)
	}
	if p.AuthenticationMethod != "" {
		dst = appendString(append(dst, propAuthenticationMethod), p.AuthenticationMethod)
	}
	if p.AuthenticationData != nil {
		dst = appendBinary(append(dst, propAuthenticationData), p.AuthenticationData)
	}
	if p.HasRequestProblemInformation {
		dst = append(dst, propRequestProblemInformation, p.RequestProblemInformation)
	}
	if p.HasWillDelayInterval {
		dst = appendUint32(append(dst, propWillDelayInterval), p.WillDelayInterval)
	}
	if p.HasRequestResponseInformation {
		dst = append(dst, propRequestResponseInformation, p.RequestResponseInformation)
	}
	if p.ResponseInformation != "" {
		dst = appendString(append(dst, propResponseInformation), p.ResponseInformation)
	}
	if p.ServerReference != "" {
		dst = appendString(append(dst, propServerReference), p.ServerReference)
	}
	if p.ReasonString != "" {
		dst = appendString(append(dst, propReasonString), p.ReasonString)
	}
	if p.HasReceiveMaximum {
		dst = appendUint16(append(dst, propReceiveMaximum), p.ReceiveMaximum)
	}
	if p.HasTopicAliasMaximum {
		dst = appendUint16(append(dst, propTopicAliasMaximum), p.TopicAliasMaximum)
	}
	if p.HasTopicAlias {
		dst = appendUint16(append(dst, propTopicAlias), p.TopicAlias)
	}
	if p.HasMaximumQoS {
		dst = append(dst, propMaximumQoS, p.MaximumQoS)
	}
	if p.HasRetainAvailable {
		dst = append(dst, propRetainAvailable, p.RetainAvailable)
	}
	for _, u := range p.UserProperties {
		dst = appendString(appendString(append(dst, propUserProperty), u.Key), u.Value)
	}
	if p.HasMaximumPacketSize {
		dst = appendUint32(append(dst, propMaximumPacketSize), p.MaximumPacketSize)
	}
	if p.HasWildcardSubscriptionAvailable {
		dst = append(dst, propWildcardSubscriptionAvailable, p.WildcardSubscriptionAvailable)
	}
	if p.HasSubscriptionIdentifierAvailable {
		dst = append(dst, propSubscriptionIdentifierAvailable, p.SubscriptionIdentifierAvailable)
	}
	if p.HasSharedSubscriptionAvailable {
		dst = append(dst, propSharedSubscriptionAvailable, p.SharedSubscriptionAvailable)
	}
	return dst
}
