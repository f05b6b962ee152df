package packet

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var allVersions = []Version{V31, V311, V5}

// fullProperties returns properties with every field that packet type t may carry set, so round trips cover each
// property in each packet that allows it.
func fullProperties(ctx *propContext) Properties {
	all := Properties{
		PayloadFormatIndicator: 1, HasPayloadFormatIndicator: true,
		MessageExpiryInterval: 7, HasMessageExpiryInterval: true,
		ContentType:             "ct",
		ResponseTopic:           "rt",
		CorrelationData:         []byte{1, 2},
		SubscriptionIdentifiers: []uint32{300},
		SessionExpiryInterval:   9, HasSessionExpiryInterval: true,
		AssignedClientIdentifier: "aci",
		ServerKeepAlive:          11, HasServerKeepAlive: true,
		AuthenticationMethod:      "am",
		AuthenticationData:        []byte{},
		RequestProblemInformation: 1, HasRequestProblemInformation: true,
		WillDelayInterval: 13, HasWillDelayInterval: true,
		RequestResponseInformation: 0, HasRequestResponseInformation: true,
		ResponseInformation: "ri",
		ServerReference:     "sr",
		ReasonString:        "rs",
		ReceiveMaximum:      15, HasReceiveMaximum: true,
		TopicAliasMaximum: 0, HasTopicAliasMaximum: true,
		TopicAlias: 17, HasTopicAlias: true,
		MaximumQoS: 0, HasMaximumQoS: true,
		RetainAvailable: 1, HasRetainAvailable: true,
		UserProperties:    []UserProperty{{Key: "k", Value: "v"}, {Key: "", Value: ""}, {Key: "k", Value: "w"}},
		MaximumPacketSize: 19, HasMaximumPacketSize: true,
		WildcardSubscriptionAvailable: 0, HasWildcardSubscriptionAvailable: true,
		SubscriptionIdentifierAvailable: 1, HasSubscriptionIdentifierAvailable: true,
		SharedSubscriptionAvailable: 0, HasSharedSubscriptionAvailable: true,
	}
	// Keep only what ctx allows, by clearing each field whose identifier is not allowed.
	var p Properties
	src, dst := reflect.ValueOf(all), reflect.ValueOf(&p).Elem()
	for i := range src.NumField() {
		name := strings.TrimPrefix(src.Type().Field(i).Name, "Has")
		if ctx.allowed&bit(propIDs[name]) != 0 {
			dst.Field(i).Set(src.Field(i))
		}
	}
	if ctx.repeatable&bit(propSubscriptionIdentifier) != 0 && p.SubscriptionIdentifiers != nil {
		p.SubscriptionIdentifiers = []uint32{1, MaxRemaining, 128}
	}
	return p
}

// propIDs maps a Properties field name (without "Has") to its identifier.
var propIDs = map[string]byte{
	"PayloadFormatIndicator": propPayloadFormatIndicator, "MessageExpiryInterval": propMessageExpiryInterval,
	"ContentType": propContentType, "ResponseTopic": propResponseTopic, "CorrelationData": propCorrelationData,
	"SubscriptionIdentifiers": propSubscriptionIdentifier, "SessionExpiryInterval": propSessionExpiryInterval,
	"AssignedClientIdentifier": propAssignedClientIdentifier, "ServerKeepAlive": propServerKeepAlive,
	"AuthenticationMethod": propAuthenticationMethod, "AuthenticationData": propAuthenticationData,
	"RequestProblemInformation": propRequestProblemInformation, "WillDelayInterval": propWillDelayInterval,
	"RequestResponseInformation": propRequestResponseInformation, "ResponseInformation": propResponseInformation,
	"ServerReference": propServerReference, "ReasonString": propReasonString, "ReceiveMaximum": propReceiveMaximum,
	"TopicAliasMaximum": propTopicAliasMaximum, "TopicAlias": propTopicAlias, "MaximumQoS": propMaximumQoS,
	"RetainAvailable": propRetainAvailable, "UserProperties": propUserProperty,
	"MaximumPacketSize": propMaximumPacketSize, "WildcardSubscriptionAvailable": propWildcardSubscriptionAvailable,
	"SubscriptionIdentifierAvailable": propSubscriptionIdentifierAvailable,
	"SharedSubscriptionAvailable":     propSharedSubscriptionAvailable,
}

