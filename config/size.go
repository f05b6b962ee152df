package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a number of bytes. In a file it is written as a string with a unit
// ("1MiB", "512KiB", "64kB", "100B") or as a plain integer number of bytes.
// The units are B, kB, MB and GB (powers of 1000) and KiB, MiB and GiB
// (powers of 1024). The zero value is 0 bytes.
type Size int64

// sizeUnits lists the units a Size accepts, largest first so that MarshalText
// picks the largest unit that divides the value.
var sizeUnits = []struct {
	name string
	n    int64
}{
	{"GiB", 1 << 30},
	{"GB", 1e9},
	{"MiB", 1 << 20},
	{"MB", 1e6},
	{"KiB", 1 << 10},
	{"kB", 1e3},
	{"B", 1},
}

// errSizeSyntax is wrapped by every error of ParseSize.
var errSizeSyntax = errors.New("invalid size")

// ParseSize parses s as a Size: digits, optional spaces, and an optional
// unit (see Size). Negative sizes and fractions are refused.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%w %q: want a number of bytes with an optional unit, like 1MiB, 512KiB or 65536", errSizeSyntax, s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: number too large", errSizeSyntax, s)
	}
	unit := strings.TrimSpace(t[i:])
	if unit == "" {
		return Size(n), nil
	}
	for _, u := range sizeUnits {
		if u.name != unit {
			continue
		}
		if n > math.MaxInt64/u.n {
			return 0, fmt.Errorf("%w %q: number too large", errSizeSyntax, s)
		}
		return Size(n * u.n), nil
	}
	return 0, fmt.Errorf("%w %q: unknown unit %q (units: B, kB, MB, GB, KiB, MiB, GiB)", errSizeSyntax, s, unit)
}

// String returns s in the largest unit that represents it exactly, such as
// "1MiB", "64kB" or "1500B"; 0 and negative sizes are plain integers.
func (s Size) String() string {
	if s <= 0 {
		return strconv.FormatInt(int64(s), 10)
	}
	for _, u := range sizeUnits {
		if int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.name
		}
	}
	panic("unreachable: every size is a multiple of 1B")
}

// MarshalText implements encoding.TextMarshaler with the form of String.
func (s Size) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseSize.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
