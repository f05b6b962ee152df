package packet

import (
	"strings"
	"testing"
)

func TestValidString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{name: "empty", in: "", want: nil},
		{name: "ascii", in: "a/b/c", want: nil},
		{name: "multibyte", in: "température/°C/日本", want: nil},
		{name: "control-characters", in: "\x01\x1f\x7f", want: nil},
		{name: "c1-controls", in: "\u0080\u009f", want: nil},
		{name: "non-characters", in: "\ufffe\uffff\U0010ffff", want: nil},
		{name: "nul", in: "a\x00b", want: ErrNullCharacter},                // [MQTT-1.5.4-2]
		{name: "surrogate-high", in: "\xed\xa0\x80", want: ErrInvalidUTF8}, // [MQTT-1.5.4-1]
		{name: "surrogate-low", in: "\xed\xbf\xbf", want: ErrInvalidUTF8},
		{name: "overlong", in: "\xc0\xaf", want: ErrInvalidUTF8},
		{name: "overlong-nul", in: "\xc0\x80", want: ErrInvalidUTF8},
		{name: "truncated", in: "\xe2\x82", want: ErrInvalidUTF8},
		{name: "above-max", in: "\xf4\x90\x80\x80", want: ErrInvalidUTF8},
		{name: "lone-continuation", in: "\x80", want: ErrInvalidUTF8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := validString([]byte(tc.in)); err != tc.want {
				t.Errorf("validString(%q) = %v, want %v", tc.in, err, tc.want)
			}
			_, err := sizeString(tc.in)
			if err != tc.want {
				t.Errorf("sizeString(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestStringLengthLimit(t *testing.T) {
	max := strings.Repeat("a", 65535)
	if n, err := sizeString(max); err != nil || n != 65537 {
		t.Fatalf("sizeString(65535 bytes) = %d, %v", n, err)
	}
	if _, err := sizeString(max + "a"); err != ErrStringTooLong {
		t.Fatalf("sizeString(65536 bytes) error %v", err)
	}
	enc := appendString(nil, max)
	s, rest, err := (&arena{base: enc}).readString(enc)
	if err != nil || s != max || len(rest) != 0 {
		t.Fatalf("readString of 65535 bytes: %d bytes, %d left, %v", len(s), len(rest), err)
	}
}

func TestReadBinary(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		want     string
		wantRest int
		wantErr  error
	}{
		{name: "empty-field", in: []byte{0, 0, 9}, want: "", wantRest: 1},
		{name: "value", in: []byte{0, 2, 'h', 'i'}, want: "hi"},
		{name: "no-length", in: []byte{0}, wantErr: ErrTruncated},
		{name: "short-value", in: []byte{0, 3, 'h', 'i'}, wantErr: ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, rest, err := readBinary(tc.in)
			if err != tc.wantErr || string(b) != tc.want || len(rest) != tc.wantRest {
				t.Fatalf("readBinary = %q, %d left, %v", b, len(rest), err)
			}
			if err == nil && (b == nil || cap(b) != len(b)) {
				t.Fatalf("readBinary result is nil or has spare capacity (%d)", cap(b))
			}
		})
	}
}
