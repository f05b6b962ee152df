package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
)

// These tests check that an acknowledgement is only ever sent for what the
// store holds: a store write that fails, or a store over its size, turns
// into a failure code (5.0), or into a closed connection where 3.1 and
// 3.1.1 have no way to say it.

// failingWrites is a memory store whose Apply fails, applying nothing, as
// a broken disk would, while fail is set.
type failingWrites struct {
	*memory.Store
	fail atomic.Bool
}

func (f *failingWrites) Apply(b *store.Batch, sync bool) error {
	if f.fail.Load() {
		return errors.New("write error")
	}
	return f.Store.Apply(b, sync)
}

// startFailing starts a broker on a failingWrites store.
func startFailing(t *testing.T, opts broker.Options) (*testbroker.Broker, *failingWrites) {
	t.Helper()
	st := &failingWrites{Store: memory.New()}
	opts.Store = st
	return testbroker.Start(t, opts), st
}

// persistentConnect is the CONNECT of a session that outlives its
// connection, in version v.
func persistentConnect(v packet.Version, id string) *packet.Connect {
	if v == packet.V5 {
		return v5Connect(id, false, 3600)
	}
	return &packet.Connect{ClientID: id}
}

// dialConnect sends CONNECT p in version v and returns the connection and
// its CONNACK, whatever its code.
func dialConnect(t *testing.T, addr string, v packet.Version, p *packet.Connect) (*mqtttest.Conn, *packet.Connack) {
	t.Helper()
	c := mqtttest.Dial(t, addr, v)
	p.Version = v
	c.Send(p)
	return c, c.Expect(packet.TypeConnack).(*packet.Connack)
}

// ackKind is the acknowledgement of a PUBLISH of qos.
func ackKind(qos byte) packet.Type {
	if qos == 2 {
		return packet.TypePubrec
	}
	return packet.TypePuback
}

// completeQoS2 ends the QoS 2 exchange id of a publisher whose PUBREC came.
func completeQoS2(t *testing.T, c *mqtttest.Conn, id uint16) {
	t.Helper()
	c.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: id})
	expectAck(t, c, packet.TypePubcomp, id, packet.Success)
}

// versions are the protocol versions the tests repeat over.
var versions = []packet.Version{packet.V31, packet.V311, packet.V5}

// TestAckStoreFull: while the store is over MaxStoreBytes, a QoS 1 or 2
// PUBLISH is refused. A 5.0 publisher gets Quota exceeded. A 3.1 or 3.1.1
// publisher, which no acknowledgement can tell, gets none: its connection
// is closed, as a PUBACK or PUBREC would say the broker owns the message
// (3.1.1's [MQTT-4.3.2-2] [MQTT-4.3.3-2]). Either way the drop is counted and no
// subscriber gets the message.
func TestAckStoreFull(t *testing.T) {
	for _, v := range versions {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("%s/qos=%d", v, qos), func(t *testing.T) {
				st := &sizedStore{Store: memory.New()}
				st.size.Store(2000)
				b := testbroker.Start(t, broker.Options{Store: st, MaxStoreBytes: 1000})
				sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
				subscribeOK(t, sub, 1, packet.Subscription{Filter: "full/#", QoS: 2})

				pub, _ := mqtttest.Connect(t, b.Addr, v, &packet.Connect{ClientID: "pub", CleanStart: true})
				pub.Send(&packet.Publish{Topic: "full/t", QoS: qos, PacketID: 7, Payload: []byte("x")})
				if v == packet.V5 {
					expectAck(t, pub, ackKind(qos), 7, packet.QuotaExceeded)
				} else if got := pub.ExpectClosed(2 * time.Second); len(got) != 0 {
					t.Fatalf("got %v before the close, want no acknowledgement", got)
				}
				waitDropped(t, b, "store_full", 1)
				sub.ExpectNothing(100 * time.Millisecond)
			})
		}
	}
}

