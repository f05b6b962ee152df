package broker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	var expiry int64
	if !m.Expiry.IsZero() {
		expiry = m.Expiry.UnixNano()
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(expiry))
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
	if exp := int64(binary.BigEndian.Uint64(b[13:21])); exp != 0 {
		m.Expiry = time.Unix(0, exp)
	}
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
