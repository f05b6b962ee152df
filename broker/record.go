package broker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/midgemq/midge/packet"
)

// Messages are stored in a binary record: a format byte, the id, the expiry
// deadline and the publisher, then the message as an MQTT 5.0 PUBLISH
// packet, which carries the topic, QoS, RETAIN flag, payload and the
// forwarded properties in the codec's own compact form.
//
//	format   1 byte  (messageRecordV1)
//	node     4 bytes big endian
//	seq      8 bytes big endian
//	expiry   8 bytes big endian, Unix nanoseconds; 0 for none
//	pub len  2 bytes big endian, then the publisher's client id
//	PUBLISH  the rest
//
// Records that start with '{' are the JSON of earlier versions and are
// still read.
const messageRecordV1 = 1

// recordPacketID stands in for the packet id, which a stored message does
// not have, in the PUBLISH of a QoS 1 or 2 record.
const recordPacketID = 1

var errShortRecord = errors.New("message record too short")

// appendMessage appends the record of m to dst.
func appendMessage(dst []byte, m *Message) ([]byte, error) {
	dst = append(dst, messageRecordV1)
	dst = binary.BigEndian.AppendUint32(dst, m.ID.Node)
	dst = binary.BigEndian.AppendUint64(dst, m.ID.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Expiry))
	if len(m.Publisher) > 0xffff {
		return dst, fmt.Errorf("publisher id of %d bytes", len(m.Publisher))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.Publisher)))
	dst = append(dst, m.Publisher...)
	p := packet.Publish{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, Payload: m.Payload, PacketID: recordPacketID}
	if m.Properties != nil {
		p.Properties = *m.Properties
	}
	return p.Append(dst, packet.V5)
}

// decodeMessage decodes a record made by appendMessage, or the JSON of an
// earlier version. The message keeps b: its payload aliases it.
func decodeMessage(b []byte) (*Message, error) {
	if len(b) > 0 && b[0] == '{' {
		m := new(Message)
		if err := json.Unmarshal(b, m); err != nil {
			return nil, err
		}
		return m, nil
	}
	const head = 1 + 4 + 8 + 8 + 2
	if len(b) < head {
		return nil, errShortRecord
	}
	if b[0] != messageRecordV1 {
		return nil, fmt.Errorf("unknown message record format %d", b[0])
	}
	m := &Message{ID: MsgID{Node: binary.BigEndian.Uint32(b[1:5]), Seq: binary.BigEndian.Uint64(b[5:13])}}
	m.Expiry = int64(binary.BigEndian.Uint64(b[13:21]))
	n := int(binary.BigEndian.Uint16(b[21:23]))
	if len(b) < head+n {
		return nil, errShortRecord
	}
	m.Publisher = string(b[head : head+n])
	rest := b[head+n:]
	h, hn, err := packet.ParseFixedHeader(rest, 0)
	if err != nil {
		return nil, fmt.Errorf("message record: %w", err)
	}
	if len(rest) != hn+h.Remaining {
		return nil, errShortRecord
	}
	var p packet.Publish
	if err := p.Decode(h, rest[hn:], packet.V5); err != nil {
		return nil, fmt.Errorf("message record: %w", err)
	}
	m.Topic, m.QoS, m.Retain, m.Payload = p.Topic, p.QoS, p.Retain, p.Payload
	m.Properties = forwardProperties(&p.Properties)
	return m, nil
}

// Queue entries are stored in a binary record too: a format byte, then
// the fields of OutboundState (without the message, which is stored once,
// by id) as unsigned varints and, for the shared subscription, a length
// and bytes. The key holds the sequence number.
//
//	format 1 byte (entryRecordV1)
//	flags  1 byte: bit 0 retain, bit 1 released
//	qos, packet id, message node, message seq, expiry (Unix ns, 0 none),
//	number of identifiers, each identifier: uvarints
//	shared: uvarint length, then the bytes
const entryRecordV1 = 1

var errBadEntry = errors.New("malformed queue entry")

// appendEntry appends the record of rec (its Message is not stored).
func appendEntry(dst []byte, rec *OutboundState) []byte {
	var flags byte
	if rec.Retain {
		flags |= 1
	}
	if rec.Released {
		flags |= 2
	}
	dst = append(dst, entryRecordV1, flags)
	for _, v := range []uint64{uint64(rec.QoS), uint64(rec.PacketID), uint64(rec.MessageID.Node), rec.MessageID.Seq,
		uint64(rec.Expiry), uint64(len(rec.Identifiers))} {
		dst = binary.AppendUvarint(dst, v)
	}
	for _, id := range rec.Identifiers {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	dst = binary.AppendUvarint(dst, uint64(len(rec.Shared)))
	return append(dst, rec.Shared...)
}

// decodeEntry decodes a record made by appendEntry, or the JSON of an
// earlier version.
func decodeEntry(b []byte, rec *OutboundState) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, rec)
	}
	if len(b) < 2 || b[0] != entryRecordV1 {
		return errBadEntry
	}
	*rec = OutboundState{Retain: b[1]&1 != 0, Released: b[1]&2 != 0}
	b = b[2:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	var vals [6]uint64
	for i := range vals {
		v, ok := next()
		if !ok {
			return errBadEntry
		}
		vals[i] = v
	}
	if vals[0] > 2 || vals[1] > 0xffff || vals[2] > 0xffffffff || vals[5] > 1<<16 {
		return errBadEntry
	}
	rec.QoS, rec.PacketID = byte(vals[0]), uint16(vals[1])
	rec.MessageID = MsgID{Node: uint32(vals[2]), Seq: vals[3]}
	rec.Expiry = int64(vals[4])
	for range vals[5] {
		id, ok := next()
		if !ok || id > 0xffffffff {
			return errBadEntry
		}
		rec.Identifiers = append(rec.Identifiers, uint32(id))
	}
	n, ok := next()
	if !ok || n != uint64(len(b)) {
		return errBadEntry
	}
	rec.Shared = string(b)
	return nil
}
