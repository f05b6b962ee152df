package main

import (
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/pebble"
)

var crashSeed = flag.Uint64("crash.seed", 0,
	"seed of TestCrashKeepsAcknowledged's kill points and reconnect timing; 0 picks one")

// crashMessages is the number of messages of each publisher.
const crashMessages = 2000

// TestCrashKeepsAcknowledged runs QoS 1 and QoS 2 traffic from four
// publishers (3.1.1 and 5.0, each with several messages in flight) to
// persistent subscribers while the broker process is killed with SIGKILL
// and restarted, five times, in each durability that promises it. The
// subscribers: two always online, two that come and go (one of them is
// reconnecting at two of the kills), one offline until the end, one that
// subscribes after the first kill, and one that takes two messages at a
// time and acknowledges slowly, so that its queue backs up into the store.
//
// Every message acknowledged to its publisher must reach every subscriber
// that was subscribed when it was published: at least once at QoS 1,
// exactly once at QoS 2. No subscriber gets a message that was not
// published, nor, subscribing late, one whose flow had ended before its
// SUBSCRIBE. On each connection every publisher's messages come in the
// order the broker received them [MQTT-4.6.0-5] (5.0) [MQTT-4.6.0-6]
// (3.1.1), never more unacknowledged than the Receive Maximum allows. A QoS
// 2 message comes again only under its packet id, with DUP, before its
// PUBREL, and to a 5.0 client only after a reconnect. When all is
// delivered, the store holds the sessions and nothing else.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the broker several times")
	}
	for _, durability := range []string{"batch", "sync"} {
		t.Run("durability="+durability, func(t *testing.T) { testCrash(t, durability) })
	}
}