// roundTripCases are packets that survive Append and Decode unchanged for the versions listed.
func roundTripCases() []struct {
	name     string
	versions []Version
	p        Packet
} {
	v5 := []Version{V5}
	return []struct {
		name     string
		versions []Version
		p        Packet
	}{
		{name: "connect/minimal", versions: allVersions, p: &Connect{KeepAlive: 60, ClientID: "c", CleanStart: true}},
		{name: "connect/will-user-password", versions: allVersions, p: &Connect{ClientID: "c",
			Will:         &Will{Topic: "w", Payload: []byte("bye"), QoS: 2, Retain: true},
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte{0, 1}}},
		{name: "connect/empty-password", versions: allVersions, p: &Connect{UsernameFlag: true, PasswordFlag: true}},
		{name: "connect/v5-properties", versions: v5, p: &Connect{ClientID: "c", PasswordFlag: true,
			Password:   []byte("p"),
			Will:       &Will{Topic: "w", Properties: fullProperties(&willProps)},
			Properties: fullProperties(&connectProps)}},
		{name: "connack/accepted", versions: allVersions, p: &Connack{SessionPresent: true}},
		{name: "connack/refused", versions: allVersions, p: &Connack{ReasonCode: NotAuthorized}},
		{name: "connack/v5-properties", versions: v5, p: &Connack{ReasonCode: QuotaExceeded,
			Properties: fullProperties(&connackProps)}},
		{name: "publish/qos0", versions: allVersions, p: &Publish{Topic: "a/b", Payload: []byte("x"), Retain: true}},
		{name: "publish/qos2-dup", versions: allVersions, p: &Publish{Topic: "a", QoS: 2, Dup: true, PacketID: 9}},
		{name: "publish/v5-properties", versions: v5, p: &Publish{Topic: "", QoS: 1, PacketID: 1,
			Properties: fullProperties(&publishProps), Payload: bytes.Repeat([]byte{7}, 300)}},
		{name: "puback", versions: allVersions, p: &Ack{Kind: TypePuback, PacketID: 1}},
		{name: "pubrec", versions: allVersions, p: &Ack{Kind: TypePubrec, PacketID: 2}},
		{name: "pubrel", versions: allVersions, p: &Ack{Kind: TypePubrel, PacketID: 3}},
		{name: "pubcomp", versions: allVersions, p: &Ack{Kind: TypePubcomp, PacketID: 4}},
		{name: "puback/v5-reason", versions: v5, p: &Ack{Kind: TypePuback, PacketID: 5, ReasonCode: QuotaExceeded}},
		{name: "pubrel/v5-properties", versions: v5, p: &Ack{Kind: TypePubrel, PacketID: 6,
			Properties: fullProperties(&ackProps)}},
		{name: "subscribe", versions: allVersions, p: &Subscribe{PacketID: 1,
			Subscriptions: []Subscription{{Filter: "a/+", QoS: 1}, {Filter: "#", QoS: 2}}}},
		{name: "subscribe/v5-options", versions: v5, p: &Subscribe{PacketID: 1,
			Properties: fullProperties(&subscribeProps),
			Subscriptions: []Subscription{{Filter: "a", NoLocal: true, RetainAsPublished: true, RetainHandling: 1},
				{Filter: "b", QoS: 2, RetainHandling: 2}}}},
		{name: "suback", versions: allVersions, p: &Suback{PacketID: 2,
			ReasonCodes: []ReasonCode{GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError}}},
		{name: "suback/v5", versions: v5, p: &Suback{PacketID: 2, Properties: fullProperties(&ackProps),
			ReasonCodes: []ReasonCode{SharedSubscriptionsNotSupported, GrantedQoS1}}},
		{name: "unsubscribe", versions: allVersions, p: &Unsubscribe{PacketID: 3, Filters: []string{"a", "b/#"}}},
		{name: "unsubscribe/v5", versions: v5, p: &Unsubscribe{PacketID: 3, Filters: []string{""},
			Properties: fullProperties(&userOnlyProps)}},
		{name: "unsuback/3.x", versions: []Version{V31, V311}, p: &Unsuback{PacketID: 4}},
		{name: "unsuback/v5", versions: v5, p: &Unsuback{PacketID: 4, Properties: fullProperties(&ackProps),
			ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted, TopicFilterInvalid}}},
		{name: "pingreq", versions: allVersions, p: &Pingreq{}},
		{name: "pingresp", versions: allVersions, p: &Pingresp{}},
		{name: "disconnect", versions: allVersions, p: &Disconnect{}},
		{name: "disconnect/v5-reason", versions: v5, p: &Disconnect{ReasonCode: ServerShuttingDown}},
		{name: "disconnect/v5-properties", versions: v5, p: &Disconnect{Properties: fullProperties(&disconnectProps)}},
		{name: "auth", versions: v5, p: &Auth{}},
		{name: "auth/properties", versions: v5, p: &Auth{ReasonCode: ReAuthenticate,
			Properties: fullProperties(&authProps)}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		for _, v := range tc.versions {
			t.Run(tc.name+"/v="+v.String(), func(t *testing.T) {
				want := tc.p
				if c, ok := tc.p.(*Connect); ok {
					// A CONNECT carries its version; Decode fills in what Append derived.
					cc := *c
					cc.Version, cc.ProtocolName = v, v.protocolName()
					want = &cc
				}
				enc, err := want.Append(nil, v)
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
				got, err := decodeVector(enc, v, len(enc))
				if err != nil {
					t.Fatalf("Decode: %v\n% x", err, enc)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("round trip:\n got: %s\nwant: %s", render(got), render(want))
				}
				// Appending to a non-empty dst keeps the prefix and writes the same bytes.
				prefixed, err := want.Append([]byte("xyz"), v)
				if err != nil || !bytes.Equal(prefixed, append([]byte("xyz"), enc...)) {
					t.Fatalf("Append after a prefix: % x, %v", prefixed, err)
				}
			})
		}
	}
}

