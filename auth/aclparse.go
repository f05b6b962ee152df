package auth

import (
	"fmt"
	"os"
	"strings"

	"github.com/midgemq/midge/topic"
)

// access is what a rule grants, or deny.
type access uint8

const (
	accessRead access = 1 << iota
	accessWrite
	accessDeny

	accessReadWrite = accessRead | accessWrite
)

// String returns the access as written in an ACL file.
func (a access) String() string {
	switch a {
	case accessRead:
		return "read"
	case accessWrite:
		return "write"
	case accessReadWrite:
		return "readwrite"
	case accessDeny:
		return "deny"
	}
	return "invalid"
}

// aclRule is one topic or pattern line of an ACL file.
type aclRule struct {
	access access
	filter filter
	// line is the rule's line in the file, for messages.
	line int
}

// aclTable is one parse of an ACL file. It is never changed after parseACL
// returns it.
type aclTable struct {
	// anonymous holds the topic rules before the first user line; they
	// apply to clients without a user name.
	anonymous []aclRule
	// users holds each user's topic rules; a user named on several user
	// lines has the rules of all of its sections.
	users map[string][]aclRule
	// patterns holds the pattern rules, which apply to every client.
	patterns []aclRule
}

// readACLFile reads and parses the ACL file at path.
func readACLFile(path string) (*aclTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: load acl file: %w", err)
	}
	return parseACL(path, data)
}

// cutWord splits s at its first run of spaces and tabs.
func cutWord(s string) (word, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// parseACL parses the contents of an ACL file; name is used in errors.
func parseACL(name string, data []byte) (*aclTable, error) {
	t := &aclTable{users: make(map[string][]aclRule)}
	user, inUser := "", false
	for i, raw := range lines(data) {
		n := i + 1
		s := strings.Trim(raw, " \t\r")
		if s == "" || s[0] == '#' {
			continue
		}
		keyword, rest := cutWord(s)
		switch keyword {
		case "user":
			if rest == "" {
				return nil, &ParseError{File: name, Line: n, Msg: "user line without a user name"}
			}
			user, inUser = rest, true
			if _, ok := t.users[user]; !ok {
				t.users[user] = nil
			}
			continue
		case "topic", "pattern":
		default:
			return nil, &ParseError{File: name, Line: n, Msg: fmt.Sprintf("unknown keyword %q (want user, topic or pattern)", keyword)}
		}
		r, err := parseRule(keyword, rest)
		if err != nil {
			err.File, err.Line = name, n
			return nil, err
		}
		r.line = n
		switch {
		case keyword == "pattern":
			t.patterns = append(t.patterns, r)
		case inUser:
			t.users[user] = append(t.users[user], r)
		default:
			t.anonymous = append(t.anonymous, r)
		}
	}
	return t, nil
}

// parseRule parses what follows "topic" or "pattern":
// [read|write|readwrite|deny] <filter>. Without an access word the rule is
// readwrite; the filter is the rest of the line and may hold spaces. The
// returned error lacks the file and line.
func parseRule(keyword, rest string) (aclRule, *ParseError) {
	var r aclRule
	word, after := cutWord(rest)
	switch word {
	case "read":
		r.access = accessRead
	case "write":
		r.access = accessWrite
	case "readwrite":
		r.access = accessReadWrite
	case "deny":
		r.access = accessDeny
	}
	if r.access != 0 {
		if after == "" {
			return r, &ParseError{Msg: fmt.Sprintf("%s %s without a topic filter", keyword, word)}
		}
		rest = after
	} else {
		r.access = accessReadWrite
	}
	if rest == "" {
		return r, &ParseError{Msg: keyword + " without a topic filter"}
	}
	patterns := keyword == "pattern"
	check := rest
	if patterns {
		// Every value that may replace %u or %c is text without '/', '+'
		// or '#' (see applies), so the filter with "x" in their place is
		// valid exactly when the pattern is.
		check = strings.NewReplacer("%u", "x", "%c", "x").Replace(rest)
	}
	if err := topic.ValidateFilter(check); err != nil {
		return r, &ParseError{Msg: fmt.Sprintf("invalid topic filter %q", rest), Err: err}
	}
	if _, _, shared := topic.ParseShared(check); shared {
		return r, &ParseError{Msg: fmt.Sprintf("shared subscription filter %q in a rule (rules name the filter without $share/{group}/)", rest)}
	}
	r.filter = compileFilter(rest, patterns)
	return r, nil
}
