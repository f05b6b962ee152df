package packet

import "errors"

// ReasonError is a protocol error that carries the reason code the connection should answer with: a 5.0 broker
// sends it in a CONNACK or DISCONNECT before closing the connection; a 3.x broker just closes it (or, for
// UnsupportedProtocolVersion and the other CONNECT failures, maps the code to a CONNACK return code).
//
// Every error Decode and the Decode methods return is a *ReasonError, possibly wrapped; callers get it with errors.As.
// The sentinel values below are *ReasonError; compare them with errors.Is.
type ReasonError struct {
	// Code is the reason code that describes the failure; it is always >= 0x80.
	Code ReasonCode
	// Msg is a lower-case description without the "packet: " prefix.
	Msg string
}

// Error returns "packet: " followed by e.Msg.
func (e *ReasonError) Error() string {
	return "packet: " + e.Msg
}

func malformed(msg string) *ReasonError { return &ReasonError{Code: MalformedPacket, Msg: msg} }

func protocolError(msg string) *ReasonError { return &ReasonError{Code: ProtocolError, Msg: msg} }

// ErrShortBuffer is returned by ParseFixedHeader and ParseVarint when the buffer ends before the fixed header or the
// variable byte integer does; reading more bytes may complete it. It is not a protocol error.
var ErrShortBuffer = errors.New("packet: short buffer")

// Errors of the fixed header and the variable byte integer.
var (
	// ErrReservedType is returned when a packet has the reserved type 0.
	ErrReservedType = malformed("reserved packet type 0")
	// ErrInvalidFlags is returned when the fixed header flags are not the ones the packet type requires
	// [MQTT-2.2.2-1] [MQTT-2.2.2-2].
	ErrInvalidFlags = malformed("invalid fixed header flags")
	// ErrMalformedVarint is returned when a variable byte integer is longer than four bytes or not in its shortest
	// form [MQTT-1.5.5-1].
	ErrMalformedVarint = malformed("malformed variable byte integer")
	// ErrPacketTooLarge is returned when a packet is larger than the maximum packet size the reader allows.
	ErrPacketTooLarge = &ReasonError{Code: PacketTooLarge, Msg: "packet exceeds the maximum packet size"}
	// ErrRemainingTooLarge is returned by Append when a packet's Remaining Length would exceed MaxRemaining.
	ErrRemainingTooLarge = &ReasonError{Code: PacketTooLarge, Msg: "remaining length exceeds 268435455"}
)

// Errors of the packet body in general.
var (
	// ErrUnsupportedVersion is returned when a CONNECT names a known protocol with a level that does not belong to
	// it [MQTT-3.1.2-2], and when Decode or Append is called with a Version other than V31, V311 and V5.
	ErrUnsupportedVersion = &ReasonError{Code: UnsupportedProtocolVersion, Msg: "unsupported protocol version"}
	// ErrWrongType is returned when a Decode method is given a fixed header of another packet type, or when an Ack's
	// Kind is not one of the four acknowledgement types.
	ErrWrongType = protocolError("packet type does not match")
	// ErrTruncated is returned when a field runs past the end of the packet, or the body is shorter than the
	// Remaining Length.
	ErrTruncated = malformed("field runs past the end of the packet")
	// ErrTrailingBytes is returned when bytes are left after the last field of a packet.
	ErrTrailingBytes = malformed("unexpected bytes after the end of the packet")
	// ErrInvalidUTF8 is returned when a UTF-8 encoded string is not valid UTF-8; this includes the surrogates
	// U+D800..U+DFFF [MQTT-1.5.4-1].
	ErrInvalidUTF8 = malformed("invalid UTF-8 string")
	// ErrNullCharacter is returned when a UTF-8 encoded string contains U+0000 [MQTT-1.5.4-2].
	ErrNullCharacter = malformed("string contains U+0000")
	// ErrStringTooLong is returned by Append when a string or binary field is longer than 65535 bytes.
	ErrStringTooLong = malformed("string or binary data longer than 65535 bytes")
	// ErrInvalidQoS is returned when a QoS is 3 (or, on encode, above 2).
	ErrInvalidQoS = malformed("invalid QoS")
	// ErrPacketIDZero is returned when a packet that needs a packet identifier has 0 [MQTT-2.2.1-3].
	ErrPacketIDZero = protocolError("packet identifier is 0")
	// ErrInvalidReasonCode is returned when a reason code is not one the packet type may carry.
	ErrInvalidReasonCode = protocolError("reason code not valid for the packet")
	// ErrAuthNotV5 is returned when an AUTH packet is decoded or encoded for a version below 5.0.
	ErrAuthNotV5 = protocolError("AUTH requires MQTT 5.0")
)