// TestAckStoreError: a QoS 1 or 2 PUBLISH whose store write fails is not
// acknowledged as received: a 5.0 publisher gets Implementation specific
// error, and may use the packet id for a new message [MQTT-4.3.3-9]; a 3.1
// or 3.1.1 publisher gets no acknowledgement and a closed connection, and
// sends the message again when it reconnects [MQTT-4.4.0-1], which is
// acknowledged once the store works.
func TestAckStoreError(t *testing.T) {
	for _, v := range versions {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("%s/qos=%d", v, qos), func(t *testing.T) {
				b, st := startFailing(t, broker.Options{})
				// An offline persistent subscriber: each message is a write.
				sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub"})
				subscribeOK(t, sub, 1, packet.Subscription{Filter: "t", QoS: 2})
				sub.Send(&packet.Disconnect{})
				sub.ExpectClosed(2 * time.Second)

				pub, _ := mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "pub"))
				// A message before the failure is acknowledged as usual.
				pub.Send(&packet.Publish{Topic: "t", QoS: qos, PacketID: 6, Payload: []byte("before")})
				expectAck(t, pub, ackKind(qos), 6, packet.Success)
				if qos == 2 {
					completeQoS2(t, pub, 6)
				}

				st.fail.Store(true)
				pub.Send(&packet.Publish{Topic: "t", QoS: qos, PacketID: 7, Payload: []byte("m")})
				if v == packet.V5 {
					expectAck(t, pub, ackKind(qos), 7, packet.ImplementationSpecificError)
				} else if got := pub.ExpectClosed(2 * time.Second); len(got) != 0 {
					t.Fatalf("got %v before the close, want no acknowledgement", got)
				}
				waitDropped(t, b, "store_error", 1)
				st.fail.Store(false)

				if v != packet.V5 {
					pub, _ = mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "pub"))
				}
				// The message again, under the same packet id: a new
				// message for 5.0, the same one sent again for 3.x.
				pub.Send(&packet.Publish{Dup: v != packet.V5, Topic: "t", QoS: qos, PacketID: 7, Payload: []byte("m")})
				expectAck(t, pub, ackKind(qos), 7, packet.Success)
				if qos == 2 {
					completeQoS2(t, pub, 7)
				}

				sub, _ = mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub"})
				expectPublish(t, sub, "before")
				// The message the store could not keep reached the queue in
				// memory before the failure was known, and may come twice.
				if p := expectPublish(t, sub, "m"); p.QoS != qos {
					t.Fatalf("QoS %d, want %d", p.QoS, qos)
				}
			})
		}
	}
}

// TestAckStoreErrorNothingToStore: a QoS 1 message that no session keeps
// needs nothing from the store, and is acknowledged while the store fails.
func TestAckStoreErrorNothingToStore(t *testing.T) {
	b, st := startFailing(t, broker.Options{})
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
	st.fail.Store(true)
	defer st.fail.Store(false)
	pub.Send(&packet.Publish{Topic: "nobody", QoS: 1, PacketID: 1, Payload: []byte("x")})
	expectAck(t, pub, packet.TypePuback, 1, packet.Success)
}

