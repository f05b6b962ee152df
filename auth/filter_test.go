package auth

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/midgemq/midge/topic"
)

// covers, overlaps and matches on plain filters, for the tests.
func covers(rule, req string) bool {
	f := compileFilter(rule, false)
	return f.covers(req, &substitution{})
}

func overlaps(rule, req string) bool {
	f := compileFilter(rule, false)
	return f.overlaps(req, &substitution{})
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		rule, req string
		want      bool
	}{
		{rule: "a/b", req: "a/b", want: true},
		{rule: "a/b", req: "a/c"},
		{rule: "a/b", req: "a"},
		{rule: "a", req: "a/b"},
		{rule: "a/+", req: "a/b", want: true},
		{rule: "a/+", req: "a/+", want: true},
		{rule: "a/+", req: "a/#"},
		{rule: "a/+", req: "a/b/c"},
		{rule: "a/+", req: "a"},
		{rule: "a/b", req: "a/+"},
		{rule: "a/#", req: "a", want: true},
		{rule: "a/#", req: "a/#", want: true},
		{rule: "a/#", req: "a/+/c/#", want: true},
		{rule: "a/#", req: "a/b/c", want: true},
		{rule: "a/#", req: "b/#"},
		{rule: "a/#", req: "+/#"},
		{rule: "a/#", req: "#"},
		{rule: "a/b/#", req: "a/#"},
		{rule: "a/+/#", req: "a/#"},
		{rule: "a/+/#", req: "a/b", want: true},
		{rule: "a/+/#", req: "a/+", want: true},
		{rule: "+/+", req: "a/b", want: true},
		{rule: "+/+", req: "+/b", want: true},
		{rule: "+/b", req: "+/+"},
		{rule: "#", req: "#", want: true},
		{rule: "#", req: "a/b/c", want: true},
		{rule: "#", req: "+/x/#", want: true},
		{rule: "+/#", req: "#", want: true},
		{rule: "#", req: "+/#", want: true},
		{rule: "+", req: "#"},
		{rule: "a//b", req: "a//b", want: true},
		{rule: "a/+/b", req: "a//b", want: true},
		{rule: "a//b", req: "a/+/b"},
		{rule: "/#", req: "/a", want: true},
		{rule: "#", req: "/a", want: true},
		// [MQTT-4.7.2-1] A leading wildcard does not reach $ topics.
		{rule: "#", req: "$SYS/#"},
		{rule: "#", req: "$SYS/broker/uptime"},
		{rule: "+/broker/uptime", req: "$SYS/broker/uptime"},
		{rule: "$SYS/#", req: "$SYS/#", want: true},
		{rule: "$SYS/#", req: "$SYS/broker/+", want: true},
		{rule: "$SYS/#", req: "#"},
		{rule: "$SYS/#", req: "+/#"},
		{rule: "a/$x", req: "a/$x", want: true},
		{rule: "a/+", req: "a/$x", want: true},
	} {
		if got := covers(tc.rule, tc.req); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.rule, tc.req, got, tc.want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		rule, req string
		want      bool
	}{
		{rule: "a/b", req: "a/b", want: true},
		{rule: "a/b", req: "a/c"},
		{rule: "a/b", req: "a/+", want: true},
		{rule: "a/b", req: "a/#", want: true},
		{rule: "a/b", req: "#", want: true},
		{rule: "a", req: "a/#", want: true},
		{rule: "a", req: "a/+"},
		{rule: "a/#", req: "a", want: true},
		{rule: "a/+", req: "a"},
		{rule: "a/+/c", req: "+/b/+", want: true},
		{rule: "a/+/c", req: "+/b/d"},
		{rule: "a/b/c", req: "a/b"},
		{rule: "secret/#", req: "#", want: true},
		{rule: "secret/#", req: "+/x", want: true},
		{rule: "secret/#", req: "public/#"},
		{rule: "#", req: "$SYS/#"},
		{rule: "+/x", req: "$SYS/x"},
		{rule: "$SYS/#", req: "#"},
		{rule: "$SYS/#", req: "+/uptime"},
		{rule: "$SYS/#", req: "$SYS/+", want: true},
		{rule: "$SYS/a", req: "$SYS/#", want: true},
	} {
		if got := overlaps(tc.rule, tc.req); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", tc.rule, tc.req, got, tc.want)
		}
		// The relation is symmetric.
		if got := overlaps(tc.req, tc.rule); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", tc.req, tc.rule, got, tc.want)
		}
	}
}