func testCrash(t *testing.T, durability string) {
	began := time.Now()
	seed := *crashSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-crash.seed=%d repeats the kill points and reconnect timing)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	err := os.WriteFile(cfg, fmt.Appendf(nil, `data_dir = %q
log_level = "warn"
durability = %q
max_queued_messages = 100000
[[listener]]
address = %q
`, filepath.Join(dir, "data"), durability, addr), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var procs []*proc
	start := func() *proc {
		p := startMidge(t, "serve", "--config", cfg)
		procs = append(procs, p)
		dialMidge(t, p, addr).Close()
		return p
	}
	broker := start()
	defer func() {
		if t.Failed() {
			for i, p := range procs {
				if s := p.stderr.String(); s != "" {
					t.Logf("broker %d log:\n%s", i, s)
				}
			}
		}
	}()

	clock := &crashClock{}
	pubs := []*crashPub{
		{id: "pub-3.1.1-qos1", version: packet.V311, qos: 1},
		{id: "pub-3.1.1-qos2", version: packet.V311, qos: 2},
		{id: "pub-5.0-qos1", version: packet.V5, qos: 1},
		{id: "pub-5.0-qos2", version: packet.V5, qos: 2},
	}
	for _, p := range pubs {
		p.n, p.window, p.clock = crashMessages, 8, clock
		p.init()
	}
	total := len(pubs) * crashMessages
	sub := func(id string, v packet.Version, qos byte) *crashSub {
		return &crashSub{id: id, version: v, qos: qos, pubs: pubs, clock: clock}
	}
	var (
		online311 = sub("online-3.1.1", packet.V311, 2)
		online5   = sub("online-5.0", packet.V5, 1)
		flaky5    = sub("flaky-5.0", packet.V5, 2)
		flaky311  = sub("flaky-3.1.1", packet.V311, 1)
		offline   = sub("offline-3.1.1", packet.V311, 2)
		late      = sub("late-5.0", packet.V5, 2)
		slow      = sub("slow-5.0", packet.V5, 2)
	)
	slow.receiveMax, slow.ackDelay = 2, 3*time.Millisecond
	slow.slow.Store(true)
	subs := []*crashSub{online311, online5, flaky5, flaky311, offline, late, slow}
	for _, s := range subs {
		if s == late {
			continue
		}
		if err := s.subscribe(addr); err != nil {
			t.Fatalf("%s: %v", s.id, err)
		}
	}

	deadline := time.Now().Add(90 * time.Second)
	var pubWG sync.WaitGroup
	pubErrs := make([]error, len(pubs))
	quit := make(chan struct{})
	defer func() {
		close(quit)
		pubWG.Wait()
	}()
	for i, p := range pubs {
		pubWG.Go(func() { pubErrs[i] = p.run(addr, deadline, quit) })
	}
	pubsDone := make(chan struct{})
	go func() { pubWG.Wait(); close(pubsDone) }()

	stop := make(chan struct{})
	var subWG sync.WaitGroup
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		subWG.Wait()
	}()
	jitter := func(r *rand.Rand) func(time.Duration) time.Duration {
		return func(d time.Duration) time.Duration { return d/2 + time.Duration(r.Int64N(int64(d))) }
	}
	reconnects := make(chan reconnect)
	subWG.Go(func() { online311.consume(addr, stop, 0, nil, nil) })
	subWG.Go(func() { online5.consume(addr, stop, 0, nil, nil) })
	subWG.Go(func() { slow.consume(addr, stop, 0, nil, nil) })
	flakyRng5 := jitter(rand.New(rand.NewPCG(seed, 1)))
	subWG.Go(func() { flaky5.consume(addr, stop, 300*time.Millisecond, flakyRng5, reconnects) })
	flakyRng311 := jitter(rand.New(rand.NewPCG(seed, 2)))
	subWG.Go(func() { flaky311.consume(addr, stop, 200*time.Millisecond, flakyRng311, nil) })

	// Kill k comes once about k/6 of the messages are acknowledged; at
	// kills 2 and 4 flaky-5.0 is reconnecting, with its CONNECT sent and
	// with its session resuming.
	acked := func() int {
		n := 0
		for _, p := range pubs {
			n += p.count()
		}
		return n
	}
	backlog := make(map[*crashSub]int)
	watch := func() {
		n := acked()
		for _, s := range subs {
			if s != late && s != offline {
				backlog[s] = max(backlog[s], n-s.delivered())
			}
		}
	}
	var progress []string
	last := 0
	for k := 1; k <= 5; k++ {
		// Each restarted broker takes some traffic before it is killed.
		point := max(k*total/6+rng.IntN(total/12)-total/24, last+total/24)
		for acked() < point {
			select {
			case <-pubsDone:
				t.Fatalf("publishers ended before kill %d: %v", k, pubErrs)
			case <-time.After(2 * time.Millisecond):
			}
			watch()
		}
		how := "while traffic runs"
		if k == 2 || k == 4 {
			r := reconnect{at: afterConnect, done: make(chan struct{})}
			how = "as flaky-5.0 has sent CONNECT"
			if k == 4 {
				r.at, how = afterConnack, "as flaky-5.0 resumes its session"
			}
			select {
			case reconnects <- r:
			case <-time.After(10 * time.Second):
				t.Fatalf("flaky-5.0 did not take the request to reconnect for kill %d", k)
			}
			select {
			case <-r.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("flaky-5.0 did not reconnect for kill %d", k)
			}
		}
		broker.cmd.Process.Signal(syscall.SIGKILL)
		broker.wait(t, 10)
		last = acked()
		progress = append(progress, fmt.Sprintf("%d %s", last, how))
		broker = start()
		if k == 1 {
			if err := late.subscribe(addr); err != nil {
				t.Fatalf("%s: %v", late.id, err)
			}
			subWG.Go(func() { late.consume(addr, stop, 0, nil, nil) })
		}
	}
	for done := false; !done; {
		select {
		case <-pubsDone:
			done = true
		case <-time.After(2 * time.Millisecond):
			watch()
		}
	}
	for i, err := range pubErrs {
		if err != nil {
			t.Fatalf("%s: %v", pubs[i].id, err)
		}
	}
	published := time.Since(began)

	// Everyone collects what is left for them: the offline subscriber
	// comes, the slow one speeds up.
	slow.slow.Store(false)
	subWG.Go(func() { offline.consume(addr, stop, 0, nil, nil) })
	complete := func() bool {
		for _, s := range subs {
			if s.lacks() {
				return false
			}
		}
		return true
	}
	for end := time.Now().Add(60 * time.Second); !complete() && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	subWG.Wait()
	// Then each connects once more, for anything still in flight, and to
	// see that nothing more comes.
	var drainWG sync.WaitGroup
	for _, s := range subs {
		drainWG.Go(func() {
			if err := s.drain(addr, 500*time.Millisecond, 10*time.Second); err != nil {
				s.fault("drain: %v", err)
			}
		})
	}
	drainWG.Wait()
	broker.cmd.Process.Signal(syscall.SIGTERM)
	if code := broker.wait(t, 15); code != 0 {
		t.Fatalf("midge exited %d after SIGTERM\n%s", code, broker.stderr.String())
	}
	// Everything was delivered, and every flow ended: the store keeps the
	// sessions and nothing else, however often the broker died midway.
	left := storeCounts(t, filepath.Join(dir, "data", "store"))
	t.Logf("store after the run: %v", left)
	if left[store.Sessions] != len(pubs)+len(subs) || left[store.Queues]+left[store.Messages]+left[store.Incoming] != 0 {
		t.Errorf("store left with %v, want %d sessions and nothing else (seed %d)", left, len(pubs)+len(subs), seed)
	}

	t.Logf("%s durability: %d messages acknowledged to %d publishers in %v, %v in all; killed after %s",
		durability, acked(), len(pubs), published.Round(time.Millisecond), time.Since(began).Round(time.Millisecond),
		strings.Join(progress, ", "))
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "publisher\tQoS\tmessages\tconnections\tPUBLISH again\tPUBREL again\t")
	for _, p := range pubs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", p.id, p.qos, p.nacked, len(p.conns), p.resentPublish, p.resentPubrel)
		for _, e := range p.errs {
			t.Errorf("%s: %s (seed %d)", p.id, e, seed)
		}
	}
	tw.Flush()
	t.Logf("publishers:\n%s", b.String())
	b.Reset()
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "subscriber\tQoS\tconnections\tmax backlog\tacknowledged\tdelivered\tmissing\t"+
		"QoS 1 again\tQoS 2 again\tQoS 2 re-sent by id\tout of order\t")
	for _, s := range subs {
		r := s.check()
		bl := "-"
		if v, ok := backlog[s]; ok {
			bl = fmt.Sprint(v)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.id, s.qos, len(s.conns), bl,
			r.required, s.deliveries, r.missing, r.again1, r.again2, s.resent, r.disorder)
		for _, e := range append(s.errs, r.errs...) {
			t.Errorf("%s: %s (seed %d)", s.id, e, seed)
		}
	}
	tw.Flush()
	t.Logf("subscribers (acknowledged: the messages owed, for %s those routed after its SUBACK):\n%s", late.id, b.String())
}

