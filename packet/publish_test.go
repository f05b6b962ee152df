package packet

import (
	"bytes"
	"testing"
)

// TestPublishReuse decodes different packets into one Publish, as a connection does, and checks that nothing of
// an earlier packet survives.
func TestPublishVectors(t *testing.T) { runVectors(t, "publish.txt") }

func TestPublishReuse(t *testing.T) {
	rich := &Publish{QoS: 1, PacketID: 3, Topic: "rich", Payload: []byte("p"), Properties: Properties{
		UserProperties: []UserProperty{{Key: "k"}}, SubscriptionIdentifiers: []uint32{4}, HasTopicAlias: true,
		TopicAlias: 2}}
	plain := &Publish{Topic: "plain"}
	var p Publish
	for _, want := range []*Publish{rich, plain, rich} {
		enc, err := want.Append(nil, V5)
		if err != nil {
			t.Fatal(err)
		}
		h, n, err := ParseFixedHeader(enc, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Decode(h, enc[n:], V5); err != nil {
			t.Fatal(err)
		}
		if render(&p) != render(want) {
			t.Fatalf("got %s, want %s", render(&p), render(want))
		}
	}
}

func TestPublishPayloadAliasesBody(t *testing.T) {
	enc := []byte{0x30, 0x05, 0x00, 0x01, 'a', 'h', 'i'}
	var p Publish
	if err := p.Decode(FixedHeader{Type: TypePublish, Remaining: 5}, enc[2:], V311); err != nil {
		t.Fatal(err)
	}
	enc[5] = 'H'
	if string(p.Payload) != "Hi" {
		t.Fatalf("Payload %q does not alias the body", p.Payload)
	}
	enc[4] = 'b'
	if p.Topic != "a" {
		t.Fatalf("Topic %q is not a copy", p.Topic)
	}
}

// TestPublishAllocs asserts the hot-path claims: Append into a large enough dst does not allocate, and Decode into
// a reused Publish allocates only the topic string. Properties with strings or slices (User Property, Subscription
// Identifier, ...) allocate on decode too; a client's PUBLISH to the broker carries none of them usually.
func TestPublishAllocs(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 64)
	tests := []struct {
		name string
		p    Publish
		v    Version
	}{
		{name: "qos0/v=3.1.1", p: Publish{Topic: "sensors/1/temp", Payload: payload}, v: V311},
		{name: "qos1/v=3.1.1", p: Publish{Topic: "sensors/1/temp", QoS: 1, PacketID: 7, Payload: payload}, v: V311},
		{name: "qos0/v=5.0", p: Publish{Topic: "sensors/1/temp", Payload: payload}, v: V5},
		{name: "qos1/v=5.0", p: Publish{Topic: "sensors/1/temp", QoS: 1, PacketID: 7, Payload: payload,
			Properties: Properties{MessageExpiryInterval: 60, HasMessageExpiryInterval: true, TopicAlias: 3,
				HasTopicAlias: true, PayloadFormatIndicator: 1, HasPayloadFormatIndicator: true}}, v: V5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, 0, 256)
			var err error
			if n := testing.AllocsPerRun(100, func() {
				_, err = tc.p.Append(buf[:0], tc.v)
			}); n != 0 || err != nil {
				t.Errorf("Append: %v allocs, error %v; want 0", n, err)
			}
			enc, _ := tc.p.Append(nil, tc.v)
			h, n, _ := ParseFixedHeader(enc, 0)
			body := enc[n:]
			var p Publish
			if n := testing.AllocsPerRun(100, func() {
				err = p.Decode(h, body, tc.v)
			}); n > 1 || err != nil {
				t.Errorf("Decode into a reused Publish: %v allocs, error %v; want <= 1 (the topic)", n, err)
			}
		})
	}
}

func benchPublishes() []struct {
	name string
	p    Publish
	v    Version
} {
	props := Properties{MessageExpiryInterval: 3600, HasMessageExpiryInterval: true, PayloadFormatIndicator: 1,
		HasPayloadFormatIndicator: true, TopicAlias: 4, HasTopicAlias: true, SubscriptionIdentifiers: []uint32{12}}
	var out []struct {
		name string
		p    Publish
		v    Version
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"1KiB", 1024}} {
		payload := bytes.Repeat([]byte("m"), size.n)
		out = append(out,
			struct {
				name string
				p    Publish
				v    Version
			}{"payload=" + size.name + "/v=3.1.1", Publish{Topic: "home/kitchen/temperature", QoS: 1, PacketID: 42,
				Payload: payload}, V311},
			struct {
				name string
				p    Publish
				v    Version
			}{"payload=" + size.name + "/v=5", Publish{Topic: "home/kitchen/temperature", QoS: 1, PacketID: 42,
				Payload: payload, Properties: props}, V5})
	}
	return out
}

func BenchmarkPublishAppend(b *testing.B) {
	for _, bc := range benchPublishes() {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 2048)
			enc, _ := bc.p.Append(nil, bc.v)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = bc.p.Append(buf[:0], bc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPublishDecode(b *testing.B) {
	for _, bc := range benchPublishes() {
		b.Run(bc.name, func(b *testing.B) {
			enc, _ := bc.p.Append(nil, bc.v)
			h, n, _ := ParseFixedHeader(enc, 0)
			body := enc[n:]
			var p Publish
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Decode(h, body, bc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
