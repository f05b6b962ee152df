package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Load reads the file at path and parses it with Parse, naming it path in
// errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes data, the TOML text of a file called name, onto Defaults and
// validates the result. Keys that data leaves out keep their defaults, and so
// do the fields that a [[listener]] table leaves out; listing any
// [[listener]] replaces the default listener.
//
// Decoding is strict. Each problem is an *Error naming the file, line and
// key; several are joined with errors.Join, in the order of their lines.
// Unknown keys, wrong types and bad values are reported in that order of
// passes: a file with a wrong type is not checked for bad values until the
// type is fixed.
func Parse(name string, data []byte) (*Config, error) {
	// A document that does not parse leaves src nil; the decoder then
	// reports the syntax error with its position.
	src, scanErr := scan(data)
	if src != nil {
		if errs := src.checkKinds(name); len(errs) > 0 {
			return nil, joinSorted(errs)
		}
	}

	c := Defaults()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeErrors(name, src, err)
	}
	if src == nil {
		// Unreachable while the decoder and scan share go-toml's parser.
		return nil, &Error{File: name, Err: fmt.Errorf("scan: %w", scanErr)}
	}
	for i := range c.Listeners {
		src.fillListener(i, &c.Listeners[i])
	}

	errs := Errors(c.Validate())
	for _, e := range errs {
		e.File = name
		e.Line = src.lineOf(e.Key)
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return c, nil
}

// fillListener gives l, the i-th listener of the document, the default of
// each field the document leaves out. The decoder starts each table of an
// array from the zero value, so it cannot keep defaults by itself.
func (s *source) fillListener(i int, l *Listener) {
	def := DefaultListener()
	prefix := fmt.Sprintf("listener[%d].", i)
	if !s.has(prefix + "name") {
		l.Name = def.Name
	}
	if !s.has(prefix + "type") {
		l.Type = def.Type
	}
	if !s.has(prefix + "address") {
		l.Address = def.Address
		if a, ok := defaultAddress[l.Type]; ok {
			l.Address = a
		}
	}
	if !s.has(prefix + "client_auth") {
		l.ClientAuth = "none"
	}
	if !s.has(prefix+"path") && (l.Type == "ws" || l.Type == "wss") {
		l.Path = "/mqtt"
	}
}

// decodeErrors turns an error of the TOML decoder into *Error values.
func decodeErrors(name string, src *source, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]*Error, 0, len(strict.Errors))
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, _ := de.Position()
			key := src.indexed(strings.Join(de.Key(), "."), line)
			errs = append(errs, &Error{File: name, Line: line, Key: key, Err: fmt.Errorf("%w: %w", ErrUnknownKey, de)})
		}
		return joinSorted(errs)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		key := ""
		if len(de.Key()) > 0 {
			key = src.indexed(strings.Join(de.Key(), "."), line)
		}
		return &Error{File: name, Line: line, Key: key, Err: tomlError{de}}
	}
	// The decoder returns plain errors only for values that checkKinds has
	// already refused; this is a safety net.
	return &Error{File: name, Err: fmt.Errorf("decode: %w", err)}
}

// tomlError presents a go-toml DecodeError without the "toml: " prefix that
// the file name and line of the enclosing *Error make redundant.
type tomlError struct{ de *toml.DecodeError }

func (e tomlError) Error() string { return strings.TrimPrefix(e.de.Error(), "toml: ") }
func (e tomlError) Unwrap() error { return e.de }

// joinSorted joins errs in the order of their lines, and of their keys
// within a line.
func joinSorted(errs []*Error) error {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Key < errs[j].Key
	})
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// valueKind is what a field of Config accepts, and how to say it.
type valueKind struct {
	want  string
	kinds []unstable.Kind
}

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[Duration]()
)

// kindOf returns what a TOML value for a field of type t must be.
func kindOf(t reflect.Type) valueKind {
	switch {
	case t == sizeType:
		return valueKind{`a size like "1MiB" or an integer number of bytes`, []unstable.Kind{unstable.String, unstable.Integer}}
	case t == durationType:
		return valueKind{`a duration string like "10s"`, []unstable.Kind{unstable.String}}
	case t.Kind() == reflect.String:
		return valueKind{"a string", []unstable.Kind{unstable.String}}
	case t.Kind() == reflect.Int:
		return valueKind{"an integer", []unstable.Kind{unstable.Integer}}
	case t.Kind() == reflect.Bool:
		return valueKind{"a boolean", []unstable.Kind{unstable.Bool}}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return valueKind{"an array of tables", []unstable.Kind{unstable.ArrayTable, unstable.Array}}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return valueKind{"an array of strings", []unstable.Kind{unstable.Array}}
	case t.Kind() == reflect.Struct:
		return valueKind{"a table", []unstable.Kind{unstable.Table, unstable.InlineTable}}
	}
	panic(fmt.Sprintf("config: no TOML kind for field type %s", t))
}

// isTableArray reports whether a field of type t is an array of tables.
func isTableArray(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

// schema maps the path of every key of Config, without indexes, to its
// field type. Elements of an array appear as the array's path followed by
// "[]": a table for an array of tables, a string for an array of strings.
var schema = buildSchema()

func buildSchema() map[string]reflect.Type {
	m := make(map[string]reflect.Type)
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for f := range t.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			path := join(prefix, tag)
			m[path] = f.Type
			switch {
			case isTableArray(f.Type):
				m[path+"[]"] = f.Type.Elem()
				walk(path, f.Type.Elem())
			case f.Type.Kind() == reflect.Slice:
				m[path+"[]"] = f.Type.Elem()
			case f.Type.Kind() == reflect.Struct && f.Type != durationType:
				walk(path, f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	return m
}

// keys returns the path of every key of Config that holds a value, without
// indexes and sorted: the tables themselves and the elements of arrays are
// left out, the keys of tables are in.
func keys() []string {
	var out []string
	for k, t := range schema {
		isTable := isTableArray(t) || (t.Kind() == reflect.Struct && t != durationType)
		if !isTable && !strings.HasSuffix(k, "[]") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// checkKinds reports each known key whose value is of the wrong kind. The
// decoder would catch most of them too, but without a line for values that
// reach a TextUnmarshaler, and in Go's words rather than the file's.
func (s *source) checkKinds(name string) []*Error {
	var errs []*Error
	for path, kind := range s.kinds {
		bare := stripIndexes(path)
		if strings.HasSuffix(path, "]") {
			bare += "[]"
		}
		t, ok := schema[bare]
		if !ok {
			continue
		}
		vk := kindOf(t)
		if isTableArray(t) {
			vk.want = fmt.Sprintf("an array of tables, written [[%s]]", bare)
		}
		if !containsKind(vk.kinds, kind) {
			errs = append(errs, &Error{File: name, Line: s.lines[path], Key: path,
				Err: fmt.Errorf("want %s, got %s", vk.want, kindName(kind))})
		}
	}
	return errs
}

func containsKind(ks []unstable.Kind, k unstable.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// kindName names a TOML kind for error messages.
func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "an inline table"
	case unstable.Table:
		return "a table"
	case unstable.ArrayTable:
		return "an array of tables"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		return "a date or time"
	}
	return k.String()
}
