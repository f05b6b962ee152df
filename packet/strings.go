package packet

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// maxString is the longest UTF-8 string or binary data field: its length is a two-byte integer.
const maxString = 65535

// The readers below take the unread part of a body and return the value and what follows it. Running past the end
// of the body is ErrTruncated: the body holds exactly one packet, so a short field is a malformed packet.

func readByte(b []byte) (byte, []byte, error) {
	if len(b) < 1 {
		return 0, nil, ErrTruncated
	}
	return b[0], b[1:], nil
}

func readUint16(b []byte) (uint16, []byte, error) {
	if len(b) < 2 {
		return 0, nil, ErrTruncated
	}
	return binary.BigEndian.Uint16(b), b[2:], nil
}

func readUint32(b []byte) (uint32, []byte, error) {
	if len(b) < 4 {
		return 0, nil, ErrTruncated
	}
	return binary.BigEndian.Uint32(b), b[4:], nil
}

// readBinary reads binary data: a two-byte length and that many bytes. The result aliases b; when the length is 0
// it is an empty slice of b, not nil, so a caller can tell a present empty field from an absent one.
func readBinary(b []byte) ([]byte, []byte, error) {
	n, b, err := readUint16(b)
	if err != nil {
		return nil, nil, err
	}
	if int(n) > len(b) {
		return nil, nil, ErrTruncated
	}
	return b[:n:n], b[n:], nil
}

// readStringBytes reads a UTF-8 encoded string and validates it, without copying it.
func readStringBytes(b []byte) ([]byte, []byte, error) {
	s, b, err := readBinary(b)
	if err != nil {
		return nil, nil, err
	}
	if err := validString(s); err != nil {
		return nil, nil, err
	}
	return s, b, nil
}

// arena gives the strings of one decode a single backing copy: the first non-empty string copies base, the part
// of the body the strings come from, with one string(base) conversion, and every string is a substring of that
// copy. A decode thus allocates at most len(base) bytes for all its strings, instead of one allocation each.
type arena struct {
	base []byte
	s    string // string(base), once made
	made bool
}

// str returns sb, which the caller says is base[off:off+len(sb)], as a substring of the copy of base. Should sb
// not lie there after all, it is copied on its own, so a wrong offset costs an allocation, never a wrong string.
func (a *arena) str(sb []byte, off int) string {
	if len(sb) == 0 {
		return ""
	}
	if off < 0 || off > len(a.base)-len(sb) || &a.base[off] != &sb[0] {
		return string(sb)
	}
	if !a.made {
		a.s, a.made = string(a.base), true
	}
	return a.s[off : off+len(sb)]
}

// readString reads a UTF-8 encoded string and validates it. The result is a substring of a's copy when b is a
// slice of a.base (b[i:j], not b[i:j:k]), a copy of its own otherwise.
func (a *arena) readString(b []byte) (string, []byte, error) {
	sb, rest, err := readStringBytes(b)
	if err != nil {
		return "", nil, err
	}
	return a.str(sb, cap(a.base)-cap(b)+2), rest, nil
}

// validString checks the content of a UTF-8 encoded string: well-formed UTF-8, which excludes the surrogates
// U+D800..U+DFFF [MQTT-1.5.4-1], and no U+0000 [MQTT-1.5.4-2]. Control characters and non-characters are allowed:
// the specification only says a receiver MAY reject them.
func validString(s []byte) error {
	if !utf8.Valid(s) {
		return ErrInvalidUTF8
	}
	if bytes.IndexByte(s, 0) >= 0 {
		return ErrNullCharacter
	}
	return nil
}

// sizeString returns the encoded size of s and checks that Decode will accept it.
func sizeString(s string) (int, error) {
	if len(s) > maxString {
		return 0, ErrStringTooLong
	}
	if !utf8.ValidString(s) {
		return 0, ErrInvalidUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return 0, ErrNullCharacter
	}
	return 2 + len(s), nil
}

// sizeBinary returns the encoded size of b.
func sizeBinary(b []byte) (int, error) {
	if len(b) > maxString {
		return 0, ErrStringTooLong
	}
	return 2 + len(b), nil
}

func appendUint16(dst []byte, n uint16) []byte {
	return binary.BigEndian.AppendUint16(dst, n)
}

func appendUint32(dst []byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32(dst, n)
}

// appendString appends s with its two-byte length; sizeString has checked it.
func appendString(dst []byte, s string) []byte {
	return append(appendUint16(dst, uint16(len(s))), s...)
}

// appendBinary appends b with its two-byte length; sizeBinary has checked it.
func appendBinary(dst []byte, b []byte) []byte {
	return append(appendUint16(dst, uint16(len(b))), b...)
}

// nonEmpty returns b, or nil when b is empty, for []byte fields whose presence is told by something else (a flag, or
// the packet's end), so a decoded packet compares equal to one built with a nil slice.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
