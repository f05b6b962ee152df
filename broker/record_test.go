package broker

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/midgemq/midge/packet"
)

func TestMessageRecordRoundTrip(t *testing.T) {
	msgs := []*Message{
		{ID: MsgID{Seq: 1}, Topic: "a", QoS: 0},
		{ID: MsgID{Node: 7, Seq: 1 << 60}, Topic: "sensors/kitchen/temp", Payload: []byte("21.5"), QoS: 1, Retain: true,
			Publisher: "dev-1", Expiry: time.Unix(1800000000, 123).UnixNano()},
		{ID: MsgID{Seq: 3}, Topic: "v5/props", Payload: make([]byte, 70000), QoS: 2, Properties: &packet.Properties{
			PayloadFormatIndicator: 1, HasPayloadFormatIndicator: true,
			MessageExpiryInterval: 60, HasMessageExpiryInterval: true,
			ContentType: "text/plain", ResponseTopic: "reply/here", CorrelationData: []byte{1, 2, 3},
			UserProperties: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}},
		}},
	}
	for _, m := range msgs {
		b, err := appendMessage(nil, m)
		if err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		got, err := decodeMessage(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", m.Topic, err)
		}
		if got.Expiry != m.Expiry {
			t.Fatalf("%s: expiry %v, want %v", m.Topic, got.Expiry, m.Expiry)
		}
		got.Expiry = m.Expiry
		if len(got.Payload) == 0 && len(m.Payload) == 0 {
			got.Payload = m.Payload
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
		}
		// Truncated records are errors, never panics.
		for i := range len(b) {
			if _, err := decodeMessage(b[:i]); err == nil {
				t.Fatalf("%s: %d of %d bytes decoded without error", m.Topic, i, len(b))
			}
		}
	}
}

// TestMessageRecordReadsJSON: stores written before the binary record
// still load.
func TestMessageRecordReadsJSON(t *testing.T) {
	m := &Message{ID: MsgID{Seq: 9}, Topic: "old", Payload: []byte("x"), QoS: 1}
	b, _ := json.Marshal(m)
	got, err := decodeMessage(b)
	if err != nil || got.Topic != "old" || string(got.Payload) != "x" || got.ID != m.ID {
		t.Fatalf("decode JSON record: %+v, %v", got, err)
	}
}

// FuzzMessageRecord: a damaged record is an error, never a panic, and a
// record that decodes encodes back to an equal message.
func FuzzMessageRecord(f *testing.F) {
	b, _ := appendMessage(nil, &Message{ID: MsgID{Seq: 1}, Topic: "a/b", Payload: []byte("p"), QoS: 1, Publisher: "c"})
	f.Add(b)
	f.Add([]byte(`{"Topic":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil || b[0] == '{' {
			return
		}
		again, err := appendMessage(nil, m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := decodeMessage(again)
		if err != nil || m2.Topic != m.Topic || string(m2.Payload) != string(m.Payload) || m2.ID != m.ID {
			t.Fatalf("second round trip: %+v, %v", m2, err)
		}
	})
}

func TestEntryRecordRoundTrip(t *testing.T) {
	for _, rec := range []OutboundState{
		{MessageID: MsgID{Seq: 1}, QoS: 1},
		{MessageID: MsgID{Node: 3, Seq: 1 << 62}, QoS: 2, Retain: true, Released: true, PacketID: 65535,
			Expiry: time.Unix(1800000000, 5).UnixNano(), Identifiers: []uint32{1, 268435455}, Shared: "$share/g/a/b"},
	} {
		b := appendEntry(nil, &rec)
		var got OutboundState
		if err := decodeEntry(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, rec)
		}
		for i := range len(b) {
			if err := decodeEntry(b[:i], &got); err == nil {
				t.Fatalf("%d of %d bytes decoded without error", i, len(b))
			}
		}
	}
	// Entries of earlier stores are JSON.
	old, _ := json.Marshal(OutboundState{MessageID: MsgID{Seq: 7}, QoS: 1, PacketID: 9})
	var got OutboundState
	if err := decodeEntry(old, &got); err != nil || got.PacketID != 9 || got.MessageID.Seq != 7 {
		t.Fatalf("JSON entry: %+v, %v", got, err)
	}
}

// FuzzEntryRecord: a damaged entry is an error, never a panic.
func FuzzEntryRecord(f *testing.F) {
	f.Add(appendEntry(nil, &OutboundState{MessageID: MsgID{Seq: 1}, QoS: 2, Identifiers: []uint32{4}, Shared: "$share/g/t"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec OutboundState
		if decodeEntry(b, &rec) != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		var again OutboundState
		if err := decodeEntry(appendEntry(nil, &rec), &again); err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("second round trip: %+v, %v", again, err)
		}
	})
}
