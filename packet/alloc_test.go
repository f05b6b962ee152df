package packet

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// allocBoundFactor and allocBoundFixed are the bound the Decode documentation states: Decode allocates at most
// allocBoundFactor bytes per body byte plus allocBoundFixed bytes.
const (
	allocBoundFactor = 9
	allocBoundFixed  = 32 << 10
)

// bytesAllocated returns the bytes allocated by one call of f, measured after a GC. TotalAlloc counts the whole
// process; no other test of this package runs meanwhile (none is parallel), and the bound's 32 KiB covers the
// runtime's own allocations.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeAllocationBound decodes worst-case bodies of about 100 KB (and smaller ones, where allocation size
// classes round differently), made of the smallest list elements each decoder accepts, and checks the bytes Decode
// allocates against the documented bound.
func TestDecodeAllocationBound(t *testing.T) {
	for _, size := range []int{100 << 10, 40000, 9000, 2500, 700} {
		testAllocationBound(t, size)
	}
}

func testAllocationBound(t *testing.T, size int) {
	rep := func(unit []byte) []byte { return bytes.Repeat(unit, size/len(unit)) }
	emptyUser := []byte{propUserProperty, 0, 0, 0, 0}
	oneByteUser := []byte{propUserProperty, 0, 1, 'k', 0, 1, 'v'}
	props := func(p []byte) []byte { return append(AppendVarint(nil, len(p)), p...) }
	// One non-empty string makes the decode copy the whole body, then every other element is as small as it can be.
	withString := func(first, rest []byte) []byte { return append(bytes.Clone(first), rest...) }
	tests := []struct {
		name string
		t    Type
		v    Version
		body []byte
	}{
		{"publish/empty-user-properties", TypePublish, V5,
			append([]byte{0, 1, 't'}, props(rep(emptyUser))...)},
		{"publish/user-properties", TypePublish, V5,
			append([]byte{0, 1, 't'}, props(rep(oneByteUser))...)},
		{"publish/subscription-identifiers", TypePublish, V5,
			append([]byte{0, 1, 't'}, props(rep([]byte{propSubscriptionIdentifier, 1}))...)},
		{"connect/user-properties", TypeConnect, V5, func() []byte {
			b := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x04 | 0x02, 0, 60}, props(rep(emptyUser)[:size/2])...)
			b = append(b, 0, 1, 'c')
			b = append(b, props(rep(emptyUser)[:size/2])...)
			return append(b, 0, 1, 't', 0, 0)
		}()},
		{"connack/user-properties", TypeConnack, V5, append([]byte{0, 0}, props(rep(emptyUser))...)},
		{"puback/user-properties", TypePuback, V5, append([]byte{0, 1, 0}, props(rep(emptyUser))...)},
		{"disconnect/user-properties", TypeDisconnect, V5, append([]byte{0}, props(rep(emptyUser))...)},
		{"auth/user-properties", TypeAuth, V5, append([]byte{0}, props(rep(emptyUser))...)},
		{"subscribe/v5/empty-filters", TypeSubscribe, V5,
			append([]byte{0, 1, 0}, withString([]byte{0, 1, 'a', 0}, rep([]byte{0, 0, 0}))...)},
		{"subscribe/v311/one-byte-filters", TypeSubscribe, V311,
			append([]byte{0, 1}, rep([]byte{0, 1, 'a', 0})...)},
		{"subscribe/v5/user-properties", TypeSubscribe, V5,
			append(append([]byte{0, 1}, props(rep(emptyUser))...), 0, 1, 'a', 0)},
		{"suback/codes", TypeSuback, V5, append([]byte{0, 1, 0}, rep([]byte{0})...)},
		{"unsubscribe/v5/empty-filters", TypeUnsubscribe, V5,
			append([]byte{0, 1, 0}, withString([]byte{0, 1, 'a'}, rep([]byte{0, 0}))...)},
		{"unsubscribe/v311/one-byte-filters", TypeUnsubscribe, V311,
			append([]byte{0, 1}, rep([]byte{0, 1, 'a'})...)},
		{"unsuback/codes", TypeUnsuback, V5, append([]byte{0, 1, 0}, rep([]byte{0})...)},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
			h := FixedHeader{Type: tc.t, Flags: requiredFlags(tc.t), Remaining: len(tc.body)}
			if _, err := Decode(h, tc.body, tc.v); err != nil {
				t.Fatalf("worst case does not decode: %v", err)
			}
			var err error
			n := bytesAllocated(func() { _, err = Decode(h, tc.body, tc.v) })
			if err != nil {
				t.Fatal(err)
			}
			ratio := float64(n) / float64(len(tc.body))
			t.Logf("%d body bytes, %d allocated: %.2fx", len(tc.body), n, ratio)
			if n > allocBoundFactor*uint64(len(tc.body))+allocBoundFixed {
				t.Errorf("Decode allocated %d bytes for a %d-byte body (%.2fx), over the documented %d x body + %d",
					n, len(tc.body), ratio, allocBoundFactor, allocBoundFixed)
			}
		})
	}
}
