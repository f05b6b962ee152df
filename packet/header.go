package packet

import (
	"errors"
	"io"
	"slices"
)

// MaxRemaining is the largest Remaining Length the encoding allows: 268435455, the largest value a four-byte
// variable byte integer holds.
const MaxRemaining = 268435455

// maxVarintLen is the longest variable byte integer: four bytes.
const maxVarintLen = 4

// FixedHeader is the first part of every control packet: the type, the flags and the length of the rest.
type FixedHeader struct {
	// Type is the control packet type; 0 is reserved.
	Type Type
	// Flags are the low four bits of the first byte: DUP, QoS and RETAIN for PUBLISH, 0b0010 for PUBREL, SUBSCRIBE
	// and UNSUBSCRIBE, 0 for every other type.
	Flags byte
	// Remaining is the Remaining Length: the number of bytes of the packet after the fixed header, 0..MaxRemaining.
	Remaining int
}

// Size returns the number of bytes the fixed header takes on the wire.
func (h FixedHeader) Size() int {
	return 1 + SizeVarint(h.Remaining)
}

// validFirstByte checks the type and flags of a packet's first byte [MQTT-2.2.2-1] [MQTT-2.2.2-2].
func validFirstByte(b byte) error {
	t, flags := Type(b>>4), b&0x0f
	switch {
	case t == 0:
		return ErrReservedType
	case t == TypePublish:
		if flags&0b0110 == 0b0110 {
			return ErrInvalidQoS // [MQTT-3.3.1-4]
		}
	case flags != requiredFlags(t):
		return ErrInvalidFlags
	}
	return nil
}

// checkSize returns ErrPacketTooLarge when maxSize > 0 and a packet of header size n plus rem bytes exceeds it.
func checkSize(n, rem, maxSize int) error {
	if maxSize > 0 && n+rem > maxSize {
		return ErrPacketTooLarge
	}
	return nil
}

// ReadFixedHeader reads a fixed header from r, one byte at a time.
//
// It rejects the reserved type 0, flags that are invalid for the type (PUBREL, SUBSCRIBE and UNSUBSCRIBE need
// 0b0010, PUBLISH QoS 3 is malformed, every other type needs 0), and a Remaining Length longer than four bytes or not
// in its shortest form (0x80 0x00). When maxSize > 0 it also rejects a packet whose total size, fixed header
// included, exceeds maxSize, with ErrPacketTooLarge (Code PacketTooLarge) before any byte of the body is read.
//
// io.EOF before the first byte is returned unchanged, so a reader can tell a clean close; an EOF after it is
// io.ErrUnexpectedEOF. Other errors of r are returned unchanged.
func ReadFixedHeader(r io.ByteReader, maxSize int) (FixedHeader, error) {
	b, err := r.ReadByte()
	if err != nil {
		return FixedHeader{}, err
	}
	if err := validFirstByte(b); err != nil {
		return FixedHeader{}, err
	}
	n, size := 0, 1
	for shift := 0; ; shift += 7 {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return FixedHeader{}, err
		}
		size++
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			if c == 0 && size > 2 {
				return FixedHeader{}, ErrMalformedVarint
			}
			break
		}
		if size == 1+maxVarintLen {
			return FixedHeader{}, ErrMalformedVarint
		}
	}
	if err := checkSize(size, n, maxSize); err != nil {
		return FixedHeader{}, err
	}
	return FixedHeader{Type: Type(b >> 4), Flags: b & 0x0f, Remaining: n}, nil
}

// ParseFixedHeader is ReadFixedHeader over a byte slice: it returns the header and the number of bytes of b it
// used, or ErrShortBuffer when b does not yet hold a whole fixed header. An error other than ErrShortBuffer is final:
// more bytes will not fix it.
func ParseFixedHeader(b []byte, maxSize int) (FixedHeader, int, error) {
	if len(b) == 0 {
		return FixedHeader{}, 0, ErrShortBuffer
	}
	if err := validFirstByte(b[0]); err != nil {
		return FixedHeader{}, 0, err
	}
	rem, n, err := ParseVarint(b[1:])
	if err != nil {
		return FixedHeader{}, 0, err
	}
	if err := checkSize(1+n, rem, maxSize); err != nil {
		return FixedHeader{}, 0, err
	}
	return FixedHeader{Type: Type(b[0] >> 4), Flags: b[0] & 0x0f, Remaining: rem}, 1 + n, nil
}

// ParseVarint decodes the variable byte integer at the start of b and returns its value and length. It returns
// ErrShortBuffer when b ends inside the integer, and ErrMalformedVarint when the integer is longer than four bytes
// or not in its shortest form [MQTT-1.5.5-1].
func ParseVarint(b []byte) (value, n int, err error) {
	for i := 0; i < maxVarintLen; i++ {
		if i == len(b) {
			return 0, 0, ErrShortBuffer
		}
		c := b[i]
		value |= int(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, ErrMalformedVarint
			}
			return value, i + 1, nil
		}
	}
	return 0, 0, ErrMalformedVarint
}

// readVarint decodes a variable byte integer inside a packet body, where running out of bytes is a malformed packet
// rather than a short buffer.
func readVarint(b []byte) (int, []byte, error) {
	v, n, err := ParseVarint(b)
	if err != nil {
		if err == ErrShortBuffer {
			err = ErrTruncated
		}
		return 0, nil, err
	}
	return v, b[n:], nil
}

// AppendVarint appends n as a variable byte integer in its shortest form. n must be in 0..MaxRemaining; AppendVarint
// panics otherwise, since no caller should get there: the encoders check their lengths first.
func AppendVarint(dst []byte, n int) []byte {
	if n < 0 || n > MaxRemaining {
		panic("packet: AppendVarint out of range")
	}
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// SizeVarint returns the number of bytes AppendVarint writes for n: 1 to 4. Values above MaxRemaining (which cannot
// be encoded) report 4, and negative values 1.
func SizeVarint(n int) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

// AppendFixedHeader appends the encoding of h. It does not validate h; h.Remaining must be in 0..MaxRemaining.
func AppendFixedHeader(dst []byte, h FixedHeader) []byte {
	return AppendVarint(append(dst, byte(h.Type)<<4|h.Flags&0x0f), h.Remaining)
}

// appendHeader starts a packet's encoding: it checks the Remaining Length, grows dst once for the whole packet so
// the rest of the encoder appends without reallocating, and appends the fixed header.
func appendHeader(dst []byte, t Type, flags byte, rem int) ([]byte, error) {
	if rem > MaxRemaining {
		return dst, ErrRemainingTooLarge
	}
	dst = slices.Grow(dst, 1+SizeVarint(rem)+rem)
	dst = append(dst, byte(t)<<4|flags)
	return AppendVarint(dst, rem), nil
}

// checkHeader checks what every Decode method checks first: the type, the flags, the body length against the
// Remaining Length, and the version.
func checkHeader(h FixedHeader, t Type, body []byte, v Version) error {
	if h.Type != t {
		return ErrWrongType
	}
	return checkBody(h, body, v)
}

func checkBody(h FixedHeader, body []byte, v Version) error {
	if h.Flags > 0x0f {
		return ErrInvalidFlags
	}
	if err := validFirstByte(byte(h.Type)<<4 | h.Flags); err != nil {
		return err
	}
	switch {
	case len(body) < h.Remaining:
		return ErrTruncated
	case len(body) > h.Remaining:
		return ErrTrailingBytes
	}
	return checkVersion(v)
}
