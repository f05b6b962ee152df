package packet

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// The fuzz targets take a whole packet (fixed header included), the version to decode it for, and a split point.
// Each family target rewrites the type nibble so the fuzzer spends its time on that family's decoder. The
// invariants (checkPacket): no panic; ParseFixedHeader on a prefix returns ErrShortBuffer or the same answer as on
// the whole; every decode error is a *ReasonError; a decoded packet re-encodes, the re-encoding decodes to the same
// packet, and encoding that again gives the same bytes.

// seedVectors adds the valid vectors of every version, with the type nibble rewritten by keep (nil keeps all).
func seedVectors(f *testing.F, keep func(Type) bool) {
	for _, vc := range loadVectors(f) {
		if len(vc.input) == 0 || (keep != nil && !keep(Type(vc.input[0]>>4))) {
			continue
		}
		f.Add(vc.input, byte(vc.version), uint16(len(vc.input)/2))
	}
}

// fuzzVersion maps any byte to a version, mostly valid ones. The levels of V31, V311 and V5 map to themselves, so
// a seed's version byte (byte(vc.version)) decodes it for the version its vector was written for.
func fuzzVersion(b byte) Version {
	if v := Version(b); v.Valid() {
		return v
	}
	switch b % 4 {
	case 0:
		return V31
	case 1:
		return V311
	case 2:
		return V5
	}
	return Version(b)
}

func checkPacket(t *testing.T, data []byte, v Version, split int) {
	h, n, err := ParseFixedHeader(data, 0)
	checkSplit(t, data, split, h, n, err)
	if err != nil {
		return
	}
	// A body shorter than its Remaining Length would only test the length check; decode it as if the header had
	// said so, which lets the fuzzer reach the body decoders without fixing up lengths.
	body := data[n:]
	if len(body) >= h.Remaining {
		body = body[:h.Remaining]
	} else {
		h.Remaining = len(body)
	}
	p, err := Decode(h, body, v)
	if err != nil {
		var re *ReasonError
		if !errors.As(err, &re) || !re.Code.IsError() {
			t.Fatalf("decode error %v is not a *ReasonError with a failure code", err)
		}
		return
	}
	enc, err := p.Append(nil, v)
	if err != nil {
		t.Fatalf("decoded %s does not re-encode: %v", render(p), err)
	}
	p2, err := decodeVector(enc, v, len(enc))
	if err != nil {
		t.Fatalf("re-encoding of %s does not decode: %v\n% x", render(p), err, enc)
	}
	if !reflect.DeepEqual(p, p2) {
		t.Fatalf("round trip:\n got: %s\nwant: %s", render(p2), render(p))
	}
	enc2, err := p2.Append(nil, v)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("second encoding differs: % x, %v; first % x", enc2, err, enc)
	}
}

// checkSplit feeds ParseFixedHeader the first part of data, as a connection that has read only that far would.
func checkSplit(t *testing.T, data []byte, split int, h FixedHeader, n int, err error) {
	if len(data) == 0 {
		return
	}
	split %= len(data)
	h2, n2, err2 := ParseFixedHeader(data[:split], 0)
	if err2 == ErrShortBuffer {
		if err == nil && split >= n {
			t.Fatalf("ErrShortBuffer for %d bytes, but the header is %d bytes", split, n)
		}
		return
	}
	if err2 != err || h2 != h || n2 != n {
		t.Fatalf("prefix of %d bytes: %+v, %d, %v; whole: %+v, %d, %v", split, h2, n2, err2, h, n, err)
	}
}

// fuzzFamily runs checkPacket with the packet type forced into types.
func fuzzFamily(f *testing.F, types ...Type) {
	keep := func(t Type) bool {
		for _, x := range types {
			if x == t {
				return true
			}
		}
		return false
	}
	seedVectors(f, keep)
	f.Fuzz(func(t *testing.T, data []byte, version byte, split uint16) {
		if len(data) > 0 {
			data = bytes.Clone(data)
			data[0] = byte(types[int(data[0]>>4)%len(types)])<<4 | data[0]&0x0f
		}
		checkPacket(t, data, fuzzVersion(version), int(split))
	})
}

// One target per decoder; the four acknowledgements share the Ack decoder.

func FuzzDecodeConnect(f *testing.F) { fuzzFamily(f, TypeConnect) }

func FuzzDecodeConnack(f *testing.F) { fuzzFamily(f, TypeConnack) }

func FuzzDecodePublish(f *testing.F) { fuzzFamily(f, TypePublish) }

func FuzzDecodeAck(f *testing.F) { fuzzFamily(f, TypePuback, TypePubrec, TypePubrel, TypePubcomp) }