// crashResult is what a subscriber got compared with what it was owed.
type crashResult struct {
	// required counts the messages owed: acknowledged to their publisher
	// and, for a subscriber that subscribed late, routed after its SUBACK
	// (crashPub.routed).
	required, missing int
	// again1 and again2 count the deliveries after the first, at QoS 1 and
	// QoS 2: the first are allowed, the second are faults.
	again1, again2 int
	disorder       int
	errs           []string
}

// owedLocked reports whether s must get message seq of p: acknowledged,
// and routed after s subscribed. The caller holds s.mu and p.mu.
func (s *crashSub) owedLocked(p *crashPub, seq int) bool {
	return p.acked[seq] != 0 && p.routed[seq] > s.subackAt
}

// lacks reports whether s has yet to get a message it is owed.
func (s *crashSub) lacks() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.pubs {
		p.mu.Lock()
		for seq := range p.n {
			if s.owedLocked(p, seq) && s.got[crashKey{i, seq}] == 0 {
				p.mu.Unlock()
				return true
			}
		}
		p.mu.Unlock()
	}
	return false
}

// check compares what s got with what the publishers did.
func (s *crashSub) check() crashResult {
	var r crashResult
	fault := func(format string, args ...any) {
		if len(r.errs) < 10 {
			r.errs = append(r.errs, fmt.Sprintf(format, args...))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.pubs {
		p.mu.Lock()
		for seq := range p.n {
			n := s.got[crashKey{i, seq}]
			switch {
			case s.owedLocked(p, seq):
				r.required++
				if n == 0 {
					r.missing++
					fault("%s/%d missing: acknowledged (QoS %d) and never delivered", p.id, seq, p.qos)
				}
			case n > 0 && p.done[seq] != 0 && p.done[seq] < s.subscribeSent:
				fault("%s/%d delivered, but its flow ended before the SUBSCRIBE", p.id, seq)
			case n > 0 && p.sent[seq] == 0:
				fault("%s/%d delivered, but never published", p.id, seq)
			}
			if n > 1 {
				if min(p.qos, s.qos) == 2 {
					r.again2 += n - 1
					fault("%s/%d delivered %d times at QoS 2", p.id, seq, n)
				} else {
					r.again1 += n - 1
				}
			}
		}
		for k, keys := range s.conns {
			var seqs []int
			for _, key := range keys {
				if key.pub == i {
					seqs = append(seqs, key.seq)
				}
			}
			if j := inOrder(seqs, p.conns); j >= 0 {
				r.disorder++
				fault("connection %d: %s/%d out of order, after %v", k, p.id, seqs[j], seqs[max(0, j-5):j])
			}
		}
		p.mu.Unlock()
	}
	if len(s.pending) > 0 {
		fault("%d QoS 2 messages never released", len(s.pending))
	}
	return r
}

// storeCounts returns the number of records in each bucket of the store in
// dir.
func storeCounts(t *testing.T, dir string) map[store.Bucket]int {
	t.Helper()
	st, err := pebble.Open(dir, pebble.Options{ReadOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts := make(map[store.Bucket]int)
	for _, b := range []store.Bucket{store.Sessions, store.Queues, store.Messages, store.Retained, store.Incoming} {
		err := st.Scan(b, "", func(string, []byte) error { counts[b]++; return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	return counts
}
