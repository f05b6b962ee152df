package config

import (
	"errors"
	"strconv"
	"strings"
)

// ErrUnknownKey is returned, inside an *Error, when a file holds a key or a
// table that Config does not have.
var ErrUnknownKey = errors.New("config: unknown key")

// Error is one problem with a configuration: where it is and what is wrong.
// Parse, Load and Validate return their problems as *Error values, joined
// with errors.Join when there are several.
type Error struct {
	// File is the name the configuration was read from; "" when the Config
	// did not come from a file.
	File string

	// Line is the 1-based line of the problem in File; 0 when unknown.
	Line int

	// Key is the dotted path of the key at fault, with the index of a
	// [[listener]] table in brackets ("listener[1].name"); "" when the
	// problem is not about one key (a syntax error).
	Key string

	// Err is what is wrong.
	Err error
}

// Error returns the problem as "file:line: key "k": what", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if errors.Is(e.Err, ErrUnknownKey) {
		b.WriteString("unknown key ")
		b.WriteString(strconv.Quote(e.Key))
		return b.String()
	}
	if e.Key != "" {
		b.WriteString("key ")
		b.WriteString(strconv.Quote(e.Key))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Errors returns the *Error values inside err: err itself, or each error
// that errors.Join put together. It returns nil when err holds none.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	var ce *Error
	if errors.As(err, &ce) {
		return []*Error{ce}
	}
	return nil
}
