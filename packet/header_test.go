package packet

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestHeaderVectors(t *testing.T) { runVectors(t, "header.txt") }

func TestVarint(t *testing.T) {
	tests := []struct {
		name  string
		value int
		enc   []byte
	}{
		{name: "zero", value: 0, enc: []byte{0x00}},
		{name: "one-byte-max", value: 127, enc: []byte{0x7f}},
		{name: "two-byte-min", value: 128, enc: []byte{0x80, 0x01}},
		{name: "two-byte-max", value: 16383, enc: []byte{0xff, 0x7f}},
		{name: "three-byte-min", value: 16384, enc: []byte{0x80, 0x80, 0x01}},
		{name: "three-byte-max", value: 2097151, enc: []byte{0xff, 0xff, 0x7f}},
		{name: "four-byte-min", value: 2097152, enc: []byte{0x80, 0x80, 0x80, 0x01}},
		{name: "four-byte-max", value: MaxRemaining, enc: []byte{0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppendVarint(nil, tc.value); !bytes.Equal(got, tc.enc) {
				t.Errorf("AppendVarint(%d) = % x, want % x", tc.value, got, tc.enc)
			}
			if got := SizeVarint(tc.value); got != len(tc.enc) {
				t.Errorf("SizeVarint(%d) = %d, want %d", tc.value, got, len(tc.enc))
			}
			v, n, err := ParseVarint(append(tc.enc, 0xff))
			if err != nil || v != tc.value || n != len(tc.enc) {
				t.Errorf("ParseVarint = %d, %d, %v; want %d, %d, nil", v, n, err, tc.value, len(tc.enc))
			}
			// Every proper prefix is a short buffer, never a value.
			for i := range len(tc.enc) - 1 {
				if _, _, err := ParseVarint(tc.enc[:i+1]); err != ErrShortBuffer {
					t.Errorf("ParseVarint(% x) error %v, want ErrShortBuffer", tc.enc[:i+1], err)
				}
			}
		})
	}
}

func TestParseVarintErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{name: "empty", in: nil, want: ErrShortBuffer},
		{name: "continued", in: []byte{0x80}, want: ErrShortBuffer},
		{name: "non-minimal-two", in: []byte{0x80, 0x00}, want: ErrMalformedVarint},
		{name: "non-minimal-four", in: []byte{0xff, 0x80, 0x80, 0x00}, want: ErrMalformedVarint},
		{name: "five-bytes", in: []byte{0x80, 0x80, 0x80, 0x80, 0x01}, want: ErrMalformedVarint},
		{name: "four-continued", in: []byte{0xff, 0xff, 0xff, 0xff}, want: ErrMalformedVarint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseVarint(tc.in); err != tc.want {
				t.Errorf("ParseVarint(% x) error %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestAppendVarintPanics(t *testing.T) {
	for _, n := range []int{-1, MaxRemaining + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendVarint(%d) did not panic", n)
				}
			}()
			AppendVarint(nil, n)
		}()
	}
}

// errReader fails with err after its bytes.
type errReader struct {
	b   []byte
	err error
}

