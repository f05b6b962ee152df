package broker_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
)

// opCounter is a store that counts the writes it applies, by bucket and
// kind, and its calls of Apply, those with sync true apart. Apply signals
// entered as it starts, then waits while hold is locked.
type opCounter struct {
	store.Store
	entered chan struct{}
	hold    sync.Mutex
	applies atomic.Int64
	syncs   atomic.Int64
	mu      sync.Mutex
	counts  map[store.Bucket]map[store.OpKind]int
}

func newOpCounter(st store.Store) *opCounter {
	return &opCounter{Store: st, entered: make(chan struct{}, 1), counts: make(map[store.Bucket]map[store.OpKind]int)}
}

// holdCommits makes every Apply from now on wait until the returned
// function is called (once); a test that fails first has them released at
// its cleanup. A signal of a commit entered before the hold is discarded.
func (c *opCounter) holdCommits(t *testing.T) (release func()) {
	c.hold.Lock()
	var once sync.Once
	release = func() { once.Do(c.hold.Unlock) }
	t.Cleanup(release)
	select {
	case <-c.entered:
	default:
	}
	return release
}

func (c *opCounter) Apply(b *store.Batch, sync bool) error {
	c.applies.Add(1)
	if sync {
		c.syncs.Add(1)
	}
	select {
	case c.entered <- struct{}{}:
	default:
	}
	c.hold.Lock()
	c.hold.Unlock()
	c.mu.Lock()
	for _, op := range b.Ops() {
		if op.Kind == store.OpNone {
			continue
		}
		if c.counts[op.Bucket] == nil {
			c.counts[op.Bucket] = make(map[store.OpKind]int)
		}
		c.counts[op.Bucket][op.Kind]++
	}
	c.mu.Unlock()
	return c.Store.Apply(b, sync)
}

func (c *opCounter) count(bucket store.Bucket, kind store.OpKind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[bucket][kind]
}

// TestAcknowledgedBeforeCommitNotWritten: a QoS 1 message to a connected
// persistent subscriber goes out before its queue entry is durable, and
// when the subscriber acknowledges it before the next commit, neither the
// entry nor the message body reaches the store. The publisher still gets
// its PUBACK only after a commit, and a QoS 2 message still waits for its
// entry (a client must find it under the same packet id after a crash).
func TestAcknowledgedBeforeCommitNotWritten(t *testing.T) {
	st := tempPebble(t)
	ops := newOpCounter(st)
	b := testbroker.Start(t, broker.Options{Store: ops})
	sub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "sub"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 2}}})
	sub.Expect(packet.TypeSuback)
	pub, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pub", CleanStart: true})

	const n = 50
	before := ops.count(store.Queues, store.OpSet)
	// No commit ends until the subscriber has acknowledged everything.
	// The first message goes to a commit that waits; the others are
	// written to the next batch.
	release := ops.holdCommits(t)
	for i := range n {
		if i == 1 {
			select {
			case <-ops.entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the first message was not committed")
			}
		}
		pub.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "%d", i)})
	}
	for i := range n {
		p := sub.Expect(packet.TypePublish).(*packet.Publish)
		if want := fmt.Sprint(i); string(p.Payload) != want {
			t.Fatalf("message %d is %q", i, p.Payload)
		}
		sub.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
	}
	pub.ExpectNothing(100 * time.Millisecond) // no PUBACK before the commit
	release()
	for range n {
		pub.Expect(packet.TypePuback)
	}
	// The first message's entry is in the batch whose Apply waited; the
	// others were taken back.
	sets := ops.count(store.Queues, store.OpSet) - before
	if sets > 1 {
		t.Errorf("%d of %d queue entries reached the store, though acknowledged before their commit", sets, n)
	}

	// QoS 2: the PUBLISH waits for the entry, so the entry is in the
	// store before the client can have it.
	sets = ops.count(store.Queues, store.OpSet)
	pub.Send(&packet.Publish{Topic: "t", QoS: 2, PacketID: 100, Payload: []byte("two")})
	p := sub.Expect(packet.TypePublish).(*packet.Publish)
	if ops.count(store.Queues, store.OpSet) == sets {
		t.Fatal("a QoS 2 message went out before its queue entry was written")
	}
	sub.Send(&packet.Ack{Kind: packet.TypePubrec, PacketID: p.PacketID})
	sub.Expect(packet.TypePubrel)
	sub.Send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: p.PacketID})
	pub.Expect(packet.TypePubrec)

	expectStoreEmpty(t, st, 5*time.Second)
}
