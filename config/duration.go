package config

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in a file as a string that
// time.ParseDuration accepts, such as "10s", "1m30s" or "500ms". It is a
// struct rather than a named integer so that a bare TOML integer, whose unit
// would be a guess, is refused instead of read as nanoseconds. The zero value
// is 0s.
type Duration struct {
	time.Duration
}

// MarshalText implements encoding.TextMarshaler with time.Duration.String.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with
// time.ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q, want a form like 10s, 1m30s or 500ms: %w", text, err)
	}
	d.Duration = v
	return nil
}