// allFilters returns every valid filter of 1 to maxLevels levels made of
// the given literal levels, '+' and a final '#'.
func allFilters(literals []string, maxLevels int) []string {
	var out []string
	var walk func(prefix []string)
	walk = func(prefix []string) {
		if len(prefix) == maxLevels {
			return
		}
		for _, l := range append(append([]string{}, literals...), "+", "#") {
			f := append(append([]string{}, prefix...), l)
			s := strings.Join(f, "/")
			if topic.ValidateFilter(s) != nil {
				continue
			}
			out = append(out, s)
			if l != "#" {
				walk(f)
			}
		}
	}
	walk(nil)
	return out
}

// TestFilterRelationsExhaustive checks match, covers and overlaps against
// their definitions through topic.Match, for every pair of filters of up
// to three levels over a small alphabet and every name of up to four
// levels. "z" is a level that no filter names, standing for any other
// string; "" and "$s" probe empty levels and [MQTT-4.7.2-1]. Names one
// level longer than the longest filter are enough to find a name that one
// filter matches and another does not, so covers and overlaps must agree
// exactly with the sets.
func TestFilterRelationsExhaustive(t *testing.T) {
	filters := allFilters([]string{"a", "b", "$s", ""}, 3)
	var names []string
	// Build the names level by level so that empty levels are kept.
	levels := []string{"a", "b", "$s", "", "z"}
	prev := []string(nil)
	for n := 1; n <= 4; n++ {
		var cur [][]string
		if n == 1 {
			for _, l := range levels {
				cur = append(cur, []string{l})
			}
		} else {
			for _, p := range prev {
				for _, l := range levels {
					cur = append(cur, append(strings.Split(p, "\x01"), l))
				}
			}
		}
		prev = prev[:0]
		for _, c := range cur {
			prev = append(prev, strings.Join(c, "\x01"))
			if name := strings.Join(c, "/"); topic.ValidateName(name) == nil {
				names = append(names, name)
			}
		}
	}
	t.Logf("%d filters, %d names", len(filters), len(names))
	sets := make([][]bool, len(filters))
	for i, f := range filters {
		cf := compileFilter(f, false)
		sets[i] = make([]bool, len(names))
		for j, n := range names {
			want := topic.Match(f, n)
			if got := cf.match(n, &substitution{}); got != want {
				t.Fatalf("match(%q, %q) = %v, topic.Match says %v", f, n, got, want)
			}
			sets[i][j] = want
		}
	}
	for i, a := range filters {
		ca := compileFilter(a, false)
		for k, b := range filters {
			subset, common := true, false
			for j := range names {
				if sets[k][j] && !sets[i][j] {
					subset = false
				}
				if sets[k][j] && sets[i][j] {
					common = true
				}
			}
			if got := ca.covers(b, &substitution{}); got != subset {
				t.Fatalf("covers(%q, %q) = %v, but the names say %v", a, b, got, subset)
			}
			if got := ca.overlaps(b, &substitution{}); got != common {
				t.Fatalf("overlaps(%q, %q) = %v, but the names say %v", a, b, got, common)
			}
		}
	}
}

// randomFilter returns a random valid filter of up to maxLevels levels.
func randomFilter(r *rand.Rand, literals []string, maxLevels int) string {
	n := 1 + r.IntN(maxLevels)
	parts := make([]string, n)
	for i := range parts {
		switch x := r.IntN(10); {
		case x < 2:
			parts[i] = "+"
		case x < 3 && i == n-1:
			parts[i] = "#"
		default:
			parts[i] = literals[r.IntN(len(literals))]
		}
	}
	return strings.Join(parts, "/")
}

// instantiate returns a random topic name that the filter f may match: '+'
// becomes a random level and '#' zero to three random levels.
func instantiate(r *rand.Rand, f string, levels []string) string {
	var parts []string
	for _, l := range strings.Split(f, "/") {
		switch l {
		case "+":
			parts = append(parts, levels[r.IntN(len(levels))])
		case "#":
			for range r.IntN(4) {
				parts = append(parts, levels[r.IntN(len(levels))])
			}
		default:
			parts = append(parts, l)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, levels[r.IntN(len(levels))])
	}
	return strings.Join(parts, "/")
}

