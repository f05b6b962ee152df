package auth

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/topic"
)

var _ broker.Authorizer = (*ACL)(nil)

// ACL is a broker.Authorizer that reads Mosquitto's ACL file format (see
// the package documentation): a client may publish to a topic when a rule
// grants write on a filter that matches it, and subscribe to a filter when a
// rule grants read on a filter that covers it; a matching deny rule refuses
// either, whatever the other rules grant; and with no matching rule the
// client is refused.
//
// Authorize may be called from many goroutines at once, also while Reload
// runs. The zero ACL has no rules: it refuses everything.
type ACL struct {
	path string

	// reloadMu serializes Reload, so that a slow reload cannot replace the
	// rules of a later one.
	reloadMu sync.Mutex
	// table is the parsed file. Authorize loads it without a lock; Reload
	// replaces it whole.
	table atomic.Pointer[aclTable]
}

// LoadACLFile reads and parses the ACL file at path. A malformed line
// returns a *ParseError that names the file and the line.
func LoadACLFile(path string) (*ACL, error) {
	t, err := readACLFile(path)
	if err != nil {
		return nil, err
	}
	a := &ACL{path: path}
	a.table.Store(t)
	return a, nil
}

// Path returns the path the file was loaded from.
func (a *ACL) Path() string { return a.path }

// Reload reads the file again and, if it parses, replaces the rules all at
// once: every Authorize call sees either the old rules or the new ones. On
// error the old rules stay in force. It is meant to be called on SIGHUP.
// Subscriptions made under the old rules are not checked again.
func (a *ACL) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.path == "" {
		return fmt.Errorf("auth: reload acl file: %w", os.ErrInvalid)
	}
	t, err := readACLFile(a.path)
	if err != nil {
		return err
	}
	a.table.Store(t)
	return nil
}

// Authorize reports whether the client c may perform act on t: publish to
// the topic name t (write access), or subscribe to the filter t (read
// access), where a shared subscription $share/{group}/{filter} is checked
// as its filter. The rules that apply to c are the topic rules of its user
// name's section (of the anonymous section before the first user line, when
// c has no user name) and every pattern rule, with %u and %c replaced by
// c's user name and client id; a pattern rule does not apply to a client
// whose value for one of them is empty, holds '+', '#', '/' or U+0000, or
// would make the filter start with '$'.
//
// A publish is allowed when a rule granting write matches t and no deny
// rule does. A subscription is allowed when one rule granting read covers
// t, that is, matches every topic name that t matches, and no deny rule
// matches any topic name that t matches. An invalid topic or filter, an
// unknown action and a nil c are refused. Authorize does not allocate.
func (a *ACL) Authorize(_ context.Context, c *broker.ClientInfo, act broker.Action, t string) bool {
	tab := a.table.Load()
	if tab == nil || c == nil {
		return false
	}
	var need access
	switch act {
	case broker.ActionPublish:
		if topic.ValidateName(t) != nil {
			return false
		}
		need = accessWrite
	case broker.ActionSubscribe:
		if topic.ValidateFilter(t) != nil {
			return false
		}
		if _, f, ok := topic.ParseShared(t); ok {
			t = f
		}
		need = accessRead
	default:
		return false
	}
	v := substitution{user: c.Username, client: c.ClientID}
	rules := tab.anonymous
	if c.Username != "" {
		rules = tab.users[c.Username]
	}
	allowed := false
	for _, set := range [2][]aclRule{rules, tab.patterns} {
		for i := range set {
			r := &set[i]
			if r.filter.usesUser || r.filter.usesClient {
				if !r.filter.applies(&v) {
					continue
				}
			}
			if r.access == accessDeny {
				if r.denies(need, t, &v) {
					return false
				}
				continue
			}
			if !allowed && r.access&need != 0 && r.grants(need, t, &v) {
				allowed = true
			}
		}
	}
	return allowed
}

// denies reports whether the deny rule r refuses a publish to the name t
// (need is write) or a subscription to the filter t (need is read).
func (r *aclRule) denies(need access, t string, v *substitution) bool {
	if need == accessWrite {
		return r.filter.match(t, v)
	}
	return r.filter.overlaps(t, v)
}

// grants reports whether the rule r, which has the access need, allows a
// publish to the name t or a subscription to the filter t.
func (r *aclRule) grants(need access, t string, v *substitution) bool {
	if need == accessWrite {
		return r.filter.match(t, v)
	}
	return r.filter.covers(t, v)
}