// TestAckConnackWaitsForStore: the CONNACK of a persistent session is sent
// once the store holds the session. When the store cannot write it, the
// client gets Server unavailable (return code 3 in 3.1 and 3.1.1) and the
// connection closes [MQTT-4.13.2-1]; a session the CONNECT made is gone,
// its will never published, and a session it resumed stays as it was,
// with its subscriptions and queued messages.
func TestAckConnackWaitsForStore(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			b, st := startFailing(t, broker.Options{})
			watch, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "watch", CleanStart: true})
			subscribeOK(t, watch, 1, packet.Subscription{Filter: "will/#", QoS: 1})

			// A new session.
			st.fail.Store(true)
			p := persistentConnect(v, "new")
			p.Will = &packet.Will{Topic: "will/new", QoS: 1, Payload: []byte("gone")}
			c, ack := dialConnect(t, b.Addr, v, p)
			if ack.ReasonCode != packet.ServerUnavailable || ack.SessionPresent {
				t.Fatalf("CONNACK %v, session present %v; want ServerUnavailable", ack.ReasonCode, ack.SessionPresent)
			}
			c.ExpectClosed(2 * time.Second)
			if _, ok := b.Client("new"); ok {
				t.Fatal("the refused CONNECT left its session behind")
			}
			watch.ExpectNothing(100 * time.Millisecond)
			st.fail.Store(false)
			_, ack = mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "new"))
			if ack.SessionPresent {
				t.Fatal("session present after a refused first CONNECT")
			}

			// A session resumed.
			old, _ := mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "old"))
			subscribeOK(t, old, 1, packet.Subscription{Filter: "q", QoS: 1})
			old.Send(&packet.Disconnect{})
			old.ExpectClosed(2 * time.Second)
			pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
			pub.Send(&packet.Publish{Topic: "q", QoS: 1, PacketID: 1, Payload: []byte("kept")})
			expectAck(t, pub, packet.TypePuback, 1, packet.Success)

			st.fail.Store(true)
			p = persistentConnect(v, "old")
			p.Will = &packet.Will{Topic: "will/old", QoS: 1, Payload: []byte("gone")}
			c, ack = dialConnect(t, b.Addr, v, p)
			if ack.ReasonCode != packet.ServerUnavailable || ack.SessionPresent {
				t.Fatalf("CONNACK %v, session present %v; want ServerUnavailable", ack.ReasonCode, ack.SessionPresent)
			}
			if got := c.ExpectClosed(2 * time.Second); len(got) != 0 {
				t.Fatalf("got %v after the refusing CONNACK", got)
			}
			cs, ok := b.Client("old")
			if !ok || cs.Connected || len(cs.Subscriptions) != 1 || cs.Queued != 1 {
				t.Fatalf("session after the refused CONNECT: %+v (found %v), want it offline with 1 subscription and 1 queued", cs, ok)
			}
			watch.ExpectNothing(100 * time.Millisecond)
			st.fail.Store(false)

			old, ack = mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "old"))
			if !ack.SessionPresent {
				t.Fatal("session not present after the refused CONNECT")
			}
			expectPublish(t, old, "kept")
		})
	}
}

// TestAckSubscribeStoreError: a subscription of a persistent session whose
// store write fails is refused in SUBACK (0x83 in 5.0, 0x80 Failure in 3.1
// and 3.1.1 [MQTT-3.9.3-2]), gets no retained message, and is taken back:
// no message reaches it, and a subscription it was to replace stays.
func TestAckSubscribeStoreError(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			failure := packet.UnspecifiedError // 0x80, as 3.x decodes
			if v == packet.V5 {
				failure = packet.ImplementationSpecificError
			}
			b, st := startFailing(t, broker.Options{})
			pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
			pub.Send(&packet.Publish{Topic: "r/1", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("retained")})
			expectAck(t, pub, packet.TypePuback, 1, packet.Success)

			c, _ := mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "c"))
			subscribeOK(t, c, 1, packet.Subscription{Filter: "a/#", QoS: 1})

			st.fail.Store(true)
			c.Send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{
				{Filter: "r/#", QoS: 1}, {Filter: "a/#", QoS: 2},
			}})
			ack := c.Expect(packet.TypeSuback).(*packet.Suback)
			if len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] != failure || ack.ReasonCodes[1] != failure {
				t.Fatalf("SUBACK %v, want %v for both filters", ack.ReasonCodes, failure)
			}
			st.fail.Store(false)
			if cs, _ := b.Client("c"); len(cs.Subscriptions) != 1 || cs.Subscriptions[0].QoS != 1 {
				t.Fatalf("subscriptions %+v, want a/# at QoS 1 alone", cs.Subscriptions)
			}

			pub.Send(&packet.Publish{Topic: "r/2", QoS: 1, PacketID: 2, Payload: []byte("not subscribed")})
			expectAck(t, pub, packet.TypePuback, 2, packet.Success)
			pub.Send(&packet.Publish{Topic: "a/b", QoS: 2, PacketID: 3, Payload: []byte("at qos 1")})
			expectAck(t, pub, packet.TypePubrec, 3, packet.Success)
			// No retained message, nothing on r/#: the first packet is
			// the message of the subscription that stayed, at its QoS.
			if p := expectPublish(t, c, "at qos 1"); p.QoS != 1 {
				t.Fatalf("QoS %d, want 1 (the subscription before the failed one)", p.QoS)
			}

			// Once the store works, the same SUBSCRIBE succeeds.
			subscribeOK(t, c, 3, packet.Subscription{Filter: "r/#", QoS: 1})
			expectPublish(t, c, "retained")
		})
	}
}