// TestFilterRelationsRandom checks, for random longer filters and random
// names drawn from them, that covers never claims a name the rule does
// not match and that overlaps never misses a common name.
func TestFilterRelationsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	literals := []string{"a", "b", "c", "$SYS", "", "dev-1", "ü"}
	levels := append([]string{"x", "$x", "yy"}, literals...)
	checked := 0
	for range 20000 {
		a := randomFilter(r, literals, 6)
		b := randomFilter(r, literals, 6)
		if topic.ValidateFilter(a) != nil || topic.ValidateFilter(b) != nil {
			continue
		}
		ca := compileFilter(a, false)
		cov := ca.covers(b, &substitution{})
		ovl := ca.overlaps(b, &substitution{})
		if cov && !ovl && b != "" {
			// b matches at least one name, so a covering rule overlaps it.
			t.Fatalf("covers(%q, %q) but not overlaps", a, b)
		}
		for range 20 {
			for _, n := range []string{instantiate(r, b, levels), instantiate(r, a, levels)} {
				if topic.ValidateName(n) != nil {
					continue
				}
				checked++
				ma, mb := topic.Match(a, n), topic.Match(b, n)
				if cov && mb && !ma {
					t.Fatalf("covers(%q, %q), yet %q matches only the second", a, b, n)
				}
				if ma && mb && !ovl {
					t.Fatalf("!overlaps(%q, %q), yet both match %q", a, b, n)
				}
				if got := ca.match(n, &substitution{}); got != ma {
					t.Fatalf("match(%q, %q) = %v, topic.Match says %v", a, n, got, ma)
				}
			}
		}
	}
	t.Logf("%d names checked", checked)
}

// TestPatternSubstitution checks that a compiled pattern with %u and %c
// behaves exactly like the filter with the values written in.
func TestPatternSubstitution(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	literals := []string{"a", "%u", "%c", "x%uy", "%u%c", "%c-%u", "%", "%x", "b%"}
	values := []string{"u", "alice", "a", "x", "c1", "%c", "%u", "ü", "a$"}
	levels := []string{"a", "alice", "c1", "xaliceyy", "aliceu", "%", "$x", "x%cy", "b%", "u", "%c"}
	for range 5000 {
		pat := randomFilter(r, literals, 5)
		if topic.ValidateFilter(strings.NewReplacer("%u", "x", "%c", "x").Replace(pat)) != nil {
			continue
		}
		v := substitution{user: values[r.IntN(len(values))], client: values[r.IntN(len(values))]}
		cp := compileFilter(pat, true)
		if !cp.applies(&v) {
			continue
		}
		plain := strings.NewReplacer("%u", v.user, "%c", v.client).Replace(pat)
		if topic.ValidateFilter(plain) != nil {
			t.Fatalf("pattern %q with %+v gives invalid %q", pat, v, plain)
		}
		cf := compileFilter(plain, false)
		for range 10 {
			req := randomFilter(r, levels, 5)
			if topic.ValidateFilter(req) != nil {
				continue
			}
			name := instantiate(r, plain, levels)
			if topic.ValidateName(name) == nil && cp.match(name, &v) != cf.match(name, nil) {
				t.Fatalf("pattern %q %+v: match(%q) differs from %q", pat, v, name, plain)
			}
			if cp.covers(req, &v) != cf.covers(req, nil) {
				t.Fatalf("pattern %q %+v: covers(%q) differs from %q", pat, v, req, plain)
			}
			if cp.overlaps(req, &v) != cf.overlaps(req, nil) {
				t.Fatalf("pattern %q %+v: overlaps(%q) differs from %q", pat, v, req, plain)
			}
		}
	}
}

func TestSplitSubstitutions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{in: "%u", want: "[u]"},
		{in: "a%ub", want: "a|[u]|b"},
		{in: "%u%c", want: "[u]|[c]"},
		{in: "%%u", want: "%|[u]"},
		{in: "%x%", want: "%x%"},
		{in: "%c-%u%", want: "[c]|-|[u]|%"},
	} {
		var parts []string
		for _, sg := range splitSubstitutions(tc.in) {
			if sg.sub != 0 {
				parts = append(parts, "["+string(sg.sub)+"]")
			} else {
				parts = append(parts, sg.lit)
			}
		}
		if got := strings.Join(parts, "|"); got != tc.want {
			t.Errorf("splitSubstitutions(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