func FuzzDecodeSubscribe(f *testing.F) { fuzzFamily(f, TypeSubscribe) }

func FuzzDecodeSuback(f *testing.F) { fuzzFamily(f, TypeSuback) }

func FuzzDecodeUnsubscribe(f *testing.F) { fuzzFamily(f, TypeUnsubscribe) }

func FuzzDecodeUnsuback(f *testing.F) { fuzzFamily(f, TypeUnsuback) }

func FuzzDecodePingreq(f *testing.F) { fuzzFamily(f, TypePingreq) }

func FuzzDecodePingresp(f *testing.F) { fuzzFamily(f, TypePingresp) }

func FuzzDecodeDisconnect(f *testing.F) { fuzzFamily(f, TypeDisconnect) }

func FuzzDecodeAuth(f *testing.F) { fuzzFamily(f, TypeAuth) }

// TestFuzzSeedsCoverEveryVersion checks that the decode targets are seeded, as seedVectors and fuzzVersion see the
// vectors, with a packet that decodes for every version each type exists in.
func TestFuzzSeedsCoverEveryVersion(t *testing.T) {
	for _, v := range []Version{V31, V311, V5} {
		if got := fuzzVersion(byte(v)); got != v {
			t.Errorf("fuzzVersion(%d) = %v, want %v", byte(v), got, v)
		}
	}
	decoded := make(map[Type]map[Version]bool)
	for _, vc := range loadVectors(t) {
		if len(vc.input) == 0 {
			continue
		}
		v := fuzzVersion(byte(vc.version))
		h, n, err := ParseFixedHeader(vc.input, 0)
		if err != nil || len(vc.input)-n != h.Remaining {
			continue
		}
		p, err := Decode(h, vc.input[n:], v)
		if err != nil {
			continue
		}
		if c, ok := p.(*Connect); ok {
			v = c.Version // a CONNECT carries its own version
		}
		if decoded[h.Type] == nil {
			decoded[h.Type] = make(map[Version]bool)
		}
		decoded[h.Type][v] = true
	}
	for typ := TypeConnect; typ <= TypeAuth; typ++ {
		versions := []Version{V31, V311, V5}
		if typ == TypeAuth {
			versions = []Version{V5}
		}
		for _, v := range versions {
			if !decoded[typ][v] {
				t.Errorf("no seed of type %v decodes for version %v", typ, v)
			}
		}
	}
}

// FuzzVarint checks that ParseVarint accepts exactly the shortest encodings AppendVarint writes.
func FuzzVarint(f *testing.F) {
	for _, b := range [][]byte{{0}, {0x7f}, {0x80, 0x01}, {0xff, 0x7f}, {0x80, 0x80, 0x01}, {0xff, 0xff, 0xff, 0x7f},
		{0x80, 0x00}, {0x80, 0x80, 0x80, 0x80, 0x01}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := ParseVarint(b)
		if err != nil {
			if err != ErrShortBuffer && err != ErrMalformedVarint {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if v < 0 || v > MaxRemaining {
			t.Fatalf("value %d out of range", v)
		}
		if enc := AppendVarint(nil, v); !bytes.Equal(enc, b[:n]) || SizeVarint(v) != n {
			t.Fatalf("ParseVarint(% x) = %d, but AppendVarint writes % x", b[:n], v, enc)
		}
	})
}

// FuzzFixedHeader checks ReadFixedHeader and ParseFixedHeader against each other, with and without a maximum
// size, and the split invariant.
func FuzzFixedHeader(f *testing.F) {
	seedVectors(f, nil)
	f.Fuzz(func(t *testing.T, data []byte, maxSize byte, split uint16) {
		max := int(maxSize)
		h, n, err := ParseFixedHeader(data, max)
		r := bytes.NewReader(data)
		h2, err2 := ReadFixedHeader(r, max)
		switch {
		case err == ErrShortBuffer:
			if err2 == nil {
				t.Fatalf("ReadFixedHeader succeeded where ParseFixedHeader needs more bytes")
			}
		case err != err2 || h != h2:
			t.Fatalf("ReadFixedHeader %+v, %v; ParseFixedHeader %+v, %v", h2, err2, h, err)
		case err == nil && len(data)-r.Len() != n:
			t.Fatalf("ReadFixedHeader read %d bytes, ParseFixedHeader used %d", len(data)-r.Len(), n)
		case err == nil && max > 0 && n+h.Remaining > max:
			t.Fatalf("header %+v accepted over max size %d", h, max)
		}
		if max == 0 {
			checkSplit(t, data, int(split), h, n, err)
		}
	})
}
