package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/midgemq/midge/topic"
)

// describe renders a parsed ACL as one line per rule, for comparisons.
func describe(t *aclTable) string {
	var b strings.Builder
	rule := func(section string, r aclRule) {
		fmt.Fprintf(&b, "%s %s %s @%d\n", section, r.access, filterString(&r.filter), r.line)
	}
	for _, r := range t.anonymous {
		rule("anonymous", r)
	}
	users := make([]string, 0, len(t.users))
	for u := range t.users {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		if len(t.users[u]) == 0 {
			fmt.Fprintf(&b, "user[%s] none\n", u)
		}
		for _, r := range t.users[u] {
			rule("user["+u+"]", r)
		}
	}
	for _, r := range t.patterns {
		rule("pattern", r)
	}
	return b.String()
}

// filterString writes a compiled filter back as text.
func filterString(f *filter) string {
	var parts []string
	for _, l := range f.levels {
		switch {
		case l.wild != 0:
			parts = append(parts, string(l.wild))
		case l.segs != nil:
			var s strings.Builder
			for _, sg := range l.segs {
				if sg.sub != 0 {
					s.WriteString("%" + string(sg.sub))
				} else {
					s.WriteString(sg.lit)
				}
			}
			parts = append(parts, s.String())
		default:
			parts = append(parts, l.lit)
		}
	}
	return strings.Join(parts, "/")
}

func TestParseACL(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "comments-and-blanks", in: "# c\n\n   \n\t# indented comment\n", want: ""},
		{
			name: "default-access-is-readwrite",
			in:   "topic a/b\n",
			want: "anonymous readwrite a/b @1\n",
		},
		{
			name: "access-words",
			in:   "topic read a\ntopic write b\ntopic readwrite c\ntopic deny d\n",
			want: "anonymous read a @1\nanonymous write b @2\nanonymous readwrite c @3\nanonymous deny d @4\n",
		},
		{
			name: "spaces-in-filter",
			in:   "topic read a b/c d\ntopic my topic\n",
			want: "anonymous read a b/c d @1\nanonymous readwrite my topic @2\n",
		},
		{
			name: "not-an-access-word",
			in:   "topic reads/x\ntopic readx y\n",
			want: "anonymous readwrite reads/x @1\nanonymous readwrite readx y @2\n",
		},
		{
			name: "white-space-and-crlf",
			in:   "  topic \t read \t a/#  \r\n\tuser  alice\r\n topic\tb\r\n",
			want: "anonymous read a/# @1\nuser[alice] readwrite b @3\n",
		},
		{
			name: "user-sections-merge",
			in:   "user alice\ntopic a\nuser bob\ntopic b\nuser alice\ntopic c\nuser carol\n",
			want: "user[alice] readwrite a @2\nuser[alice] readwrite c @6\nuser[bob] readwrite b @4\nuser[carol] none\n",
		},
		{
			name: "user-name-with-spaces",
			in:   "user Alice Smith\ntopic a\n",
			want: "user[Alice Smith] readwrite a @2\n",
		},
		{
			name: "patterns-anywhere",
			in:   "pattern read %c/in\nuser alice\npattern deny x/%u/%c%u\ntopic a\n",
			want: "user[alice] readwrite a @4\npattern read %c/in @1\npattern deny x/%u/%c%u @3\n",
		},
		{
			name: "percent-in-topic-is-text",
			in:   "topic read %u/%c\n",
			want: "anonymous read %u/%c @1\n",
		},
		{
			name: "dollar-topics",
			in:   "topic read $SYS/#\n",
			want: "anonymous read $SYS/# @1\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := parseACL("acl", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(tab); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	// A substitution is text in a topic rule but a pattern level in a
	// pattern rule.
	tab, _ := parseACL("acl", []byte("topic %u\npattern %u\n"))
	if tab.anonymous[0].filter.usesUser || !tab.patterns[0].filter.usesUser {
		t.Fatal("%u: wrong kind")
	}
}

func TestParseACLErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		line int
		msg  string
		err  error
	}{
		{name: "unknown-keyword", in: "# c\ntopik a\n", line: 2, msg: `unknown keyword "topik"`},
		{name: "keyword-case", in: "Topic a\n", line: 1, msg: `unknown keyword "Topic"`},
		{name: "user-without-name", in: "topic a\nuser\n", line: 2, msg: "user line without a user name"},
		{name: "user-blank-name", in: "user   \t\n", line: 1, msg: "user line without a user name"},
		{name: "topic-without-filter", in: "\n\ntopic\n", line: 3, msg: "topic without a topic filter"},
		{name: "access-without-filter", in: "topic read\n", line: 1, msg: "topic read without a topic filter"},
		{name: "pattern-without-filter", in: "pattern deny  \n", line: 1, msg: "pattern deny without a topic filter"},
		{name: "misplaced-hash", in: "user a\ntopic read a/#/b\n", line: 2, msg: `invalid topic filter "a/#/b"`, err: topic.ErrMisplacedHash},
		{name: "misplaced-plus", in: "topic a+\n", line: 1, err: topic.ErrMisplacedPlus},
		{name: "pattern-misplaced-plus", in: "pattern write %u+/x\n", line: 1, err: topic.ErrMisplacedPlus},
		{name: "pattern-misplaced-hash", in: "pattern read %c/#/x\n", line: 1, err: topic.ErrMisplacedHash},
		{name: "nul", in: "topic a\x00b\n", line: 1, err: topic.ErrNullCharacter},
		{name: "invalid-utf8", in: "topic a\xffb\n", line: 1, err: topic.ErrInvalidUTF8},
		{name: "shared", in: "topic read $share/g/a\n", line: 1, msg: "shared subscription filter"},
		{name: "bad-shared", in: "topic read $share/g\n", line: 1, err: topic.ErrNoSharedFilter},
		{name: "too-long", in: "topic " + strings.Repeat("a", topic.MaxLength+1) + "\n", line: 1, err: topic.ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseACL("/etc/midge/acl", []byte(tc.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.File != "/etc/midge/acl" || pe.Line != tc.line {
				t.Fatalf("error at %s:%d, want line %d", pe.File, pe.Line, tc.line)
			}
			prefix := fmt.Sprintf("auth: /etc/midge/acl:%d: ", tc.line)
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q, want prefix %q and %q", err, prefix, tc.msg)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("error %q does not wrap %v", err, tc.err)
			}
			t.Log(err)
		})
	}
}

func TestLoadACLFileErrors(t *testing.T) {
	path := writeFile(t, "acl", "user alice\ntopic read a\nbogus\n")
	_, err := LoadACLFile(path)
	want := "auth: " + path + ":3: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want prefix %q", err, want)
	}
	if _, err := LoadACLFile(path + ".missing"); err == nil || !strings.Contains(err.Error(), "auth: load acl file") {
		t.Fatalf("missing file: %v", err)
	}
}
