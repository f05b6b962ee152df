package auth

import "strings"

// A rule's topic filter is compiled into levels when the ACL file is
// parsed, so that checking a PUBLISH or a SUBSCRIBE walks the requested
// topic once and allocates nothing, even for a pattern rule whose %u and %c
// are substituted: a level with substitutions is compared piece by piece
// with the requested level instead of being built as a string.
//
// Three relations between a rule's filter R and a requested topic are
// needed, each with MQTT's matching rules (topic.Match): '+' matches one
// whole level, '#' as the last level matches the parent level and any
// number of levels below it, and a filter whose first level is a wildcard
// matches no topic whose first level starts with '$' [MQTT-4.7.2-1].
//
//   - match(R, name): R matches the topic name of a PUBLISH.
//   - covers(R, F): every topic name that the SUBSCRIBE filter F matches, R
//     matches too, so a client allowed to read R may subscribe to F.
//   - overlaps(R, F): some topic name matches both R and F, so a deny rule R
//     refuses the subscription F.
//
// Levels are arbitrary strings, so a '+' in F can only be covered by a '+'
// or a '#' in R, never by a literal; and a '#' in F (which matches ever
// longer names) only by a '#' in R at the same depth, or by "+/#" when F is
// "#". TestFilterRelationsExhaustive checks all three against topic.Match
// for every pair of short filters.

// level is one level of a compiled filter.
type level struct {
	// wild is '+' or '#' for a wildcard level and 0 for a literal one.
	wild byte
	// lit is a literal level without substitutions.
	lit string
	// segs is non-nil for a literal level of a pattern rule that holds %u
	// or %c; it then replaces lit.
	segs []segment
}

// segment is a piece of a pattern level: literal text, or the user name or
// client id.
type segment struct {
	lit string
	// sub is 'u' or 'c' for a substitution, 0 for lit.
	sub byte
}

// substitution is what %u and %c stand for in a pattern rule.
type substitution struct {
	user, client string
}

// filter is a compiled topic filter.
type filter struct {
	levels []level
	// dollar is set when the first level is literal text starting with '$'
	// (a substitution never starts with '$': see applies).
	dollar bool
	// usesUser and usesClient are set when a level holds %u or %c.
	usesUser, usesClient bool
	// leading is 'u' or 'c' when the filter starts with that substitution.
	leading byte
}

// compileFilter splits the valid, non-shared filter s into levels. With
// patterns set, %u and %c are substitutions; otherwise they are text.
func compileFilter(s string, patterns bool) filter {
	var f filter
	for i, ls := range strings.Split(s, "/") {
		var l level
		switch {
		case ls == "+" || ls == "#":
			l.wild = ls[0]
		case patterns && (strings.Contains(ls, "%u") || strings.Contains(ls, "%c")):
			l.segs = splitSubstitutions(ls)
			for _, sg := range l.segs {
				f.usesUser = f.usesUser || sg.sub == 'u'
				f.usesClient = f.usesClient || sg.sub == 'c'
			}
			if i == 0 {
				f.leading = l.segs[0].sub
				f.dollar = l.segs[0].sub == 0 && strings.HasPrefix(l.segs[0].lit, "$")
			}
		default:
			l.lit = ls
			if i == 0 {
				f.dollar = strings.HasPrefix(ls, "$")
			}
		}
		f.levels = append(f.levels, l)
	}
	return f
}

// splitSubstitutions splits a pattern level into literal text and the %u
// and %c substitutions. Any other '%' is text.
func splitSubstitutions(s string) []segment {
	var segs []segment
	start := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '%' || (s[i+1] != 'u' && s[i+1] != 'c') {
			continue
		}
		if i > start {
			segs = append(segs, segment{lit: s[start:i]})
		}
		segs = append(segs, segment{sub: s[i+1]})
		start = i + 2
		i++
	}
	if start < len(s) {
		segs = append(segs, segment{lit: s[start:]})
	}
	return segs
}

// safeSubstitution reports whether s may replace %u or %c: it is not empty
// and cannot change the shape of the filter, so it holds no wildcard, no
// level separator and no U+0000.
func safeSubstitution(s string) bool {
	return s != "" && !strings.ContainsAny(s, "+#/\x00")
}

