package packet

import "strconv"

// ReasonCode is an MQTT 5.0 reason code. CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT and
// AUTH carry one (SUBACK and UNSUBACK one per filter). Values below 0x80 report success, values from 0x80 on report
// failure. The zero ReasonCode is Success.
//
// The codec always speaks in 5.0 reason codes; for 3.x it maps them to and from the CONNACK return codes and the
// SUBACK granted QoS / failure byte (see Connack and Suback).
type ReasonCode byte

// The reason codes of MQTT 5.0 (section 2.4), named as the specification names them. Some values have several
// names, one for each packet that uses them.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWillMessage           ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// reasonNames holds the Go name of each defined code. Where a value has several names the first one listed above
// wins (0x00 is "Success", 0x01 "GrantedQoS1").
var reasonNames = [256]string{
	Success:                             "Success",
	GrantedQoS1:                         "GrantedQoS1",
	GrantedQoS2:                         "GrantedQoS2",
	DisconnectWithWillMessage:           "DisconnectWithWillMessage",
	NoMatchingSubscribers:               "NoMatchingSubscribers",
	NoSubscriptionExisted:               "NoSubscriptionExisted",
	ContinueAuthentication:              "ContinueAuthentication",
	ReAuthenticate:                      "ReAuthenticate",
	UnspecifiedError:                    "UnspecifiedError",
	MalformedPacket:                     "MalformedPacket",
	ProtocolError:                       "ProtocolError",
	ImplementationSpecificError:         "ImplementationSpecificError",
	UnsupportedProtocolVersion:          "UnsupportedProtocolVersion",
	ClientIdentifierNotValid:            "ClientIdentifierNotValid",
	BadUserNameOrPassword:               "BadUserNameOrPassword",
	NotAuthorized:                       "NotAuthorized",
	ServerUnavailable:                   "ServerUnavailable",
	ServerBusy:                          "ServerBusy",
	Banned:                              "Banned",
	ServerShuttingDown:                  "ServerShuttingDown",
	BadAuthenticationMethod:             "BadAuthenticationMethod",
	KeepAliveTimeout:                    "KeepAliveTimeout",
	SessionTakenOver:                    "SessionTakenOver",
	TopicFilterInvalid:                  "TopicFilterInvalid",
	TopicNameInvalid:                    "TopicNameInvalid",
	PacketIdentifierInUse:               "PacketIdentifierInUse",
	PacketIdentifierNotFound:            "PacketIdentifierNotFound",
	ReceiveMaximumExceeded:              "ReceiveMaximumExceeded",
	TopicAliasInvalid:                   "TopicAliasInvalid",
	PacketTooLarge:                      "PacketTooLarge",
	MessageRateTooHigh:                  "MessageRateTooHigh",
	QuotaExceeded:                       "QuotaExceeded",
	AdministrativeAction:                "AdministrativeAction",
	PayloadFormatInvalid:                "PayloadFormatInvalid",
	RetainNotSupported:                  "RetainNotSupported",
	QoSNotSupported:                     "QoSNotSupported",
	UseAnotherServer:                    "UseAnotherServer",
	ServerMoved:                         "ServerMoved",
	SharedSubscriptionsNotSupported:     "SharedSubscriptionsNotSupported",
	ConnectionRateExceeded:              "ConnectionRateExceeded",
	MaximumConnectTime:                  "MaximumConnectTime",
	SubscriptionIdentifiersNotSupported: "SubscriptionIdentifiersNotSupported",
	WildcardSubscriptionsNotSupported:   "WildcardSubscriptionsNotSupported",
}

// String returns the code's Go name ("Success", "PacketTooLarge", ...), or "ReasonCode(0xNN)" for a value 5.0 does
// not define.
func (c ReasonCode) String() string {
	if s := reasonNames[c]; s != "" {
		return s
	}
	return "ReasonCode(0x" + strconv.FormatUint(uint64(c)|0x100, 16)[1:] + ")"
}

// IsError reports whether c reports a failure, that is c >= 0x80.
func (c ReasonCode) IsError() bool {
	return c >= 0x80
}

// codeSet is the set of reason codes one packet type may carry, one bit per code value.
type codeSet [4]uint64

func newCodeSet(codes ...ReasonCode) codeSet {
	var s codeSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *codeSet) has(c ReasonCode) bool {
	return s[c>>6]&(1<<(c&63)) != 0
}

// The reason codes each 5.0 packet may carry (sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3,
// 3.14.2.1 and 3.15.2.1).
var (
	connackCodes = newCodeSet(Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError,
		UnsupportedProtocolVersion, ClientIdentifierNotValid, BadUserNameOrPassword, NotAuthorized, ServerUnavailable,
		ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		ConnectionRateExceeded)
	pubackCodes = newCodeSet(Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid)
	pubrelCodes = newCodeSet(Success, PacketIdentifierNotFound)
	subackCodes = newCodeSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse, QuotaExceeded, SharedSubscriptionsNotSupported,
		SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	unsubackCodes = newCodeSet(Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	disconnectCodes = newCodeSet(NormalDisconnection, DisconnectWithWillMessage, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown, KeepAliveTimeout,
		SessionTakenOver, TopicFilterInvalid, TopicNameInvalid, ReceiveMaximumExceeded, TopicAliasInvalid,
		PacketTooLarge, MessageRateTooHigh, QuotaExceeded, AdministrativeAction, PayloadFormatInvalid,
		RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved, SharedSubscriptionsNotSupported,
		ConnectionRateExceeded, MaximumConnectTime, SubscriptionIdentifiersNotSupported,
		WildcardSubscriptionsNotSupported)
	authCodes = newCodeSet(Success, ContinueAuthentication, ReAuthenticate)
)
