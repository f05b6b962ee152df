package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/topic"
)

// FuzzACLParse checks that parsing any file never panics, that an error is
// a *ParseError naming a line of the file, and that a parsed file answers
// Authorize for assorted clients and topics without panicking.
func FuzzACLParse(f *testing.F) {
	f.Add([]byte(matrixACL))
	f.Add([]byte("topic read a/#\nuser x\ntopic deny +/b\npattern %u/%c/#\n"))
	f.Add([]byte("pattern read %c%u/+/%\n"))
	f.Add([]byte("topic read $share/g/a\n"))
	f.Add([]byte("user\n"))
	f.Add([]byte("topic a/#/b\r\n"))
	clients := []broker.ClientInfo{
		{}, {Username: "alice", ClientID: "a1"}, {Username: "x", ClientID: "$c"},
		{Username: "+", ClientID: "#"}, {Username: "a/b", ClientID: "%u"},
	}
	topics := []string{"a", "a/b", "a/#", "+/b", "#", "$SYS/x", "$share/g/a/+", "alice/a1/x", "x/$c/y", "a//b", ""}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := parseACL("fuzz", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if n := len(lines(data)); pe.Line < 1 || pe.Line > n {
				t.Fatalf("error on line %d of %d", pe.Line, n)
			}
			return
		}
		var acl ACL
		acl.table.Store(tab)
		// Users of the file get their sections checked too.
		cs := clients
		for u := range tab.users {
			cs = append(cs, broker.ClientInfo{Username: u, ClientID: u})
			break
		}
		for i := range cs {
			for _, tp := range topics {
				acl.Authorize(context.Background(), &cs[i], broker.ActionPublish, tp)
				acl.Authorize(context.Background(), &cs[i], broker.ActionSubscribe, tp)
			}
		}
		// Every rule's filter checks itself consistently: a rule covers
		// and overlaps the filter it was written with, when that filter
		// is plain.
		for _, r := range tab.anonymous {
			s := filterString(&r.filter)
			if !r.filter.covers(s, &substitution{}) || !r.filter.overlaps(s, &substitution{}) {
				t.Fatalf("rule %q does not cover or overlap itself", s)
			}
		}
	})
}

// FuzzPasswordParse checks that parsing any password file never panics,
// that an error is a *ParseError naming a line of the file, and that every
// parsed hash re-encodes to a string that parses to the same hash.
func FuzzPasswordParse(f *testing.F) {
	f.Add([]byte("alice:$7$101$PF1Pc/blWFwO8TtN$4FeQ0vkEZrRWmPbBvqbgBzzr18zEy9OFAB/syz2d3gA3RxC56KSqi6E1PwuW/OKTRgqLfdikL4As1z/pNu9dNA==\n"))
	f.Add([]byte("# c\n\ndave:$6$jVqimXpD5ltYA2U1$Htt29p5Lv7qoS1JMtDFYdV+yUkktvUWIU+WRQ2jUgnmS2UEZbayrRH81hEingi3WlLEe+Pg3fyPY2di8601msA==\r\n"))
	f.Add([]byte("a:$7$1$c2FsdA$AAAA\nb:\n:x\n"))
	f.Add([]byte("a:$7$+1$$\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := parsePasswords("fuzz", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if n := len(lines(data)); pe.Line < 1 || pe.Line > n {
				t.Fatalf("error on line %d of %d", pe.Line, n)
			}
			return
		}
		for user, h := range tab.users {
			if user == "" || strings.Contains(user, ":") {
				t.Fatalf("user name %q", user)
			}
			again, err := parseHash(h.String())
			if err != nil {
				t.Fatalf("%s: re-encoded %q does not parse: %v", user, h.String(), err)
			}
			if again.String() != h.String() || again.iterations != h.iterations || again.scheme != h.scheme {
				t.Fatalf("%s: %q parsed back as %q", user, h.String(), again.String())
			}
		}
	})
}

// FuzzFilterRelations checks match, covers and overlaps against
// topic.Match: a covering rule matches every name the requested filter
// matches, two filters that match a common name overlap, and match agrees
// with topic.Match. The name is also built from the requested filter, so
// that it matches it more often than a random string would.
func FuzzFilterRelations(f *testing.F) {
	f.Add("a/#", "a/+/c", "a/b/c", "z")
	f.Add("+/#", "#", "x", "y")
	f.Add("#", "$SYS/#", "$SYS/a", "b")
	f.Add("a/+", "a/b", "a/b", "")
	f.Fuzz(func(t *testing.T, rule, req, name, fill string) {
		if topic.ValidateFilter(rule) != nil || topic.ValidateFilter(req) != nil {
			return
		}
		if _, _, ok := topic.ParseShared(rule); ok {
			return
		}
		if _, _, ok := topic.ParseShared(req); ok {
			return
		}
		cf := compileFilter(rule, false)
		cov := cf.covers(req, &substitution{})
		ovl := cf.overlaps(req, &substitution{})
		if cov && !ovl {
			t.Fatalf("covers(%q, %q) but not overlaps", rule, req)
		}
		// Fill the requested filter's wildcards with fill.
		built := strings.NewReplacer("+", fill, "#", fill).Replace(req)
		for _, n := range []string{name, built, strings.TrimSuffix(strings.TrimSuffix(built, fill), "/")} {
			if topic.ValidateName(n) != nil {
				continue
			}
			mr, mq := topic.Match(rule, n), topic.Match(req, n)
			if got := cf.match(n, &substitution{}); got != mr {
				t.Fatalf("match(%q, %q) = %v, topic.Match says %v", rule, n, got, mr)
			}
			if cov && mq && !mr {
				t.Fatalf("covers(%q, %q), yet only the second matches %q", rule, req, n)
			}
			if mr && mq && !ovl {
				t.Fatalf("!overlaps(%q, %q), yet both match %q", rule, req, n)
			}
		}
	})
}
