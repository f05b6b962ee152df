package packet

// Packet is any control packet: *Connect, *Connack, *Publish, *Ack, *Subscribe, *Suback, *Unsubscribe, *Unsuback,
// *Pingreq, *Pingresp, *Disconnect or *Auth.
type Packet interface {
	// Type returns the control packet type.
	Type() Type
	// Append appends the packet's complete encoding, fixed header included, for protocol version v to dst and
	// returns the extended slice. It returns dst unchanged and an error when the packet cannot be encoded for v:
	// AUTH below 5.0, a field out of range, a string longer than 65535 bytes, a Remaining Length over
	// MaxRemaining, or anything Decode would refuse. Fields that v does not have (properties, 5.0 reason codes and
	// subscription options for 3.x) are left out. Append allocates only when dst lacks capacity.
	Append(dst []byte, v Version) ([]byte, error)
}

// decoder is what each packet struct implements besides Packet.
type decoder interface {
	Packet
	Decode(h FixedHeader, body []byte, v Version) error
}

// Decode decodes the body, exactly h.Remaining bytes, of a packet whose fixed header is h, for protocol version v
// (ignored for CONNECT, which carries its own version). It returns a pointer to the struct of the type: *Connect,
// *Connack, *Publish, *Ack (for PUBACK, PUBREC, PUBREL and PUBCOMP), *Subscribe, *Suback, *Unsubscribe,
// *Unsuback, *Pingreq, *Pingresp, *Disconnect or *Auth.
//
// []byte fields of the result alias body, so body must not be reused while the packet is; strings are copied, all
// of a packet's strings sharing one copy of the part of body that holds them, so keeping any one of them keeps that
// copy (at most len(body) bytes) alive. Every error is a *ReasonError carrying the reason code to answer with.
//
// Decode never panics and never sizes an allocation from a length read off the wire. It allocates at most
// 9*len(body) + 32 KiB bytes, whatever the body holds: the packet struct, one copy of the body's strings (at most
// len(body)), and one slice per list, counted first and allocated at its exact size: 32 bytes per User Property (5
// or more body bytes), 24 per SUBSCRIBE subscription (3 or more), 16 per UNSUBSCRIBE filter (2 or more), 4 per
// Subscription Identifier (2 or more) and 1 per SUBACK or UNSUBACK reason code (1). So lists cost at most 8 bytes
// per body byte; the 32 KiB covers the packet struct and the rounding of allocations to size classes and pages.
func Decode(h FixedHeader, body []byte, v Version) (Packet, error) {
	p, err := New(h.Type)
	if err != nil {
		return nil, err
	}
	if err := p.(decoder).Decode(h, body, v); err != nil {
		return nil, err
	}
	return p, nil
}

// New returns a new zero packet of type t, ready for its Decode method: for TypePuback, TypePubrec, TypePubrel
// and TypePubcomp an *Ack whose Kind is t. It returns ErrReservedType for type 0 and ErrWrongType for values
// above 15.
func New(t Type) (Packet, error) {
	switch t {
	case 0:
		return nil, ErrReservedType
	case TypeConnect:
		return new(Connect), nil
	case TypeConnack:
		return new(Connack), nil
	case TypePublish:
		return new(Publish), nil
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		return &Ack{Kind: t}, nil
	case TypeSubscribe:
		return new(Subscribe), nil
	case TypeSuback:
		return new(Suback), nil
	case TypeUnsubscribe:
		return new(Unsubscribe), nil
	case TypeUnsuback:
		return new(Unsuback), nil
	case TypePingreq:
		return new(Pingreq), nil
	case TypePingresp:
		return new(Pingresp), nil
	case TypeDisconnect:
		return new(Disconnect), nil
	case TypeAuth:
		return new(Auth), nil
	}
	return nil, ErrWrongType
}
