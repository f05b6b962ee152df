package topic

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxLength is the longest topic name or filter in bytes: the length of an
// MQTT UTF-8 string is a 16-bit integer.
const MaxLength = 65535

// SharePrefix starts the filter of a shared subscription,
// $share/{ShareName}/{filter}.
const SharePrefix = "$share/"

// Errors of ValidateName and ValidateFilter.
var (
	ErrEmpty          = errors.New("topic: empty")                                     // [MQTT-4.7.3-1]
	ErrTooLong        = errors.New("topic: longer than 65535 bytes")                   // [MQTT-4.7.3-3]
	ErrNullCharacter  = errors.New("topic: contains U+0000")                           // [MQTT-4.7.3-2]
	ErrInvalidUTF8    = errors.New("topic: not valid UTF-8")                           // [MQTT-1.5.3-1]
	ErrWildcardInName = errors.New("topic: wildcard in a topic name")                  // [MQTT-3.3.2-2]
	ErrMisplacedHash  = errors.New("topic: '#' is not alone in the last level")        // [MQTT-4.7.1-2]
	ErrMisplacedPlus  = errors.New("topic: '+' does not fill a whole level")           // [MQTT-4.7.1-3]
	ErrInvalidShare   = errors.New("topic: invalid shared subscription filter")        // [MQTT-4.8.2-1]
	ErrEmptyShareName = errors.New("topic: empty share name in a shared subscription") // [MQTT-4.8.2-1]
	ErrNoSharedFilter = errors.New("topic: no topic filter after the share name")      // [MQTT-4.8.2-2]
)

// ValidateName reports whether name may be the topic of a PUBLISH: not
// empty, at most MaxLength bytes, valid UTF-8 without U+0000, and without
// wildcard characters.
func ValidateName(name string) error {
	if err := validateString(name); err != nil {
		return err
	}
	if strings.ContainsAny(name, "+#") {
		return ErrWildcardInName
	}
	return nil
}

// ValidateFilter reports whether filter may be subscribed to: the rules of
// ValidateName, except that '+' may fill any whole level and '#' the whole
// last level; a shared subscription's filter $share/{ShareName}/{filter}
// needs a share name without '/', '+' or '#' and a valid filter after it.
func ValidateFilter(filter string) error {
	if err := validateString(filter); err != nil {
		return err
	}
	if rest, ok := strings.CutPrefix(filter, SharePrefix); ok {
		group, f, found := strings.Cut(rest, "/")
		switch {
		case group == "":
			return ErrEmptyShareName
		case strings.ContainsAny(group, "+#"):
			return ErrInvalidShare
		case !found || f == "":
			return ErrNoSharedFilter
		}
		filter = f
	} else if filter == "$share" {
		return ErrInvalidShare
	}
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			if i != len(filter)-1 || (i > 0 && filter[i-1] != '/') {
				return ErrMisplacedHash
			}
		case '+':
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return ErrMisplacedPlus
			}
		}
	}
	return nil
}

func validateString(s string) error {
	switch {
	case s == "":
		return ErrEmpty
	case len(s) > MaxLength:
		return ErrTooLong
	case strings.IndexByte(s, 0) >= 0:
		return ErrNullCharacter
	case !utf8.ValidString(s):
		return ErrInvalidUTF8
	}
	return nil
}

// ParseShared splits the filter of a shared subscription,
// $share/{group}/{filter}, into its group and filter. It reports ok false
// for a filter that is not shared. It does not validate; call ValidateFilter
// first.
func ParseShared(filter string) (group, f string, ok bool) {
	rest, ok := strings.CutPrefix(filter, SharePrefix)
	if !ok {
		return "", "", false
	}
	group, f, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", false
	}
	return group, f, true
}

// Match reports whether the valid, non-shared filter matches the valid topic
// name. It does not allocate.
func Match(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		if fl != "+" && fl != nl {
			return false
		}
		switch {
		case !fmore && !nmore:
			return true
		case !nmore:
			// The name ends here; "a/#" matches "a" [MQTT-4.7.1-2].
			return frest == "#"
		case !fmore:
			return false
		}
		filter, name = frest, nrest
	}
}