func (r *errReader) ReadByte() (byte, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func TestReadFixedHeader(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		in      []byte
		err     error // what the reader returns after in
		maxSize int
		want    FixedHeader
		wantErr error
	}{
		{name: "eof-first-byte", err: io.EOF, wantErr: io.EOF},
		{name: "eof-after-type", in: []byte{0x30}, err: io.EOF, wantErr: io.ErrUnexpectedEOF},
		{name: "eof-inside-varint", in: []byte{0x30, 0x80}, err: io.EOF, wantErr: io.ErrUnexpectedEOF},
		{name: "reader-error-first", err: errBoom, wantErr: errBoom},
		{name: "reader-error-later", in: []byte{0x30, 0xff}, err: errBoom, wantErr: errBoom},
		{name: "publish", in: []byte{0x3d, 0x80, 0x01}, want: FixedHeader{Type: TypePublish, Flags: 0xd, Remaining: 128}},
		{name: "subscribe", in: []byte{0x82, 0x00}, want: FixedHeader{Type: TypeSubscribe, Flags: 2}},
		{name: "auth", in: []byte{0xf0, 0x00}, want: FixedHeader{Type: TypeAuth}},
		{name: "max-remaining", in: []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, want: FixedHeader{Type: TypePublish, Remaining: MaxRemaining}},
		{name: "within-max", in: []byte{0x30, 0x7e}, maxSize: 128, want: FixedHeader{Type: TypePublish, Remaining: 126}},
		{name: "over-max", in: []byte{0x30, 0x7f}, maxSize: 128, wantErr: ErrPacketTooLarge},
		{name: "reserved-type", in: []byte{0x00, 0x00}, wantErr: ErrReservedType},
		{name: "publish-qos3", in: []byte{0x37, 0x00}, wantErr: ErrInvalidQoS},
		{name: "pubrel-flags", in: []byte{0x63, 0x02}, wantErr: ErrInvalidFlags},
		{name: "disconnect-flags", in: []byte{0xe2, 0x00}, wantErr: ErrInvalidFlags},
		{name: "non-minimal", in: []byte{0x30, 0x80, 0x80, 0x00}, wantErr: ErrMalformedVarint},
		{name: "five-bytes", in: []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, wantErr: ErrMalformedVarint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err
			if err == nil {
				err = errBoom // reading past the header would show
			}
			h, gotErr := ReadFixedHeader(&errReader{b: tc.in, err: err}, tc.maxSize)
			if gotErr != tc.wantErr || h != tc.want {
				t.Fatalf("ReadFixedHeader = %+v, %v; want %+v, %v", h, gotErr, tc.want, tc.wantErr)
			}
			if tc.err != nil {
				return
			}
			h, n, gotErr := ParseFixedHeader(tc.in, tc.maxSize)
			if gotErr != tc.wantErr || h != tc.want {
				t.Fatalf("ParseFixedHeader = %+v, %v; want %+v, %v", h, gotErr, tc.want, tc.wantErr)
			}
			if gotErr == nil {
				if n != len(tc.in) || h.Size() != n {
					t.Fatalf("ParseFixedHeader used %d bytes, Size %d, want %d", n, h.Size(), len(tc.in))
				}
				if enc := AppendFixedHeader(nil, h); !bytes.Equal(enc, tc.in) {
					t.Fatalf("AppendFixedHeader = % x, want % x", enc, tc.in)
				}
			}
		})
	}
}

func TestParseFixedHeaderShort(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "type-only", in: []byte{0x30}},
		{name: "varint-open", in: []byte{0x30, 0x80}},
		{name: "varint-three-open", in: []byte{0x30, 0x80, 0x80, 0x80}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseFixedHeader(tc.in, 0); err != ErrShortBuffer {
				t.Fatalf("ParseFixedHeader(% x) error %v, want ErrShortBuffer", tc.in, err)
			}
		})
	}
}

func TestDecodeChecksHeader(t *testing.T) {
	tests := []struct {
		name string
		h    FixedHeader
		body []byte
		v    Version
		want error
	}{
		{name: "body-shorter", h: FixedHeader{Type: TypePuback, Remaining: 2}, body: []byte{0}, v: V311, want: ErrTruncated},
		{name: "body-longer", h: FixedHeader{Type: TypePuback, Remaining: 2}, body: []byte{0, 1, 2}, v: V311, want: ErrTrailingBytes},
		{name: "bad-version", h: FixedHeader{Type: TypePuback, Remaining: 2}, body: []byte{0, 1}, v: 6, want: ErrUnsupportedVersion},
		{name: "bad-flags", h: FixedHeader{Type: TypePuback, Flags: 1, Remaining: 2}, body: []byte{0, 1}, v: V5, want: ErrInvalidFlags},
		{name: "flags-over-four-bits", h: FixedHeader{Type: TypePublish, Flags: 0x10, Remaining: 3}, body: []byte{0, 1, 'a'}, v: V311, want: ErrInvalidFlags},
		{name: "reserved-type", h: FixedHeader{}, v: V5, want: ErrReservedType},
		{name: "type-over-four-bits", h: FixedHeader{Type: 16}, v: V5, want: ErrWrongType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.h, tc.body, tc.v); err != tc.want {
				t.Fatalf("Decode error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeWrongStruct(t *testing.T) {
	h := FixedHeader{Type: TypePuback, Remaining: 2}
	var p Publish
	if err := p.Decode(h, []byte{0, 1}, V5); err != ErrWrongType {
		t.Fatalf("Publish.Decode of a PUBACK: %v, want ErrWrongType", err)
	}
	var a Ack
	if err := a.Decode(FixedHeader{Type: TypePingreq}, nil, V5); err != ErrWrongType {
		t.Fatalf("Ack.Decode of a PINGREQ: %v, want ErrWrongType", err)
	}
}
