package broker

import (
	"testing"
	"unsafe"
)

func TestPacketIDFor(t *testing.T) {
	for seq, want := range map[uint64]uint16{1: 1, 2: 2, 65535: 65535, 65536: 1, 65537: 2, 3*65535 + 10: 10} {
		if got := packetIDFor(seq); got != want {
			t.Errorf("packetIDFor(%d) = %d, want %d", seq, got, want)
		}
	}
}

// TestOtherIDSkipsInflight: a message whose own id is in flight gets one
// that is not [MQTT-2.2.1-3], half the id space away.
func TestOtherIDSkipsInflight(t *testing.T) {
	s := &session{inflight: []*outbound{{packetID: 1}, {packetID: 32768}, {packetID: 32769}}}
	if got := s.otherIDLocked(65536); got != 32770 {
		t.Errorf("otherIDLocked(65536) = %d, want 32770", got)
	}
}

// TestSendableWaitsForDeletions: a QoS 2 message may go out before its
// new state is durable only when its entry is in the store and no entry
// the store may still hold has its packet id.
func TestSendableWaitsForDeletions(t *testing.T) {
	p := &persister{}
	s := &session{}
	ob := &outbound{packetID: 7, stored: true} // as read from the store
	if !p.sendableLocked(s, ob) {
		t.Fatal("an entry read from the store, its id unused: not sendable")
	}
	p.appended = 6
	p.freeLocked(s, &outbound{packetID: 7}, 5)
	p.freeLocked(s, &outbound{packetID: 9}, 6)
	p.freeLocked(s, &outbound{}, 6) // never sent: no id to free
	if p.sendableLocked(s, ob) {
		t.Error("sendable while the deletion of the entry that had its id is not applied")
	}
	if other := (&outbound{packetID: 8, stored: true}); !p.sendableLocked(s, other) {
		t.Error("another id waits for the deletion of 7")
	}
	p.committed = 6
	if !p.sendableLocked(s, ob) {
		t.Error("not sendable once the deletion is applied")
	}

	// Deletions keep coming while commits apply the earlier ones: the
	// epochs turn over, and none that is not applied is forgotten. An id
	// freed by an applied write may wait for a later write of its epoch.
	p.freeLocked(s, &outbound{packetID: 7}, 7)
	p.freeLocked(s, &outbound{packetID: 11}, 8)
	p.freeLocked(s, &outbound{packetID: 12}, 9) // same epoch as 11: write 7 is not applied
	p.committed = 8
	if !p.sendableLocked(s, ob) {
		t.Error("7 not sendable once write 7 is applied")
	}
	if p.sendableLocked(s, &outbound{packetID: 11, stored: true}) {
		t.Error("11 sendable while its epoch's last deletion, write 9, is not applied")
	}
	p.committed = 9
	for _, id := range []uint16{11, 12} {
		if !p.sendableLocked(s, &outbound{packetID: id, stored: true}) {
			t.Errorf("%d not sendable once write 9 is applied", id)
		}
	}
	p.freeLocked(s, &outbound{packetID: 13}, 10)
	p.dropFreedLocked(s)
	if s.freed == nil {
		t.Error("freed ids dropped while deletions are not applied")
	}
	p.committed = 10
	p.dropFreedLocked(s)
	if s.freed != nil {
		t.Error("freed ids kept after every deletion is applied")
	}

	written := &outbound{packetID: 3, stored: true, writtenAt: 11}
	if p.sendableLocked(s, written) {
		t.Error("sendable before its entry's write is applied")
	}
	p.committed, p.appended = 11, 11
	if !p.sendableLocked(s, written) {
		t.Error("not sendable once its entry's write is applied")
	}
	p.failedAt = 11
	if p.sendableLocked(s, written) {
		t.Error("sendable although the commit of its entry failed")
	}
	if p.sendableLocked(s, &outbound{packetID: 4}) {
		t.Error("sendable without an entry in the store")
	}
}

// TestStructSizes keeps the structs made per message, per queued message,
// per session and per connection within their allocation size classes
// (112, 128, 352 and 480 bytes): a field added in the wrong place costs
// every message, session or connection a class more.
func TestStructSizes(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 480 {
		t.Errorf("conn is %d bytes, over 480", n)
	}
	if n := unsafe.Sizeof(outbound{}); n > 128 {
		t.Errorf("outbound is %d bytes, over 128", n)
	}
	if n := unsafe.Sizeof(session{}); n > 352 {
		t.Errorf("session is %d bytes, over 352", n)
	}
	if n := unsafe.Sizeof(Message{}); n > 112 {
		t.Errorf("Message is %d bytes, over 112", n)
	}
}
