package packet

import "testing"

func TestReasonCodeString(t *testing.T) {
	tests := []struct {
		name string
		code ReasonCode
		want string
	}{
		{name: "success", code: Success, want: "Success"},
		{name: "normal-disconnection-alias", code: NormalDisconnection, want: "Success"},
		{name: "granted-qos1", code: GrantedQoS1, want: "GrantedQoS1"},
		{name: "packet-too-large", code: PacketTooLarge, want: "PacketTooLarge"},
		{name: "last", code: WildcardSubscriptionsNotSupported, want: "WildcardSubscriptionsNotSupported"},
		{name: "unknown", code: 0x03, want: "ReasonCode(0x03)"},
		{name: "unknown-high", code: 0xff, want: "ReasonCode(0xff)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.code.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReasonCodeIsError(t *testing.T) {
	for c := range 256 {
		code := ReasonCode(c)
		if code.IsError() != (c >= 0x80) {
			t.Errorf("%s.IsError() = %v", code, code.IsError())
		}
	}
}

// TestCodeSets checks that every code a packet may carry has a name, and that failures and successes sit where
// the specification puts them.
func TestCodeSets(t *testing.T) {
	sets := []struct {
		name string
		set  *codeSet
		n    int
	}{
		{name: "connack", set: &connackCodes, n: 22},
		{name: "puback", set: &pubackCodes, n: 9},
		{name: "pubrel", set: &pubrelCodes, n: 2},
		{name: "suback", set: &subackCodes, n: 12},
		{name: "unsuback", set: &unsubackCodes, n: 7},
		{name: "disconnect", set: &disconnectCodes, n: 29},
		{name: "auth", set: &authCodes, n: 3},
	}
	for _, tc := range sets {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for c := range 256 {
				if tc.set.has(ReasonCode(c)) {
					n++
					if reasonNames[c] == "" {
						t.Errorf("code 0x%02x has no name", c)
					}
				}
			}
			if n != tc.n {
				t.Errorf("%d codes, want %d", n, tc.n)
			}
		})
	}
}

func TestTypeAndVersionString(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "connect", got: TypeConnect.String(), want: "CONNECT"},
		{name: "unsubscribe", got: TypeUnsubscribe.String(), want: "UNSUBSCRIBE"},
		{name: "auth", got: TypeAuth.String(), want: "AUTH"},
		{name: "reserved", got: Type(0).String(), want: "Type(0)"},
		{name: "too-big", got: Type(16).String(), want: "Type(16)"},
		{name: "v31", got: V31.String(), want: "3.1"},
		{name: "v311", got: V311.String(), want: "3.1.1"},
		{name: "v5", got: V5.String(), want: "5.0"},
		{name: "v6", got: Version(6).String(), want: "Version(6)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}
