package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// source records where each key of a TOML document is and what kind of value
// it holds, so that errors found after decoding (a value out of range, two
// listeners with one name) can name a line. go-toml's decoder keeps no
// positions once it has decoded a value, hence this separate pass over the
// same bytes with its parser.
//
// Paths are dotted keys; the tables of an array of tables carry their index
// in brackets: "max_packet_size", "listener", "listener[1]",
// "listener[1].address".
type source struct {
	// lines maps a path to the 1-based line where its key, or its table
	// header, first appears.
	lines map[string]int

	// kinds maps a path to the kind of its value: a scalar kind, Array,
	// InlineTable, or Table and ArrayTable for table headers.
	kinds map[string]unstable.Kind

	// byLine maps a line to the paths that start on it, in document order.
	byLine map[int][]string

	// arrays counts the tables seen so far of each array of tables, by
	// resolved path.
	arrays map[string]int

	// newlines holds the offset of every '\n' of the document.
	newlines []int
}

// scan reads the structure of data. It returns the parser's error for a
// document that is not TOML; the decoder then reports the same error with
// its position.
func scan(data []byte) (*source, error) {
	s := &source{
		lines:  make(map[string]int),
		kinds:  make(map[string]unstable.Kind),
		byLine: make(map[int][]string),
		arrays: make(map[string]int),
	}
	for i, c := range data {
		if c == '\n' {
			s.newlines = append(s.newlines, i)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, first := keyParts(e.Key())
			if first == nil {
				continue
			}
			prefix = s.header(parts, e.Kind, s.line(first))
		case unstable.KeyValue:
			parts, first := keyParts(e.Key())
			if first == nil {
				continue
			}
			s.value(s.dotted(prefix, parts, s.line(first)), s.line(first), e.Value())
		}
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	return s, nil
}

// dotted returns the path of the dotted key parts under prefix, recording
// the tables that its leading parts define implicitly.
func (s *source) dotted(prefix string, parts []string, line int) string {
	path := prefix
	for i, part := range parts {
		path = join(path, part)
		if i < len(parts)-1 {
			s.record(path, line, unstable.Table)
		}
	}
	return path
}

// keyParts returns the parts of a dotted key and the node of its first part.
func keyParts(it unstable.Iterator) ([]string, *unstable.Node) {
	var parts []string
	var first *unstable.Node
	for it.Next() {
		n := it.Node()
		if first == nil {
			first = n
		}
		parts = append(parts, string(n.Data))
	}
	return parts, first
}

// header records a [table] or [[array table]] header at line and returns the
// resolved path under which its keys go. A part that names an array of
// tables refers to that array's last table, as in TOML.
func (s *source) header(parts []string, kind unstable.Kind, line int) string {
	path := ""
	for i, part := range parts {
		path = join(path, part)
		if i == len(parts)-1 {
			break
		}
		if n := s.arrays[path]; n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	if kind == unstable.ArrayTable {
		n := s.arrays[path]
		s.arrays[path] = n + 1
		s.record(path, line, unstable.ArrayTable)
		path += "[" + strconv.Itoa(n) + "]"
		s.record(path, line, unstable.Table)
		return path
	}
	s.record(path, line, unstable.Table)
	return path
}

// value records the key at path, whose value v starts on line, and the keys
// of the inline tables within v.
func (s *source) value(path string, line int, v *unstable.Node) {
	if !v.Valid() {
		return
	}
	s.record(path, line, v.Kind)
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			parts, first := keyParts(kv.Key())
			if first == nil {
				continue
			}
			s.value(s.dotted(path, parts, s.line(first)), s.line(first), kv.Value())
		}
	case unstable.Array:
		it := v.Children()
		i := 0
		for it.Next() {
			el := it.Node()
			if el.Kind == unstable.Comment {
				continue
			}
			elLine := line
			if el.Kind == unstable.InlineTable || el.Raw.Length > 0 {
				elLine = s.line(el)
			}
			s.value(path+"["+strconv.Itoa(i)+"]", elLine, el)
			i++
		}
	}
}

// record notes path at line with kind, keeping the first place a path is
// seen: a repeated key is an error that the decoder reports at the repeat.
func (s *source) record(path string, line int, kind unstable.Kind) {
	if _, ok := s.lines[path]; ok {
		return
	}
	s.lines[path] = line
	s.kinds[path] = kind
	s.byLine[line] = append(s.byLine[line], path)
}

// line returns the 1-based line on which n starts.
func (s *source) line(n *unstable.Node) int {
	off := int(n.Raw.Offset)
	return sort.SearchInts(s.newlines, off) + 1
}

// lineOf returns the line of path, or of the nearest enclosing table or key
// that has one ("listener[1]" for a "listener[1].name" the file leaves out).
// It returns 0 when s is nil or nothing encloses path.
func (s *source) lineOf(path string) int {
	if s == nil {
		return 0
	}
	for path != "" {
		if l, ok := s.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// has reports whether the document sets path.
func (s *source) has(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.lines[path]
	return ok
}

// indexed returns the recorded path on line that names key, with its array
// indexes ("listener[1].foo" for "listener.foo"), or key itself when there
// is none. go-toml names keys without indexes, and names a key of an inline
// table in an array without the array ("foo" for "listener[0].foo").
func (s *source) indexed(key string, line int) string {
	if s == nil {
		return key
	}
	for _, p := range s.byLine[line] {
		if stripIndexes(p) == key {
			return p
		}
	}
	for _, p := range s.byLine[line] {
		if strings.HasSuffix(stripIndexes(p), "."+key) {
			return p
		}
	}
	return key
}

// stripIndexes removes the bracketed indexes from path.
func stripIndexes(path string) string {
	if !strings.Contains(path, "[") {
		return path
	}
	var b strings.Builder
	depth := 0
	for _, r := range path {
		switch {
		case r == '[':
			depth++
		case r == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// join appends part to the dotted path prefix.
func join(prefix, part string) string {
	if prefix == "" {
		return part
	}
	return prefix + "." + part
}
