package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestGroupCommitSharesFsync: the writes of many sessions that arrive
// while a commit is under way share the next commit, one Apply with one
// fsync, rather than one each; and no publisher gets its PUBACK before the
// commit that holds its message has returned.
func TestGroupCommitSharesFsync(t *testing.T) {
	for _, d := range []broker.Durability{broker.DurabilityBatch, broker.DurabilitySync} {
		t.Run(d.String(), func(t *testing.T) { testGroupCommitSharesFsync(t, d) })
	}
}

func testGroupCommitSharesFsync(t *testing.T, d broker.Durability) {
	const (
		n    = 64 // publishers whose messages arrive during the held commit
		subs = 2  // persistent sessions, offline, that queue every message
	)
	ops := newOpCounter(tempPebble(t))
	b := testbroker.Start(t, broker.Options{Store: ops, Durability: d})
	for i := range subs {
		sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: fmt.Sprintf("sub%d", i)})
		sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "g/#", QoS: 1}}})
		sub.Expect(packet.TypeSuback)
		sub.Send(&packet.Disconnect{})
		sub.ExpectClosed(2 * time.Second)
	}
	pubs := make([]*mqtttest.Conn, n+1)
	for i := range pubs {
		pubs[i], _ = mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: fmt.Sprintf("pub%d", i), CleanStart: true})
	}
	queued := func(want int) func() error {
		return func() error {
			if got := b.Stats().Queued; got != int64(want) {
				return fmt.Errorf("%d messages queued, want %d", got, want)
			}
			return nil
		}
	}
	testbroker.Eventually(t, 5*time.Second, queued(0))

	// The first message goes to a commit whose Apply waits.
	release := ops.holdCommits(t)
	pubs[0].Send(&packet.Publish{Topic: "g/0", QoS: 1, PacketID: 1, Payload: []byte("0")})
	select {
	case <-ops.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first message was not committed")
	}
	applies, syncs := ops.applies.Load(), ops.syncs.Load()

	// The others arrive while it is held: every session's entry of every
	// message is in the broker's batch once Stats counts it queued.
	for i := 1; i <= n; i++ {
		pubs[i].Send(&packet.Publish{Topic: fmt.Sprintf("g/%d", i), QoS: 1, PacketID: 1, Payload: fmt.Appendf(nil, "%d", i)})
	}
	testbroker.Eventually(t, 5*time.Second, queued(subs*(n+1)))
	// Acknowledgement waits for durability: the first message's commit
	// has not returned, and the others' has not begun.
	pubs[0].ExpectNothing(100 * time.Millisecond)
	for _, pub := range pubs[1:] {
		pub.ExpectNothing(time.Millisecond)
	}
	if got := ops.applies.Load(); got != applies {
		t.Fatalf("%d commits began while one was held", got-applies)
	}

	release()
	for i, pub := range pubs {
		if a := pub.Expect(packet.TypePuback).(*packet.Ack); a.PacketID != 1 {
			t.Fatalf("publisher %d: PUBACK for packet id %d", i, a.PacketID)
		}
	}
	// One commit for the n messages, perhaps two if the committer took
	// the batch between two of their writes; never one each.
	moreApplies, moreSyncs := ops.applies.Load()-applies, ops.syncs.Load()-syncs
	t.Logf("%d messages during the held commit, %d commits after it, %d synced", n, moreApplies, moreSyncs)
	if moreApplies < 1 || moreApplies > 2 || moreSyncs < 1 || moreSyncs > 2 {
		t.Fatalf("%d commits (%d synced) after the held one for %d messages, want 1 or 2", moreApplies, moreSyncs, n)
	}
}