// TestAckUnsubscribeStoreError: an UNSUBSCRIBE of a persistent session
// whose store write fails keeps the subscription: a 5.0 client gets 0x83
// in UNSUBACK, a 3.1 or 3.1.1 client, whose UNSUBACK has no reason codes,
// no UNSUBACK and a closed connection. Messages still reach it.
func TestAckUnsubscribeStoreError(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			b, st := startFailing(t, broker.Options{})
			c, _ := mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "c"))
			subscribeOK(t, c, 1, packet.Subscription{Filter: "u/#", QoS: 1})

			st.fail.Store(true)
			c.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"u/#"}})
			if v == packet.V5 {
				ack := c.Expect(packet.TypeUnsuback).(*packet.Unsuback)
				if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != packet.ImplementationSpecificError {
					t.Fatalf("UNSUBACK %v, want ImplementationSpecificError", ack.ReasonCodes)
				}
			} else if got := c.ExpectClosed(2 * time.Second); len(got) != 0 {
				t.Fatalf("got %v before the close, want no UNSUBACK", got)
			}
			st.fail.Store(false)
			if v != packet.V5 {
				c, _ = mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "c"))
			}
			if cs, _ := b.Client("c"); len(cs.Subscriptions) != 1 {
				t.Fatalf("subscriptions %+v, want u/# kept", cs.Subscriptions)
			}
			pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
			pub.Send(&packet.Publish{Topic: "u/1", QoS: 1, PacketID: 1, Payload: []byte("still")})
			expectAck(t, pub, packet.TypePuback, 1, packet.Success)
			expectPublish(t, c, "still")
		})
	}
}

// TestAckPubrelStoreError: a PUBREL whose release the store cannot write
// gets no PUBCOMP: a 5.0 client gets DISCONNECT 0x83, a 3.1 or 3.1.1
// client a closed connection. The packet id stays received, so the PUBREL
// sent again on reconnect [MQTT-4.4.0-1] finds it, and a PUBLISH sent
// again meanwhile is not delivered twice [MQTT-4.3.3-10].
func TestAckPubrelStoreError(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			b, st := startFailing(t, broker.Options{})
			sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub", CleanStart: true})
			subscribeOK(t, sub, 1, packet.Subscription{Filter: "t", QoS: 2})
			pub, _ := mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "pub"))
			pub.Send(&packet.Publish{Topic: "t", QoS: 2, PacketID: 9, Payload: []byte("once")})
			expectAck(t, pub, packet.TypePubrec, 9, packet.Success)

			st.fail.Store(true)
			pub.Send(&packet.Ack{Kind: packet.TypePubrel, PacketID: 9})
			got := pub.ExpectClosed(2 * time.Second)
			if v == packet.V5 {
				if len(got) != 1 || got[0].Type() != packet.TypeDisconnect ||
					got[0].(*packet.Disconnect).ReasonCode != packet.ImplementationSpecificError {
					t.Fatalf("got %v, want DISCONNECT ImplementationSpecificError alone", got)
				}
			} else if len(got) != 0 {
				t.Fatalf("got %v before the close, want no PUBCOMP", got)
			}
			st.fail.Store(false)

			pub, _ = mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "pub"))
			pub.Send(&packet.Publish{Dup: true, Topic: "t", QoS: 2, PacketID: 9, Payload: []byte("once")})
			expectAck(t, pub, packet.TypePubrec, 9, packet.Success)
			completeQoS2(t, pub, 9)
			if p := expectPublish(t, sub, "once"); p.QoS != 2 {
				t.Fatalf("QoS %d", p.QoS)
			}
			sub.ExpectNothing(100 * time.Millisecond)
		})
	}
}

