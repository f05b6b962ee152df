package auth

import (
	"context"
	"fmt"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/topic"
)

// MaxGrants bounds the filters of each list of a Grants: a token or an HTTP
// hook answer with more publish or subscribe filters is refused. Authorize
// walks the lists, so the bound is also a bound on its cost.
const MaxGrants = 1024

// Grants is what a client's credentials allow it, independently of any ACL
// file: the topic filters it may publish to and subscribe to. A JWT or an
// HTTP hook answer carries them; the Authenticator stores them in
// broker.ClientInfo.Grants, and the Authorizer that WithGrants returns
// decides from them.
//
// A filter may hold %u and %c, replaced by the client's user name and client
// id with the ACL's pattern rules: a filter does not apply to a client whose
// value is empty, holds '+', '#', '/' or U+0000, or would make the filter
// start with '$'. A Grants is never changed once made, so it may be shared
// by many connections. The zero Grants allows nothing.
type Grants struct {
	publish, subscribe []filter
	// userBound and clientBound report whether the Authenticator that made
	// the Grants vouched for the user name and the client id; %u (%c) only
	// stands for a value the client cannot choose freely, so a filter that
	// holds it applies only when it is bound.
	userBound, clientBound bool
}

// NewGrants compiles the topic filters that a client may publish to and
// subscribe to. Each must be a valid MQTT topic filter and not a shared
// subscription ($share/...); each list holds at most MaxGrants filters. %u
// and %c are substituted as in the ACL's pattern rules: the caller vouches
// for the user name and client id of the clients it gives the Grants to.
func NewGrants(publish, subscribe []string) (*Grants, error) {
	return newGrants(publish, subscribe, true, true)
}

// newGrants is NewGrants with the substitutions that the caller vouches
// for.
func newGrants(publish, subscribe []string, userBound, clientBound bool) (*Grants, error) {
	g := &Grants{userBound: userBound, clientBound: clientBound}
	var err error
	if g.publish, err = compileGrants("publish", publish); err != nil {
		return nil, err
	}
	if g.subscribe, err = compileGrants("subscribe", subscribe); err != nil {
		return nil, err
	}
	return g, nil
}

// compileGrants checks and compiles one list of granted filters; name is
// the list's name in errors.
func compileGrants(name string, filters []string) ([]filter, error) {
	if len(filters) > MaxGrants {
		return nil, fmt.Errorf("auth: %s grants: %d filters, more than %d", name, len(filters), MaxGrants)
	}
	out := make([]filter, 0, len(filters))
	for i, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return nil, fmt.Errorf("auth: %s grant %d %q: %w", name, i, f, err)
		}
		if _, _, shared := topic.ParseShared(f); shared {
			return nil, fmt.Errorf("auth: %s grant %d %q: a shared subscription is not a grant", name, i, f)
		}
		out = append(out, compileFilter(f, true))
	}
	return out, nil
}

// Allows reports whether the Grants let the client c perform act on t:
// publish to the topic name t when a publish filter matches it, subscribe
// to the filter t when one subscribe filter covers it (matches every topic
// name that t matches; a shared subscription $share/{group}/{filter} is
// checked as its filter). An invalid topic or filter, an unknown action and
// a nil c are refused.
func (g *Grants) Allows(c *broker.ClientInfo, act broker.Action, t string) bool {
	if g == nil || c == nil {
		return false
	}
	var list []filter
	switch act {
	case broker.ActionPublish:
		if topic.ValidateName(t) != nil {
			return false
		}
		list = g.publish
	case broker.ActionSubscribe:
		if topic.ValidateFilter(t) != nil {
			return false
		}
		if _, f, ok := topic.ParseShared(t); ok {
			t = f
		}
		list = g.subscribe
	default:
		return false
	}
	v := substitution{user: c.Username, client: c.ClientID}
	for i := range list {
		f := &list[i]
		if f.usesUser || f.usesClient {
			if (f.usesUser && !g.userBound) || (f.usesClient && !g.clientBound) || !f.applies(&v) {
				continue
			}
		}
		if act == broker.ActionPublish && f.match(t, &v) {
			return true
		}
		if act == broker.ActionSubscribe && f.covers(t, &v) {
			return true
		}
	}
	return false
}

// WithGrants returns a broker.Authorizer that decides from the client's
// Grants when its broker.ClientInfo.Grants holds a *Grants (set by the JWT
// or HTTPHook authenticator): what they do not allow is refused, whatever
// next would say. For every other client (no Grants, or Grants of another
// kind) it asks next; a nil next allows everything, as a broker without an
// Authorizer does.
func WithGrants(next broker.Authorizer) broker.Authorizer {
	return grantsAuthorizer{next: next}
}

// grantsAuthorizer is the Authorizer that WithGrants returns.
type grantsAuthorizer struct {
	next broker.Authorizer
}

// Authorize implements broker.Authorizer as WithGrants describes.
func (a grantsAuthorizer) Authorize(ctx context.Context, c *broker.ClientInfo, act broker.Action, t string) bool {
	if c != nil {
		if g, ok := c.Grants.(*Grants); ok && g != nil {
			return g.Allows(c, act, t)
		}
	}
	if a.next == nil {
		return true
	}
	return a.next.Authorize(ctx, c, act, t)
}