// Errors of CONNECT and CONNACK.
var (
	// ErrProtocolName is returned when a CONNECT names neither "MQTT" nor "MQIsdp" [MQTT-3.1.2-1].
	ErrProtocolName = protocolError("unknown protocol name")
	// ErrReservedConnectFlag is returned when the reserved bit 0 of the CONNECT flags is set [MQTT-3.1.2-3].
	ErrReservedConnectFlag = malformed("reserved connect flag set")
	// ErrInvalidWillFlags is returned when Will QoS or Will Retain is set without the Will Flag, or Will QoS is 3
	// [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-14] [MQTT-3.1.2-15].
	ErrInvalidWillFlags = malformed("invalid will flags")
	// ErrPasswordWithoutUsername is returned when a 3.x CONNECT has the Password Flag without the User Name Flag
	// [MQTT-3.1.2-22].
	ErrPasswordWithoutUsername = protocolError("password flag without user name flag")
	// ErrConnackFlags is returned when reserved CONNACK acknowledge flags are set [MQTT-3.2.2-1].
	ErrConnackFlags = malformed("reserved connack flags set")
	// ErrConnackReturnCode is returned when a 3.x CONNACK has a return code above 5.
	ErrConnackReturnCode = malformed("invalid connack return code")
	// ErrSessionPresent is returned when a CONNACK has Session Present set with a failure reason code
	// [MQTT-3.2.2-4] [MQTT-3.2.2-6].
	ErrSessionPresent = protocolError("session present with a failure reason code")
)

// Errors of PUBLISH, SUBSCRIBE, UNSUBSCRIBE and their acknowledgements.
var (
	// ErrDupQoS0 is returned when a QoS 0 PUBLISH has the DUP flag set [MQTT-3.3.1-2].
	ErrDupQoS0 = malformed("DUP flag on a QoS 0 PUBLISH")
	// ErrEmptyTopic is returned when a PUBLISH has an empty topic name, which only 5.0 allows and only together with
	// a Topic Alias [MQTT-4.7.3-1].
	ErrEmptyTopic = protocolError("empty topic name")
	// ErrNoSubscriptions is returned when a SUBSCRIBE or UNSUBSCRIBE has no topic filter [MQTT-3.8.3-3]
	// [MQTT-3.10.3-2].
	ErrNoSubscriptions = protocolError("no topic filter")
	// ErrSubscriptionOptions is returned when reserved bits of a subscription options byte are set [MQTT-3.8.3-4]
	// [MQTT-3.8.3-5].
	ErrSubscriptionOptions = malformed("reserved subscription option bits set")
	// ErrRetainHandling is returned when a subscription's Retain Handling is 3.
	ErrRetainHandling = protocolError("invalid retain handling")
	// ErrNoReasonCodes is returned when a SUBACK, or a 5.0 UNSUBACK, has no reason code.
	ErrNoReasonCodes = protocolError("no reason code")
)

// Errors of MQTT 5.0 properties.
var (
	// ErrUnknownProperty is returned when a property identifier is not defined by MQTT 5.0.
	ErrUnknownProperty = malformed("unknown property identifier")
	// ErrPropertyNotAllowed is returned when a property is not allowed in the packet that carries it.
	ErrPropertyNotAllowed = protocolError("property not allowed in this packet")
	// ErrDuplicateProperty is returned when a property other than User Property (and Subscription Identifier in
	// PUBLISH) appears more than once.
	ErrDuplicateProperty = protocolError("property included more than once")
	// ErrPropertyValue is returned when a property's value is out of range: Payload Format Indicator, Request
	// Problem Information, Request Response Information, Maximum QoS, Retain Available and the three
	// ...Available properties above 1, or Receive Maximum, Maximum Packet Size or a Subscription Identifier of 0.
	ErrPropertyValue = protocolError("property value out of range")
	// ErrTopicAliasZero is returned when a Topic Alias is 0 [MQTT-3.3.2-8].
	ErrTopicAliasZero = &ReasonError{Code: TopicAliasInvalid, Msg: "topic alias 0"}
	// ErrAuthDataWithoutMethod is returned when Authentication Data is present without an Authentication Method.
	ErrAuthDataWithoutMethod = protocolError("authentication data without authentication method")
)