// TestRoundTripDropsV5Fields checks that the 5.0-rich packets still encode for 3.x, without their 5.0 fields.
func TestRoundTripDropsV5Fields(t *testing.T) {
	for _, tc := range roundTripCases() {
		if tc.p.Type() == TypeAuth {
			continue
		}
		for _, v := range []Version{V31, V311} {
			t.Run(tc.name+"/v="+v.String(), func(t *testing.T) {
				if c, ok := tc.p.(*Connect); ok && c.PasswordFlag && !c.UsernameFlag {
					t.Skip("a password without a user name is 5.0 only")
				}
				if p, ok := tc.p.(*Publish); ok && p.Topic == "" {
					t.Skip("an empty topic is 5.0 only")
				}
				enc, err := tc.p.Append(nil, v)
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
				got, err := decodeVector(enc, v, 0)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if s := render(got); strings.Contains(s, "Properties") || strings.Contains(s, "NoLocal") {
					t.Fatalf("5.0 fields left in a %s packet: %s", v, s)
				}
			})
		}
	}
}

func TestAppendErrors(t *testing.T) {
	long := strings.Repeat("x", 65536)
	tests := []struct {
		name string
		p    Packet
		v    Version
		want error
	}{
		{name: "bad-version", p: &Pingreq{}, v: 0, want: ErrUnsupportedVersion},
		{name: "auth-v311", p: &Auth{}, v: V311, want: ErrAuthNotV5},
		{name: "connect/protocol-name", p: &Connect{ProtocolName: "MQIsdp", Version: V311}, v: V311, want: ErrProtocolName},
		{name: "connect/version-6", p: &Connect{Version: 6}, v: V311, want: ErrUnsupportedVersion},
		{name: "connect/password-v311", p: &Connect{PasswordFlag: true}, v: V311, want: ErrPasswordWithoutUsername},
		{name: "connect/will-qos3", p: &Connect{Will: &Will{QoS: 3}}, v: V311, want: ErrInvalidWillFlags},
		{name: "connect/long-client-id", p: &Connect{ClientID: long}, v: V311, want: ErrStringTooLong},
		{name: "connect/long-password", p: &Connect{UsernameFlag: true, PasswordFlag: true, Password: []byte(long)}, v: V5, want: ErrStringTooLong},
		{name: "connect/nul-username", p: &Connect{UsernameFlag: true, Username: "a\x00"}, v: V5, want: ErrNullCharacter},
		{name: "connect/will-property", p: &Connect{Will: &Will{Properties: Properties{TopicAlias: 1, HasTopicAlias: true}}}, v: V5, want: ErrPropertyNotAllowed},
		{name: "connack/session-present-failure", p: &Connack{SessionPresent: true, ReasonCode: Banned}, v: V311, want: ErrSessionPresent},
		{name: "connack/reason", p: &Connack{ReasonCode: NoMatchingSubscribers}, v: V311, want: ErrInvalidReasonCode},
		{name: "publish/qos3", p: &Publish{Topic: "a", QoS: 3, PacketID: 1}, v: V311, want: ErrInvalidQoS},
		{name: "publish/dup-qos0", p: &Publish{Topic: "a", Dup: true}, v: V311, want: ErrDupQoS0},
		{name: "publish/packet-id-zero", p: &Publish{Topic: "a", QoS: 1}, v: V311, want: ErrPacketIDZero},
		{name: "publish/empty-topic-v311", p: &Publish{Properties: Properties{TopicAlias: 1, HasTopicAlias: true}}, v: V311, want: ErrEmptyTopic},
		{name: "publish/empty-topic-v5", p: &Publish{}, v: V5, want: ErrEmptyTopic},
		{name: "publish/invalid-utf8", p: &Publish{Topic: "\xff"}, v: V5, want: ErrInvalidUTF8},
		{name: "publish/topic-alias-zero", p: &Publish{Topic: "a", Properties: Properties{HasTopicAlias: true}}, v: V5, want: ErrTopicAliasZero},
		{name: "publish/subscription-id-zero", p: &Publish{Topic: "a", Properties: Properties{SubscriptionIdentifiers: []uint32{0}}}, v: V5, want: ErrPropertyValue},
		{name: "publish/subscription-id-too-large", p: &Publish{Topic: "a", Properties: Properties{SubscriptionIdentifiers: []uint32{MaxRemaining + 1}}}, v: V5, want: ErrPropertyValue},
		{name: "publish/not-allowed", p: &Publish{Topic: "a", Properties: Properties{ReasonString: "r"}}, v: V5, want: ErrPropertyNotAllowed},
		{name: "publish/user-property-nul", p: &Publish{Topic: "a", Properties: Properties{UserProperties: []UserProperty{{Key: "\x00"}}}}, v: V5, want: ErrNullCharacter},
		{name: "publish/long-correlation-data", p: &Publish{Topic: "a", Properties: Properties{CorrelationData: []byte(long)}}, v: V5, want: ErrStringTooLong},
		{name: "publish/too-large", p: &Publish{Topic: "a", Payload: make([]byte, MaxRemaining)}, v: V311, want: ErrRemainingTooLarge},
		{name: "ack/kind", p: &Ack{PacketID: 1}, v: V311, want: ErrWrongType},
		{name: "ack/packet-id-zero", p: &Ack{Kind: TypePuback}, v: V311, want: ErrPacketIDZero},
		{name: "ack/reason", p: &Ack{Kind: TypePubrel, PacketID: 1, ReasonCode: QuotaExceeded}, v: V5, want: ErrInvalidReasonCode},
		{name: "subscribe/empty", p: &Subscribe{PacketID: 1}, v: V311, want: ErrNoSubscriptions},
		{name: "subscribe/packet-id-zero", p: &Subscribe{Subscriptions: []Subscription{{Filter: "a"}}}, v: V311, want: ErrPacketIDZero},
		{name: "subscribe/qos3", p: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 3}}}, v: V311, want: ErrInvalidQoS},
		{name: "subscribe/retain-handling-3", p: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", RetainHandling: 3}}}, v: V5, want: ErrRetainHandling},
		{name: "subscribe/two-subscription-ids", p: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}}, Properties: Properties{SubscriptionIdentifiers: []uint32{1, 2}}}, v: V5, want: ErrDuplicateProperty},
		{name: "suback/empty", p: &Suback{PacketID: 1}, v: V311, want: ErrNoReasonCodes},
		{name: "suback/code", p: &Suback{PacketID: 1, ReasonCodes: []ReasonCode{NoMatchingSubscribers}}, v: V311, want: ErrInvalidReasonCode},
		{name: "unsubscribe/empty", p: &Unsubscribe{PacketID: 1}, v: V5, want: ErrNoSubscriptions},
		{name: "unsuback/v5-empty", p: &Unsuback{PacketID: 1}, v: V5, want: ErrNoReasonCodes},
		{name: "disconnect/reason", p: &Disconnect{ReasonCode: GrantedQoS1}, v: V5, want: ErrInvalidReasonCode},
		{name: "auth/reason", p: &Auth{ReasonCode: ServerBusy}, v: V5, want: ErrInvalidReasonCode},
		{name: "auth/data-without-method", p: &Auth{Properties: Properties{AuthenticationData: []byte{}}}, v: V5, want: ErrAuthDataWithoutMethod},
		{name: "connect/receive-maximum-zero", p: &Connect{Properties: Properties{HasReceiveMaximum: true}}, v: V5, want: ErrPropertyValue},
		{name: "connack/maximum-qos-2", p: &Connack{Properties: Properties{MaximumQoS: 2, HasMaximumQoS: true}}, v: V5, want: ErrPropertyValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := tc.p.Append(dst, tc.v)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append error %v, want %v", err, tc.want)
			}
			if string(got) != "keep" {
				t.Fatalf("Append changed dst on error: %q", got)
			}
		})
	}
}

