package auth

import (
	"context"
	"testing"

	"github.com/midgemq/midge/broker"
)

func TestGrantsAllows(t *testing.T) {
	g, err := NewGrants(
		[]string{"devices/%u/status", "clients/%c/#", "public/+"},
		[]string{"devices/+/cmd", "feeds/#", "own/%u/%c/#"},
	)
	if err != nil {
		t.Fatal(err)
	}
	alice := &broker.ClientInfo{ClientID: "c1", Username: "alice"}
	for _, tc := range []struct {
		name  string
		c     *broker.ClientInfo
		act   broker.Action
		topic string
		want  bool
	}{
		{name: "publish-substituted-user", c: alice, act: broker.ActionPublish, topic: "devices/alice/status", want: true},
		{name: "publish-other-user", c: alice, act: broker.ActionPublish, topic: "devices/bob/status"},
		{name: "publish-client-subtree", c: alice, act: broker.ActionPublish, topic: "clients/c1/a/b", want: true},
		{name: "publish-client-parent", c: alice, act: broker.ActionPublish, topic: "clients/c1", want: true},
		{name: "publish-plus", c: alice, act: broker.ActionPublish, topic: "public/x", want: true},
		{name: "publish-plus-too-deep", c: alice, act: broker.ActionPublish, topic: "public/x/y"},
		{name: "publish-not-granted-for-subscribe", c: alice, act: broker.ActionPublish, topic: "feeds/a"},
		{name: "publish-invalid-name", c: alice, act: broker.ActionPublish, topic: "public/+"},
		{name: "subscribe-exact-wildcard", c: alice, act: broker.ActionSubscribe, topic: "devices/+/cmd", want: true},
		{name: "subscribe-narrower", c: alice, act: broker.ActionSubscribe, topic: "devices/d7/cmd", want: true},
		{name: "subscribe-wider", c: alice, act: broker.ActionSubscribe, topic: "devices/#"},
		{name: "subscribe-hash-covers", c: alice, act: broker.ActionSubscribe, topic: "feeds/+/x/#", want: true},
		{name: "subscribe-shared-checked-as-filter", c: alice, act: broker.ActionSubscribe, topic: "$share/g/feeds/a", want: true},
		{name: "subscribe-shared-not-granted", c: alice, act: broker.ActionSubscribe, topic: "$share/g/other"},
		{name: "subscribe-both-substitutions", c: alice, act: broker.ActionSubscribe, topic: "own/alice/c1/x", want: true},
		{name: "subscribe-invalid-filter", c: alice, act: broker.ActionSubscribe, topic: "feeds/#/x"},
		{name: "unsafe-user-substitution", c: &broker.ClientInfo{ClientID: "c1", Username: "a/b"}, act: broker.ActionPublish, topic: "devices/a/b/status"},
		{name: "wildcard-user-substitution", c: &broker.ClientInfo{ClientID: "c1", Username: "+"}, act: broker.ActionPublish, topic: "devices/+/status"},
		{name: "empty-client-substitution", c: &broker.ClientInfo{Username: "alice"}, act: broker.ActionPublish, topic: "clients//x"},
		{name: "unknown-action", c: alice, act: 0, topic: "public/x"},
		{name: "nil-client", c: nil, act: broker.ActionPublish, topic: "public/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.Allows(tc.c, tc.act, tc.topic); got != tc.want {
				t.Fatalf("Allows(%v, %q) = %v, want %v", tc.act, tc.topic, got, tc.want)
			}
		})
	}
}