// TestAckPubrecStoreError: a subscriber's PUBREC whose store write fails
// gets no PUBREL, since a client that has PUBREL forgets the packet id
// after its PUBCOMP while a broker restarted on the store would send the
// message again [MQTT-4.3.3-6]. The connection ends (5.0 says why); the
// next one gets PUBREL, not the message [MQTT-4.4.0-1], and so does a
// broker started afterwards on the store, which now holds the PUBREC.
func TestAckPubrecStoreError(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			b, st := startFailing(t, broker.Options{})
			sub, _ := mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "sub"))
			subscribeOK(t, sub, 1, packet.Subscription{Filter: "t", QoS: 2})
			pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})
			pub.Send(&packet.Publish{Topic: "t", QoS: 2, PacketID: 1, Payload: []byte("once")})
			expectAck(t, pub, packet.TypePubrec, 1, packet.Success)
			completeQoS2(t, pub, 1)
			p := expectPublish(t, sub, "once")

			st.fail.Store(true)
			sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
			got := sub.ExpectClosed(2 * time.Second)
			if v == packet.V5 {
				if len(got) != 1 || got[0].Type() != packet.TypeDisconnect ||
					got[0].(*packet.Disconnect).ReasonCode != packet.ImplementationSpecificError {
					t.Fatalf("got %v, want DISCONNECT ImplementationSpecificError alone", got)
				}
			} else if len(got) != 0 {
				t.Fatalf("got %v before the close, want no PUBREL", got)
			}
			st.fail.Store(false)

			sub, ack := mqtttest.Connect(t, b.Addr, v, persistentConnect(v, "sub"))
			if !ack.SessionPresent {
				t.Fatal("session not present")
			}
			expectAck(t, sub, packet.TypePubrel, p.PacketID, packet.Success)
			sub.ExpectNothing(100 * time.Millisecond)

			// Another broker on the store, as after a crash, knows the
			// message was received: PUBREL again, not the PUBLISH.
			b2 := testbroker.Start(t, broker.Options{Store: st.Store})
			again, _ := mqtttest.Connect(t, b2.Addr, v, persistentConnect(v, "sub"))
			expectAck(t, again, packet.TypePubrel, p.PacketID, packet.Success)
			again.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
			again.ExpectNothing(100 * time.Millisecond)
		})
	}
}

// TestAckQueueFull: a QoS 1 or 2 message that a persistent session's full
// queue refuses still reaches the other subscribers. A 5.0 publisher is
// told with Quota exceeded, and the packet id of a refused QoS 2 message
// is free again [MQTT-4.3.3-9]; a 3.1 or 3.1.1 publisher gets its
// acknowledgement. Each refusal is a queue_full drop.
func TestAckQueueFull(t *testing.T) {
	for _, v := range versions {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("%s/qos=%d", v, qos), func(t *testing.T) {
				b := testbroker.Start(t, broker.Options{MaxQueued: 1})
				slow, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "slow"})
				subscribeOK(t, slow, 1, packet.Subscription{Filter: "qf/#", QoS: 2})
				slow.Send(&packet.Disconnect{})
				slow.ExpectClosed(2 * time.Second)
				live, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "live", CleanStart: true})
				subscribeOK(t, live, 1, packet.Subscription{Filter: "qf/#", QoS: 0})

				pub, _ := mqtttest.Connect(t, b.Addr, v, &packet.Connect{ClientID: "pub", CleanStart: true})
				pub.Send(&packet.Publish{Topic: "qf/t", QoS: qos, PacketID: 1, Payload: []byte("queued")})
				expectAck(t, pub, ackKind(qos), 1, packet.Success)
				if qos == 2 {
					completeQoS2(t, pub, 1)
				}
				pub.Send(&packet.Publish{Topic: "qf/t", QoS: qos, PacketID: 2, Payload: []byte("refused")})
				if v == packet.V5 {
					expectAck(t, pub, ackKind(qos), 2, packet.QuotaExceeded)
				} else {
					expectAck(t, pub, ackKind(qos), 2, packet.Success)
					if qos == 2 {
						completeQoS2(t, pub, 2)
					}
				}
				expectPublish(t, live, "queued")
				expectPublish(t, live, "refused")
				waitDropped(t, b, "queue_full", 1)
				if v == packet.V5 && qos == 2 {
					// The id that got Quota exceeded carries a new message.
					pub.Send(&packet.Publish{Topic: "qf/u", QoS: 2, PacketID: 2, Payload: []byte("new")})
					expectAck(t, pub, packet.TypePubrec, 2, packet.QuotaExceeded)
					expectPublish(t, live, "new")
				}
			})
		}
	}
}

