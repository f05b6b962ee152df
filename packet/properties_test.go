package packet

import (
	"reflect"
	"testing"
)

// TestPropertiesEveryIdentifier encodes each property alone in a packet that allows it, checks its identifier and
// length on the wire, and decodes it back.
func TestPropertiesEveryIdentifier(t *testing.T) {
	full := fullProperties(&propContext{allowed: knownProps, repeatable: onlyUser})
	src := reflect.ValueOf(full)
	for i := range src.NumField() {
		name := src.Type().Field(i).Name
		id, ok := propIDs[name]
		if !ok {
			continue // a Has... flag, set together with its value below
		}
		t.Run(name, func(t *testing.T) {
			var p Properties
			dst := reflect.ValueOf(&p).Elem()
			dst.Field(i).Set(src.Field(i))
			if f := dst.FieldByName("Has" + name); f.IsValid() {
				f.SetBool(true)
			}
			ctx := &propContext{allowed: bit(id), repeatable: onlyUser}
			first := id
			if id == propAuthenticationData {
				// Authentication Data needs its method, which comes first.
				p.AuthenticationMethod = "m"
				ctx.allowed |= bit(propAuthenticationMethod)
				first = propAuthenticationMethod
			}
			n, err := p.size(ctx)
			if err != nil {
				t.Fatal(err)
			}
			enc := p.append(nil, n)
			if len(enc) != SizeVarint(n)+n || enc[SizeVarint(n)] != first {
				t.Fatalf("encoding % x: want length %d and identifier 0x%02x first", enc, n, id)
			}
			var got Properties
			rest, err := got.decode(enc, ctx, &arena{base: enc})
			if err != nil || len(rest) != 0 {
				t.Fatalf("decode: %v, %d bytes left", err, len(rest))
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatalf("got %+v, want %+v", got, p)
			}
			// Every other packet context refuses it on encode exactly when table 2-4 does.
			other := &propContext{allowed: knownProps &^ bit(id), repeatable: onlyUser}
			if _, err := p.size(other); err != ErrPropertyNotAllowed {
				t.Fatalf("size with the property not allowed: %v", err)
			}
		})
	}
}

// TestPropertyTable spot-checks table 2-4 of the specification.
func TestPropertyTable(t *testing.T) {
	tests := []struct {
		name    string
		ctx     *propContext
		id      byte
		allowed bool
	}{
		{name: "connect/session-expiry", ctx: &connectProps, id: propSessionExpiryInterval, allowed: true},
		{name: "connect/will-delay", ctx: &connectProps, id: propWillDelayInterval, allowed: false},
		{name: "will/will-delay", ctx: &willProps, id: propWillDelayInterval, allowed: true},
		{name: "will/topic-alias", ctx: &willProps, id: propTopicAlias, allowed: false},
		{name: "connack/assigned-client-id", ctx: &connackProps, id: propAssignedClientIdentifier, allowed: true},
		{name: "connack/request-problem", ctx: &connackProps, id: propRequestProblemInformation, allowed: false},
		{name: "publish/subscription-id", ctx: &publishProps, id: propSubscriptionIdentifier, allowed: true},
		{name: "publish/reason-string", ctx: &publishProps, id: propReasonString, allowed: false},
		{name: "ack/reason-string", ctx: &ackProps, id: propReasonString, allowed: true},
		{name: "subscribe/subscription-id", ctx: &subscribeProps, id: propSubscriptionIdentifier, allowed: true},
		{name: "unsubscribe/reason-string", ctx: &userOnlyProps, id: propReasonString, allowed: false},
		{name: "disconnect/server-reference", ctx: &disconnectProps, id: propServerReference, allowed: true},
		{name: "disconnect/session-expiry", ctx: &disconnectProps, id: propSessionExpiryInterval, allowed: true},
		{name: "auth/authentication-data", ctx: &authProps, id: propAuthenticationData, allowed: true},
		{name: "auth/session-expiry", ctx: &authProps, id: propSessionExpiryInterval, allowed: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ctx.allowed&bit(tc.id) != 0; got != tc.allowed {
				t.Errorf("allowed = %v, want %v", got, tc.allowed)
			}
			if tc.ctx.allowed&onlyUser == 0 {
				t.Errorf("User Property not allowed")
			}
		})
	}
}
