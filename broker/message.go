package broker

import (
	"sync/atomic"
	"time"

	"github.com/midgemq/midge/packet"
)

// MsgID identifies a message across the broker: Node is the node that
// accepted it (0 on a single node) and Seq a number that node never reuses
// while it runs.
type MsgID struct {
	Node uint32
	Seq  uint64
}

// Message is an application message as the broker routes it. A Message is
// immutable once published: every delivery shares it, so nothing may modify
// it, its Payload or its Properties after Router.Publish.
type Message struct {
	ID      MsgID
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool

	// Publisher is the client id of the session that published the message;
	// empty for messages the broker makes itself.
	Publisher string

	// Properties are the MQTT 5.0 properties forwarded to subscribers
	// (payload format, content type, response topic, correlation data, user
	// properties). Nil means none.
	Properties *packet.Properties

	// Expiry is the deadline after which the message is no longer
	// delivered, in Unix nanoseconds; 0 means never. (An integer rather
	// than a time.Time keeps a Message in the 112-byte size class.)
	Expiry int64

	// routed is when the router took the message (monoNow), the start of
	// its delivery latency; 0 for a message read back from the store.
	routed int64
}

// Expired reports whether m's expiry deadline has passed at now: an
// expired message is no longer delivered [MQTT-3.3.2-5].
func (m *Message) Expired(now time.Time) bool {
	return m.Expiry != 0 && now.UnixNano() >= m.Expiry
}

// setExpiry sets m's deadline from its Message Expiry Interval property,
// counted from now [MQTT-3.3.2-5].
func (m *Message) setExpiry(now time.Time) {
	if p := m.Properties; p != nil && p.HasMessageExpiryInterval {
		m.Expiry = now.Add(time.Duration(p.MessageExpiryInterval) * time.Second).UnixNano()
	}
}

// forwardProperties copies the properties of an incoming PUBLISH that travel
// with the message to its subscribers. It returns nil when there are none,
// so that a 3.1.1 message costs nothing.
func forwardProperties(p *packet.Properties) *packet.Properties {
	if !p.HasPayloadFormatIndicator && p.ContentType == "" && p.ResponseTopic == "" &&
		p.CorrelationData == nil && len(p.UserProperties) == 0 && !p.HasMessageExpiryInterval {
		return nil
	}
	return &packet.Properties{
		PayloadFormatIndicator:    p.PayloadFormatIndicator,
		HasPayloadFormatIndicator: p.HasPayloadFormatIndicator,
		MessageExpiryInterval:     p.MessageExpiryInterval,
		HasMessageExpiryInterval:  p.HasMessageExpiryInterval,
		ContentType:               p.ContentType,
		ResponseTopic:             p.ResponseTopic,
		CorrelationData:           p.CorrelationData,
		UserProperties:            p.UserProperties,
	}
}

// msgSeq hands out message ids on this node.
type msgSeq struct {
	n atomic.Uint64
}

func (q *msgSeq) next() MsgID {
	return MsgID{Seq: q.n.Add(1)}
}

// resume makes the sequence continue after last, and after the current
// time in nanoseconds, so that ids stay unique across restarts even when
// the store did not keep the last one.
func (q *msgSeq) resume(last uint64) {
	q.n.Store(max(last, uint64(time.Now().UnixNano())))
}