// TestAckQueueFullShared: a message of a shared subscription that one
// member's full queue refuses goes to another member, and is neither a
// drop nor Quota exceeded; when every member's queue is full, it is both.
func TestAckQueueFullShared(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxQueued: 1})
	for _, id := range []string{"m1", "m2"} {
		m, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5Connect(id, false, 3600))
		subscribeOK(t, m, 1, packet.Subscription{Filter: "$share/g/sh/#", QoS: 1})
		m.Send(&packet.Disconnect{})
		m.ExpectClosed(2 * time.Second)
	}
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "pub", CleanStart: true})
	// Two messages fill both queues, whichever member each goes to.
	for id := uint16(1); id <= 2; id++ {
		pub.Send(&packet.Publish{Topic: "sh/t", QoS: 1, PacketID: id, Payload: []byte("x")})
		expectAck(t, pub, packet.TypePuback, id, packet.Success)
	}
	if n := b.Stats().Dropped["queue_full"]; n != 0 {
		t.Fatalf("queue_full = %d while a member had room, want 0", n)
	}
	pub.Send(&packet.Publish{Topic: "sh/t", QoS: 1, PacketID: 3, Payload: []byte("x")})
	expectAck(t, pub, packet.TypePuback, 3, packet.QuotaExceeded)
	waitDropped(t, b, "queue_full", 1)
}

// TestAckRefusedConnectKeepsDelayedWill: a CONNECT refused because the
// store could not write its session does not count as the client's return
// within its last connection's Will Delay Interval [MQTT-3.1.3-9]: the
// delayed will is still published when its time comes.
func TestAckRefusedConnectKeepsDelayedWill(t *testing.T) {
	b, st := startFailing(t, broker.Options{})
	watch, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "watch", CleanStart: true})
	subscribeOK(t, watch, 1, packet.Subscription{Filter: "will/#", QoS: 1})

	p := v5Connect("dw", false, 3600)
	p.Will = &packet.Will{Topic: "will/dw", QoS: 1, Payload: []byte("late")}
	p.Will.Properties.WillDelayInterval, p.Will.Properties.HasWillDelayInterval = 1, true
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, p)
	c.Close()
	// The session's record holds the will and its time once the
	// connection's end is handled.
	testbroker.Eventually(t, 5*time.Second, func() error {
		rec, err := st.Get(store.Sessions, "dw")
		if err != nil {
			return err
		}
		if !strings.Contains(string(rec), `"will_at"`) {
			return errNotYet
		}
		return nil
	})

	st.fail.Store(true)
	c, ack := dialConnect(t, b.Addr, packet.V5, v5Connect("dw", false, 3600))
	if ack.ReasonCode != packet.ServerUnavailable {
		t.Fatalf("CONNACK %v, want ServerUnavailable", ack.ReasonCode)
	}
	c.ExpectClosed(2 * time.Second)
	st.fail.Store(false)
	expectPublish(t, watch, "late")
}