// applies reports whether a pattern rule with filter f applies to a client
// with the user name and client id of v. It does not when a substituted
// value is empty or unsafe (safeSubstitution), or when it would make the
// filter start with '$': a client must not reach $SYS by choosing its name.
func (f *filter) applies(v *substitution) bool {
	if f.usesUser && !safeSubstitution(v.user) {
		return false
	}
	if f.usesClient && !safeSubstitution(v.client) {
		return false
	}
	switch f.leading {
	case 'u':
		return v.user[0] != '$'
	case 'c':
		return v.client[0] != '$'
	}
	return true
}

// equal reports whether the literal level l, with v substituted, is s.
func (l *level) equal(s string, v *substitution) bool {
	if l.segs == nil {
		return l.lit == s
	}
	for _, sg := range l.segs {
		var p string
		switch sg.sub {
		case 'u':
			p = v.user
		case 'c':
			p = v.client
		default:
			p = sg.lit
		}
		if !strings.HasPrefix(s, p) {
			return false
		}
		s = s[len(p):]
	}
	return s == ""
}

// firstWild reports whether the first level of f is a wildcard.
func (f *filter) firstWild() bool { return len(f.levels) > 0 && f.levels[0].wild != 0 }

// dollarConflict reports whether f and the requested topic or filter t can
// have no name in common because of [MQTT-4.7.2-1]: one starts with a
// wildcard level and the other with a literal level starting with '$'.
// tWild reports whether t's first level is a wildcard.
func (f *filter) dollarConflict(t string, tWild bool) bool {
	tDollar := !tWild && strings.HasPrefix(t, "$")
	return (f.firstWild() && tDollar) || (f.dollar && tWild)
}

// firstLevelWild reports whether the first level of the filter s is a
// wildcard.
func firstLevelWild(s string) bool {
	return s == "+" || s == "#" || strings.HasPrefix(s, "+/")
}

// match reports whether f, with v substituted, matches the valid topic
// name.
func (f *filter) match(name string, v *substitution) bool {
	if f.dollarConflict(name, false) {
		return false
	}
	rest, more := name, true
	for i := range f.levels {
		l := &f.levels[i]
		if l.wild == '#' {
			return true
		}
		if !more {
			return false
		}
		var nl string
		nl, rest, more = strings.Cut(rest, "/")
		if l.wild != '+' && !l.equal(nl, v) {
			return false
		}
	}
	return !more
}

// covers reports whether every topic name that the valid, non-shared filter
// req matches is matched by f with v substituted.
func (f *filter) covers(req string, v *substitution) bool {
	if f.dollarConflict(req, firstLevelWild(req)) {
		return false
	}
	rest, more := req, true
	for i := range f.levels {
		l := &f.levels[i]
		if l.wild == '#' {
			return true
		}
		if !more {
			// req ends here, a level before f does.
			return false
		}
		var rl string
		rl, rest, more = strings.Cut(rest, "/")
		switch rl {
		case "#":
			// req matches names of every length from here on (down to
			// the parent level, [MQTT-4.7.1-2]); f, without a '#' at this
			// level, does not, except that "+/#" covers "#": at the first
			// level "#" has no parent to match, so both match exactly the
			// names of one or more levels.
			return i == 0 && l.wild == '+' && len(f.levels) == 2 && f.levels[1].wild == '#'
		case "+":
			if l.wild != '+' {
				return false
			}
		default:
			if l.wild != '+' && !l.equal(rl, v) {
				return false
			}
		}
	}
	// f ends here: it covers req only if req ends here too.
	return !more
}

// overlaps reports whether some topic name is matched both by f with v
// substituted and by the valid, non-shared filter req.
func (f *filter) overlaps(req string, v *substitution) bool {
	if f.dollarConflict(req, firstLevelWild(req)) {
		return false
	}
	rest, more := req, true
	for i := range f.levels {
		l := &f.levels[i]
		if l.wild == '#' {
			return true
		}
		if !more {
			return false
		}
		var rl string
		rl, rest, more = strings.Cut(rest, "/")
		if rl == "#" {
			return true
		}
		if rl != "+" && l.wild != '+' && !l.equal(rl, v) {
			return false
		}
	}
	// f ends here: the name that ends here matches req if req ends here
	// too, or if req's next level is a final '#' (which matches its
	// parent).
	return !more || rest == "#" || strings.HasPrefix(rest, "#/")
}