// TestAppend3xMapping checks the reason codes that 3.x writes in their own way.
func TestAppend3xMapping(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		want []byte
	}{
		{name: "connack/success", p: &Connack{}, want: []byte{0x20, 2, 0, 0}},
		{name: "connack/unsupported", p: &Connack{ReasonCode: UnsupportedProtocolVersion}, want: []byte{0x20, 2, 0, 1}},
		{name: "connack/client-id", p: &Connack{ReasonCode: ClientIdentifierNotValid}, want: []byte{0x20, 2, 0, 2}},
		{name: "connack/unavailable", p: &Connack{ReasonCode: ServerUnavailable}, want: []byte{0x20, 2, 0, 3}},
		{name: "connack/busy", p: &Connack{ReasonCode: ServerBusy}, want: []byte{0x20, 2, 0, 3}},
		{name: "connack/banned", p: &Connack{ReasonCode: Banned}, want: []byte{0x20, 2, 0, 3}},
		{name: "connack/quota", p: &Connack{ReasonCode: QuotaExceeded}, want: []byte{0x20, 2, 0, 3}},
		{name: "connack/bad-password", p: &Connack{ReasonCode: BadUserNameOrPassword}, want: []byte{0x20, 2, 0, 4}},
		{name: "connack/not-authorized", p: &Connack{ReasonCode: NotAuthorized}, want: []byte{0x20, 2, 0, 5}},
		{name: "connack/v5-only-properties-dropped", p: &Connack{Properties: Properties{ReasonString: "x"}}, want: []byte{0x20, 2, 0, 0}},
		{name: "suback/failures", p: &Suback{PacketID: 1, ReasonCodes: []ReasonCode{NotAuthorized, GrantedQoS2, QuotaExceeded}},
			want: []byte{0x90, 5, 0, 1, 0x80, 2, 0x80}},
		{name: "ack/reason-dropped", p: &Ack{Kind: TypePuback, PacketID: 1, ReasonCode: QuotaExceeded}, want: []byte{0x40, 2, 0, 1}},
		{name: "unsuback/codes-dropped", p: &Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{Success}}, want: []byte{0xb0, 2, 0, 1}},
		{name: "disconnect/reason-dropped", p: &Disconnect{ReasonCode: ServerShuttingDown}, want: []byte{0xe0, 0}},
		{name: "subscribe/options-dropped", p: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 1, NoLocal: true, RetainHandling: 2}}},
			want: []byte{0x82, 6, 0, 1, 0, 1, 'a', 1}},
		{name: "publish/packet-id-qos0-dropped", p: &Publish{Topic: "a", PacketID: 7}, want: []byte{0x30, 3, 0, 1, 'a'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.Append(nil, V311)
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("Append = % x, %v; want % x", got, err, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for ty := Type(1); ty <= TypeAuth; ty++ {
		p, err := New(ty)
		if err != nil || p.Type() != ty {
			t.Errorf("New(%s) = %v, %v", ty, p, err)
		}
	}
	if _, err := New(0); err != ErrReservedType {
		t.Errorf("New(0) error %v", err)
	}
}

// TestErrorsAreReasonErrors checks that wrapped decode errors still give their reason code.
func TestErrorsAreReasonErrors(t *testing.T) {
	_, err := decodeVector([]byte{0x30, 0x03, 0x00, 0x01, 0xff}, V311, 0)
	wrapped := errors.Join(errors.New("conn 1"), err)
	var re *ReasonError
	if !errors.As(wrapped, &re) || re.Code != MalformedPacket || !errors.Is(wrapped, ErrInvalidUTF8) {
		t.Fatalf("errors.As(%v) = %v", wrapped, re)
	}
	if got := re.Error(); got != "packet: invalid UTF-8 string" {
		t.Fatalf("Error() = %q", got)
	}
}