// TestGrantsDollar: a granted filter that starts with a wildcard does not
// reach topics starting with '$' [MQTT-4.7.2-1], so a token granting "#"
// does not hand out $SYS.
func TestGrantsDollar(t *testing.T) {
	g, err := NewGrants([]string{"#"}, []string{"#", "$SYS/broker/+"})
	if err != nil {
		t.Fatal(err)
	}
	c := &broker.ClientInfo{ClientID: "c", Username: "u"}
	if g.Allows(c, broker.ActionPublish, "$SYS/x") {
		t.Error(`"#" allows a publish to $SYS/x`)
	}
	if g.Allows(c, broker.ActionSubscribe, "$SYS/#") {
		t.Error(`"#" allows a subscription to $SYS/#`)
	}
	if !g.Allows(c, broker.ActionSubscribe, "$SYS/broker/load") {
		t.Error(`"$SYS/broker/+" does not allow $SYS/broker/load`)
	}
	if !g.Allows(c, broker.ActionSubscribe, "a/b") {
		t.Error(`"#" does not allow a/b`)
	}
}

// TestGrantsUnbound: %u and %c stand only for values the authenticator
// vouched for.
func TestGrantsUnbound(t *testing.T) {
	g, err := newGrants([]string{"u/%u", "c/%c"}, nil, false, true)
	if err != nil {
		t.Fatal(err)
	}
	c := &broker.ClientInfo{ClientID: "c1", Username: "alice"}
	if g.Allows(c, broker.ActionPublish, "u/alice") {
		t.Errorf("a %s grant applied without a bound user name", "%u")
	}
	if !g.Allows(c, broker.ActionPublish, "c/c1") {
		t.Errorf("a %s grant not applied with a bound client id", "%c")
	}
}

func TestNewGrantsErrors(t *testing.T) {
	many := make([]string, MaxGrants+1)
	for i := range many {
		many[i] = "a"
	}
	for _, tc := range []struct {
		name     string
		pub, sub []string
	}{
		{name: "invalid-filter", pub: []string{"a/#/b"}},
		{name: "empty-filter", sub: []string{""}},
		{name: "shared", sub: []string{"$share/g/a"}},
		{name: "nul", pub: []string{"a\x00"}},
		{name: "too-many", sub: many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewGrants(tc.pub, tc.sub); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := NewGrants(nil, many[:MaxGrants]); err != nil {
		t.Fatalf("%d grants: %v", MaxGrants, err)
	}
}

// allowOnly is an Authorizer that allows one topic.
type allowOnly string

func (a allowOnly) Authorize(_ context.Context, _ *broker.ClientInfo, _ broker.Action, t string) bool {
	return t == string(a)
}

func TestWithGrants(t *testing.T) {
	g, err := NewGrants([]string{"granted"}, []string{"granted"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	withGrants := &broker.ClientInfo{ClientID: "c", Grants: g}
	without := &broker.ClientInfo{ClientID: "c"}
	other := &broker.ClientInfo{ClientID: "c", Grants: "someone else's"}
	nilGrants := &broker.ClientInfo{ClientID: "c", Grants: (*Grants)(nil)}

	az := WithGrants(allowOnly("acl"))
	for _, tc := range []struct {
		name  string
		c     *broker.ClientInfo
		topic string
		want  bool
	}{
		{name: "grants-allow", c: withGrants, topic: "granted", want: true},
		{name: "grants-decide-not-acl", c: withGrants, topic: "acl"},
		{name: "no-grants-acl-allows", c: without, topic: "acl", want: true},
		{name: "no-grants-acl-refuses", c: without, topic: "granted"},
		{name: "foreign-grants-go-to-acl", c: other, topic: "acl", want: true},
		{name: "nil-grants-go-to-acl", c: nilGrants, topic: "acl", want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := az.Authorize(ctx, tc.c, broker.ActionPublish, tc.topic); got != tc.want {
				t.Fatalf("Authorize(%q) = %v, want %v", tc.topic, got, tc.want)
			}
		})
	}

	open := WithGrants(nil)
	if !open.Authorize(ctx, without, broker.ActionSubscribe, "anything/#") {
		t.Error("nil next refuses a client without grants")
	}
	if open.Authorize(ctx, withGrants, broker.ActionSubscribe, "anything/#") {
		t.Error("nil next lets grants be bypassed")
	}
}
