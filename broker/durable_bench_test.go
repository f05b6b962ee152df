package broker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
	"github.com/midgemq/midge/store/pebble"
)

// The shape of BenchmarkDurableQoS1.
const (
	durPublishers  = 4
	durSubscribers = 4
	// durWindow is how many PUBLISH packets a publisher may have sent and
	// not yet had acknowledged.
	durWindow  = 64
	durPayload = 64
	// durIdle bounds every network read and write and every wait for the
	// window: a broker that stalls fails the benchmark instead of hanging.
	durIdle = 30 * time.Second
)

// durCommitInterval is the CommitInterval of BenchmarkDurableQoS1's
// brokers, for comparing intervals: go test -bench BenchmarkDurableQoS1
// -durable.commit-interval 1ms.
var durCommitInterval = flag.Duration("durable.commit-interval", 0,
	"CommitInterval of BenchmarkDurableQoS1's brokers (default: the broker's default)")

// BenchmarkDurableQoS1 measures QoS 1 throughput to persistent sessions, over
// real sockets: 4 publishers, each on its own connection, pipeline 64-byte
// QoS 1 messages with up to 64 unacknowledged PUBLISH packets each, to 4
// persistent (clean start false, MQTT 3.1.1) subscribers of "dur/#" that
// acknowledge everything. b.N messages are published in all; the clock
// stops once every publisher has all its PUBACKs and every subscriber has
// read all b.N messages.
//
// The sub-benchmarks compare the in-memory store (DurabilityNone, the
// baseline) with the Pebble store at each Durability, so every message
// costs its receipt, four queue entries and their removals in the store.
func BenchmarkDurableQoS1(b *testing.B) {
	b.Run("store=memory", func(b *testing.B) {
		benchDurableQoS1(b, memory.New(), broker.DurabilityNone)
	})
	for _, d := range []broker.Durability{broker.DurabilityNone, broker.DurabilityBatch, broker.DurabilitySync} {
		b.Run("store=pebble/durability="+d.String(), func(b *testing.B) {
			st, err := pebble.Open(b.TempDir(), pebble.Options{})
			if err != nil {
				b.Fatal(err)
			}
			benchDurableQoS1(b, st, d)
		})
	}
}

// benchDurableQoS1 runs one round of BenchmarkDurableQoS1 on st, which it
// closes at the end.
func benchDurableQoS1(b *testing.B, st store.Store, d broker.Durability) {
	// Cleanups run last first: the store closes after the broker has shut
	// down, and the clients close before it shuts down.
	b.Cleanup(func() {
		if err := st.Close(); err != nil {
			b.Errorf("close store: %v", err)
		}
	})
	bk := testbroker.Start(b, broker.Options{Store: st, Durability: d, CommitInterval: *durCommitInterval,
		MaxInflight: 1000, MaxQueued: 1 << 20})
	dial := func() (net.Conn, error) { return net.DialTimeout("tcp", bk.Addr, durIdle) }

	subs := make([]*benchClient, durSubscribers)
	for i := range subs {
		c, err := dialBench(dial, &packet.Connect{ClientID: fmt.Sprintf("dur-sub-%d", i), CleanStart: false})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.close)
		if err := c.subscribe(packet.Subscription{Filter: "dur/#", QoS: 1}); err != nil {
			b.Fatalf("subscriber %d: %v", i, err)
		}
		subs[i] = c
	}
	pubs := make([]*benchClient, durPublishers)
	for i := range pubs {
		c, err := dialBench(dial, &packet.Connect{ClientID: fmt.Sprintf("dur-pub-%d", i), CleanStart: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.close)
		pubs[i] = c
	}

	n := b.N
	r := &durRun{abort: make(chan struct{}), errc: make(chan error, durSubscribers+2*durPublishers)}
	for _, c := range subs {
		r.conns = append(r.conns, c)
	}
	r.conns = append(r.conns, pubs...)

	b.ReportAllocs()
	b.ResetTimer()
	for i, c := range subs {
		go func() { r.errc <- r.subscriber(c, i, n) }()
	}
	for i, c := range pubs {
		count := n / durPublishers
		if i < n%durPublishers {
			count++
		}
		tokens := make(chan struct{}, durWindow)
		go func() { r.errc <- r.publisher(c, i, count, tokens) }()
		go func() { r.errc <- r.acker(c, i, count, tokens) }()
	}
	if err := r.wait(durSubscribers + 2*durPublishers); err != nil {
		b.Fatalf("%v\nacked %d of %d, delivered %d of %d; broker stats: %+v",
			err, r.acked.Load(), n, r.delivered.Load(), n*durSubscribers, bk.Stats())
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// durRun is the state shared by the goroutines of one round.
type durRun struct {
	conns     []*benchClient
	errc      chan error
	abort     chan struct{} // closed when the round fails
	stopOnce  sync.Once
	acked     atomic.Int64 // PUBACKs read by the publishers
	delivered atomic.Int64 // PUBLISH packets read by the subscribers
}

var errAborted = errors.New("aborted")

// stop ends the round: it wakes every goroutine that waits for the window
// and fails every read and write.
func (r *durRun) stop() {
	r.stopOnce.Do(func() {
		close(r.abort)
		for _, c := range r.conns {
			c.close()
		}
	})
}

// wait collects the results of n goroutines and returns the first error. A
// round that makes no progress for longer than durIdle (which the
// goroutines' own deadlines should already have caught) is stopped.
func (r *durRun) wait(n int) error {
	var first error
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := int64(-1), time.Now()
	for n > 0 {
		select {
		case err := <-r.errc:
			n--
			if err != nil && first == nil {
				first = err
				r.stop()
				lastAt = time.Now()
			}
		case now := <-tick.C:
			if p := r.acked.Load() + r.delivered.Load(); p != last {
				last, lastAt = p, now
				break
			}
			if now.Sub(lastAt) < durIdle+10*time.Second {
				break
			}
			if first != nil {
				return fmt.Errorf("%w (and %d goroutines did not end)", first, n)
			}
			first = fmt.Errorf("no progress for %s", now.Sub(lastAt).Round(time.Second))
			r.stop()
			lastAt = now
		}
	}
	return first
}

// subscriber reads n messages on c and acknowledges each. It checks that
// the messages of each publisher come once each and in order.
func (r *durRun) subscriber(c *benchClient, id, n int) error {
	next := make([]uint64, durPublishers)
	for got := 0; got < n; got++ {
		// Send the PUBACKs gathered so far before the read may block.
		if c.br.Buffered() < 2*durPayload {
			if err := c.bw.Flush(); err != nil {
				return r.fail("subscriber %d: write after %d of %d messages: %w", id, got, n, err)
			}
		}
		h, body, err := c.readRaw()
		if err != nil {
			return r.fail("subscriber %d: read after %d of %d messages: %w", id, got, n, err)
		}
		if h.Type != packet.TypePublish {
			return r.fail("subscriber %d: got %s after %d of %d messages, want PUBLISH", id, h.Type, got, n)
		}
		p := &c.pub
		if err := p.Decode(h, body, packet.V311); err != nil {
			return r.fail("subscriber %d: %w", id, err)
		}
		if p.QoS != 1 || p.Dup || len(p.Payload) != durPayload {
			return r.fail("subscriber %d: unexpected PUBLISH qos=%d dup=%v len=%d", id, p.QoS, p.Dup, len(p.Payload))
		}
		from, seq := int(p.Payload[0]), binary.BigEndian.Uint64(p.Payload[1:9])
		if from >= durPublishers || seq != next[from] {
			return r.fail("subscriber %d: got message %d of publisher %d, want %d (lost, repeated or out of order)",
				id, seq, from, next[min(from, durPublishers-1)])
		}
		next[from]++
		if err := c.send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID}); err != nil {
			return r.fail("subscriber %d: %w", id, err)
		}
		r.delivered.Add(1)
	}
	if err := c.bw.Flush(); err != nil {
		return r.fail("subscriber %d: write: %w", id, err)
	}
	return nil
}

// publisher sends count QoS 1 messages on c, keeping at most durWindow
// unacknowledged: it takes a token of tokens for each PUBLISH, and acker
// gives one back for each PUBACK.
func (r *durRun) publisher(c *benchClient, id, count int, tokens chan struct{}) error {
	topic := fmt.Sprintf("dur/p%d", id)
	payload := make([]byte, durPayload)
	payload[0] = byte(id)
	timer := time.NewTimer(durIdle)
	timer.Stop()
	for i := range count {
		select {
		case tokens <- struct{}{}:
		default:
			// The window is full: send what is buffered, then wait.
			if err := c.bw.Flush(); err != nil {
				return r.fail("publisher %d: write after %d of %d messages: %w", id, i, count, err)
			}
			timer.Reset(durIdle)
			select {
			case tokens <- struct{}{}:
				timer.Stop()
			case <-timer.C:
				return r.fail("publisher %d: no PUBACK for %s with %d PUBLISH packets unacknowledged (%d of %d sent)",
					id, durIdle, durWindow, i, count)
			case <-r.abort:
				return errAborted
			}
		}
		binary.BigEndian.PutUint64(payload[1:9], uint64(i))
		p := packet.Publish{QoS: 1, Topic: topic, PacketID: packetID(i), Payload: payload}
		if err := c.send(&p); err != nil {
			return r.fail("publisher %d: %w", id, err)
		}
	}
	if err := c.bw.Flush(); err != nil {
		return r.fail("publisher %d: write: %w", id, err)
	}
	return nil
}

// acker reads the count PUBACKs of publisher id on c, which must come in
// the order of the PUBLISH packets [MQTT-4.6.0-2].
func (r *durRun) acker(c *benchClient, id, count int, tokens chan struct{}) error {
	for i := range count {
		h, body, err := c.readRaw()
		if err != nil {
			return r.fail("publisher %d: read after %d of %d PUBACKs: %w", id, i, count, err)
		}
		if h.Type != packet.TypePuback {
			return r.fail("publisher %d: got %s after %d of %d PUBACKs, want PUBACK", id, h.Type, i, count)
		}
		if err := c.ack.Decode(h, body, packet.V311); err != nil {
			return r.fail("publisher %d: %w", id, err)
		}
		if want := packetID(i); c.ack.PacketID != want {
			return r.fail("publisher %d: PUBACK %d is for packet id %d, want %d", id, i, c.ack.PacketID, want)
		}
		select {
		case <-tokens:
		default:
			return r.fail("publisher %d: PUBACK %d for a PUBLISH not sent yet", id, i)
		}
		r.acked.Add(1)
	}
	return nil
}

// fail returns the error of format and args, or errAborted when the round
// was already stopped (the error is then a consequence of the stop).
func (r *durRun) fail(format string, args ...any) error {
	select {
	case <-r.abort:
		return errAborted
	default:
		return fmt.Errorf(format, args...)
	}
}

// packetID is the packet id of the i-th PUBLISH of a connection: 1..65535
// in turn.
func packetID(i int) uint16 { return uint16(i%65535 + 1) }

// benchClient is a raw MQTT 3.1.1 client whose methods return errors
// rather than fail the benchmark, so that any goroutine may use them. Every
// read and write of its connection must end within durIdle. One goroutine
// may read (readRaw) while another writes (send, bw).
type benchClient struct {
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	body []byte
	pub  packet.Publish
	ack  packet.Ack
}

// deadlineConn gives each Read and Write of a connection a deadline of
// durIdle.
type deadlineConn struct{ net.Conn }

func (c deadlineConn) Read(p []byte) (int, error) {
	c.SetReadDeadline(time.Now().Add(durIdle))
	return c.Conn.Read(p)
}

func (c deadlineConn) Write(p []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(durIdle))
	return c.Conn.Write(p)
}

// dialBench connects with dial and completes a successful CONNECT/CONNACK
// exchange of p in MQTT 3.1.1.
func dialBench(dial func() (net.Conn, error), p *packet.Connect) (*benchClient, error) {
	nc, err := dial()
	if err != nil {
		return nil, fmt.Errorf("dial for %s: %w", p.ClientID, err)
	}
	dc := deadlineConn{nc}
	c := &benchClient{nc: nc, br: bufio.NewReaderSize(dc, 32<<10), bw: bufio.NewWriterSize(dc, 32<<10)}
	p.Version = packet.V311
	if err := c.roundTrip(p, packet.TypeConnack); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", p.ClientID, err)
	}
	return c, nil
}

// roundTrip sends p and reads one packet, which must be of type want and,
// for CONNACK and SUBACK, a success.
func (c *benchClient) roundTrip(p packet.Packet, want packet.Type) error {
	if err := c.send(p); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	h, body, err := c.readRaw()
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", want, err)
	}
	if h.Type != want {
		return fmt.Errorf("got %s, want %s", h.Type, want)
	}
	got, err := packet.Decode(h, body, packet.V311)
	if err != nil {
		return err
	}
	switch got := got.(type) {
	case *packet.Connack:
		if got.ReasonCode != packet.Success {
			return fmt.Errorf("CONNACK %s", got.ReasonCode)
		}
	case *packet.Suback:
		for _, rc := range got.ReasonCodes {
			if rc.IsError() {
				return fmt.Errorf("SUBACK %s", rc)
			}
		}
	}
	return nil
}

// subscribe subscribes to subs and waits for the SUBACK.
func (c *benchClient) subscribe(subs ...packet.Subscription) error {
	return c.roundTrip(&packet.Subscribe{PacketID: 1, Subscriptions: subs}, packet.TypeSuback)
}

// send appends p to the output buffer; bw.Flush sends it.
func (c *benchClient) send(p packet.Packet) error {
	out, err := p.Append(c.bw.AvailableBuffer(), packet.V311)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	if _, err := c.bw.Write(out); err != nil {
		return fmt.Errorf("write %s: %w", p.Type(), err)
	}
	return nil
}

// readRaw reads one packet. The body is valid until the next call.
func (c *benchClient) readRaw() (packet.FixedHeader, []byte, error) {
	h, err := packet.ReadFixedHeader(c.br, 0)
	if err != nil {
		return h, nil, err
	}
	if cap(c.body) < h.Remaining {
		c.body = make([]byte, h.Remaining)
	}
	body := c.body[:h.Remaining]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return h, nil, err
	}
	return h, body, nil
}

func (c *benchClient) close() { c.nc.Close() }

// The sizes of BenchmarkRecovery's stores. Lower them to try the benchmark
// quickly.
const (
	recoveryRetained = 1_000_000
	recoverySessions = 100_000
	// Each session has recoverySubs subscriptions and recoveryQueued
	// queued QoS 1 messages, the same recoveryQueued messages for all.
	recoverySubs   = 2
	recoveryQueued = 5
)

// BenchmarkRecovery measures how long broker.New takes to restore its state
// from a Pebble store: one op opens the store, creates the broker (which
// loads everything), checks its Stats, shuts it down and closes the store.
//
//   - retained=N: N retained messages of 64 bytes, on topics rec/r{i/1000}/{i%1000}.
//   - sessions=N: N offline persistent sessions, each with 2 subscriptions
//     and 5 queued QoS 1 messages (5 message bodies shared by all).
//
// The store is filled once, outside the clock, by a broker with
// DurabilityNone, so it holds the broker's own records. The first op finds
// the store's files in the page cache, as every later one does.
func BenchmarkRecovery(b *testing.B) {
	if testing.Short() {
		b.Skip("fills stores of a million records; skipped with -short")
	}
	b.Run(fmt.Sprintf("retained=%d", recoveryRetained), func(b *testing.B) {
		dir := b.TempDir()
		fillRetained(b, dir, recoveryRetained)
		benchRecovery(b, dir, recoveryRetained, broker.Stats{Retained: recoveryRetained}, false)
	})
	b.Run(fmt.Sprintf("sessions=%d", recoverySessions), func(b *testing.B) {
		dir := b.TempDir()
		fillSessions(b, dir, recoverySessions)
		benchRecovery(b, dir, recoverySessions, broker.Stats{
			SessionsCurrent: recoverySessions,
			Subscriptions:   recoverySessions * recoverySubs,
		}, false)
	})
	// The same after a crash: each op starts from a copy of the store a
	// broker killed with SIGKILL left, whose log Pebble replays.
	b.Run(fmt.Sprintf("crashed/retained=%d", recoveryRetained), func(b *testing.B) {
		crashed := crashFill(b, "retained")
		benchRecovery(b, crashed, recoveryRetained, broker.Stats{Retained: recoveryRetained}, true)
	})
	b.Run(fmt.Sprintf("crashed/sessions=%d", recoverySessions), func(b *testing.B) {
		crashed := crashFill(b, "sessions")
		benchRecovery(b, crashed, recoverySessions, broker.Stats{
			SessionsCurrent: recoverySessions,
			Subscriptions:   recoverySessions * recoverySubs,
		}, true)
	})
}

// benchRecovery times restoring the store in dir, which holds items
// retained messages or sessions; want gives the Retained, SessionsCurrent
// and Subscriptions counts the restored broker must show.
func benchRecovery(b *testing.B, dir string, items int, want broker.Stats, crashed bool) {
	b.ReportAllocs()
	for b.Loop() {
		opDir := dir
		if crashed {
			// Each op replays the log of the same crash.
			b.StopTimer()
			opDir = copyDir(b, dir)
			b.StartTimer()
		}
		st, err := pebble.Open(opDir, pebble.Options{Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		logs := &warnCounter{}
		srv, err := broker.New(broker.Options{Store: st, Logger: slog.New(logs)})
		if err != nil {
			st.Close()
			b.Fatal(err)
		}
		got := srv.Stats()
		if got.Retained != want.Retained || got.SessionsCurrent != want.SessionsCurrent ||
			(want.Subscriptions != 0 && got.Subscriptions != want.Subscriptions) {
			b.Errorf("restored retained=%d sessions=%d subscriptions=%d, want %d, %d, %d",
				got.Retained, got.SessionsCurrent, got.Subscriptions, want.Retained, want.SessionsCurrent, want.Subscriptions)
		}
		if n, first := logs.get(); n > 0 {
			b.Errorf("restoring logged %d warnings or errors, the first: %s", n, first)
		}
		ctx, cancel := context.WithTimeout(context.Background(), durIdle)
		err = srv.Shutdown(ctx)
		cancel()
		if err != nil {
			b.Errorf("shutdown: %v", err)
		}
		if err := st.Close(); err != nil {
			b.Fatalf("close store: %v", err)
		}
		if crashed {
			b.StopTimer()
			os.RemoveAll(opDir)
			b.StartTimer()
		}
		if b.Failed() {
			b.FailNow()
		}
	}
	b.ReportMetric(float64(items)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
	// After the loop: b.Loop's first call deletes the metrics reported
	// before it.
	if sz, err := dirStoreSize(dir); err == nil {
		b.ReportMetric(float64(sz)/(1<<20), "store-MiB")
	}
}

// fillRetained fills a new store in dir with n retained messages, published
// in process by a broker.
func fillRetained(b testing.TB, dir string, n int) {
	start := time.Now()
	st, srv := openFill(b, dir)
	payload := make([]byte, 64)
	r := srv.Router()
	for i := range n {
		r.Publish(&broker.Message{
			ID:      broker.MsgID{Seq: uint64(i + 1)},
			Topic:   fmt.Sprintf("rec/r%d/%d", i/1000, i%1000),
			Payload: payload,
			QoS:     1,
			Retain:  true,
		}, nil)
	}
	if got := srv.Stats().Retained; got != int64(n) {
		b.Fatalf("filled %d retained messages, want %d", got, n)
	}
	endFill(b, st, srv, map[store.Bucket]int{store.Retained: n})
	counts := countRecords(b, dir)
	if counts[store.Retained] != n {
		b.Fatalf("store holds %d retained messages, want %d", counts[store.Retained], n)
	}
	b.Logf("filled %d retained messages in %s", n, time.Since(start).Round(time.Millisecond))
}

// fillSessions fills a new store in dir with n offline persistent sessions
// of recoverySubs subscriptions and recoveryQueued queued QoS 1 messages
// each. The clients connect through in-memory pipes: n TCP connections in
// a row would run out of ephemeral ports.
func fillSessions(b testing.TB, dir string, n int) {
	start := time.Now()
	st, srv := openFill(b, dir)
	l := newPipeListener()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	var next atomic.Int64
	errc := make(chan error, 4*runtime.GOMAXPROCS(0))
	for range cap(errc) {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					errc <- nil
					return
				}
				c, err := dialBench(l.dial, &packet.Connect{ClientID: fmt.Sprintf("rec-%06d", i), CleanStart: false})
				if err != nil {
					errc <- err
					return
				}
				subs := []packet.Subscription{{Filter: "rec/all", QoS: 1}}
				for k := 1; k < recoverySubs; k++ {
					subs = append(subs, packet.Subscription{Filter: fmt.Sprintf("rec/own/%d/%d", i, k), QoS: 1})
				}
				err = c.subscribe(subs...)
				if err == nil {
					err = c.send(&packet.Disconnect{})
				}
				if err == nil {
					err = c.bw.Flush()
				}
				c.close()
				if err != nil {
					errc <- fmt.Errorf("session %d: %w", i, err)
					return
				}
			}
		}()
	}
	var failed error
	for range cap(errc) {
		if err := <-errc; err != nil && failed == nil {
			failed = err
			next.Store(int64(n)) // the others stop after their session
		}
	}
	if failed != nil {
		closeFill(b, st, srv)
		b.Fatal(failed)
	}
	// The messages must find the sessions offline, so that they are queued
	// rather than sent.
	deadline := time.Now().Add(durIdle)
	for srv.Stats().ConnectionsCurrent > 0 {
		if time.Now().After(deadline) {
			closeFill(b, st, srv)
			b.Fatalf("%d connections still open", srv.Stats().ConnectionsCurrent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := srv.Stats().SessionsCurrent; got != int64(n) {
		closeFill(b, st, srv)
		b.Fatalf("filled %d sessions, want %d", got, n)
	}
	payload := make([]byte, 64)
	for k := range recoveryQueued {
		srv.Router().Publish(&broker.Message{ID: broker.MsgID{Seq: uint64(k + 1)}, Topic: "rec/all", Payload: payload, QoS: 1}, nil)
	}
	endFill(b, st, srv, map[store.Bucket]int{store.Sessions: n, store.Queues: n * recoveryQueued})
	<-served
	counts := countRecords(b, dir)
	if counts[store.Sessions] != n || counts[store.Queues] != n*recoveryQueued || counts[store.Messages] != recoveryQueued {
		b.Fatalf("store holds %d sessions, %d queue entries, %d messages; want %d, %d, %d", counts[store.Sessions],
			counts[store.Queues], counts[store.Messages], n, n*recoveryQueued, recoveryQueued)
	}
	b.Logf("filled %d sessions in %s", n, time.Since(start).Round(time.Millisecond))
}

// openFill opens the store in dir and a broker on it that writes behind
// (DurabilityNone), to fill it.
func openFill(b testing.TB, dir string) (*pebble.Store, *broker.Server) {
	st, err := pebble.Open(dir, pebble.Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := broker.New(broker.Options{Store: st, Durability: broker.DurabilityNone, Logger: discardLogger()})
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	return st, srv
}

// crashFillEnv, when set, makes TestRecoveryFill fill a store as
// BenchmarkRecovery's crashed variants ask: "retained:DIR" or
// "sessions:DIR".
const crashFillEnv = "MIDGE_RECOVERY_CRASH_FILL"

// endFill ends a fill: it closes srv and st, or, in the child process of a
// crashed variant, waits until st holds want's records, syncs its log,
// says "filled" on stdout and waits to be killed.
func endFill(b testing.TB, st *pebble.Store, srv *broker.Server, want map[store.Bucket]int) {
	if os.Getenv(crashFillEnv) == "" {
		closeFill(b, st, srv)
		return
	}
	// DurabilityNone writes behind: wait for the writes to be applied.
	deadline := time.Now().Add(5 * time.Minute)
	for bucket, n := range want {
		for {
			got := 0
			if err := st.Scan(bucket, "", func(string, []byte) error { got++; return nil }); err != nil {
				b.Fatal(err)
			}
			if got == n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("store holds %d %s records, want %d", got, bucket, n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var sync store.Batch
	sync.Set(store.Meta, "bench_filled", []byte("1"))
	if err := st.Apply(&sync, true); err != nil {
		b.Fatal(err)
	}
	fmt.Println("filled")
	select {}
}

// TestRecoveryFill is not a test: BenchmarkRecovery's crashed variants run
// it in a child process, which fills a store and is killed with SIGKILL.
func TestRecoveryFill(t *testing.T) {
	spec := os.Getenv(crashFillEnv)
	if spec == "" {
		t.Skip("runs only as a child process of BenchmarkRecovery")
	}
	kind, dir, _ := strings.Cut(spec, ":")
	switch kind {
	case "retained":
		fillRetained(t, dir, recoveryRetained)
	case "sessions":
		fillSessions(t, dir, recoverySessions)
	}
	t.Fatalf("unknown fill %q", spec)
}

// crashFill fills a store in a child process, as fillRetained or
// fillSessions (kind) do, kills the child with SIGKILL once the store is
// filled and returns its directory, which a crashed broker left.
func crashFill(b *testing.B, kind string) string {
	dir := b.TempDir()
	start := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecoveryFill$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), crashFillEnv+"="+kind+":"+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	filled := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "filled" {
				filled <- true
				return
			}
		}
		filled <- false
	}()
	var ok bool
	select {
	case ok = <-filled:
	case <-time.After(10 * time.Minute):
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if !ok {
		b.Fatalf("the child process did not fill the store with %s", kind)
	}
	b.Logf("filled %s in a child process killed with SIGKILL, in %s", kind, time.Since(start).Round(time.Millisecond))
	return dir
}

// copyDir copies the files of the directory src into a new directory.
func copyDir(b *testing.B, src string) string {
	dst := b.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		b.Fatal(err)
	}
	return dst
}

// closeFill shuts srv down, which writes everything to st, and closes st.
func closeFill(b testing.TB, st *pebble.Store, srv *broker.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), durIdle)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.Errorf("shutdown: %v", err)
	}
	if err := st.Close(); err != nil {
		b.Fatalf("close store: %v", err)
	}
}

// countRecords returns the number of records in each bucket of the store
// in dir.
func countRecords(b testing.TB, dir string) map[store.Bucket]int {
	st, err := pebble.Open(dir, pebble.Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	counts := make(map[store.Bucket]int)
	for _, bucket := range []store.Bucket{store.Sessions, store.Queues, store.Messages, store.Retained} {
		err := st.Scan(bucket, "", func(string, []byte) error {
			counts[bucket]++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return counts
}

// dirStoreSize returns the disk size of the store in dir.
func dirStoreSize(dir string) (int64, error) {
	st, err := pebble.Open(dir, pebble.Options{Logger: discardLogger()})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.DiskSize()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// warnCounter is a slog.Handler that counts records of level Warn and above
// and keeps the first; it drops the rest unformatted.
type warnCounter struct {
	mu    sync.Mutex
	n     int
	first string
}

func (h *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		h.first = r.Message
		r.Attrs(func(a slog.Attr) bool {
			h.first += " " + a.String()
			return true
		})
	}
	h.n++
	return nil
}

func (h *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnCounter) WithGroup(string) slog.Handler      { return h }

func (h *warnCounter) get() (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, h.first
}

// pipeListener is a net.Listener whose connections are in-memory pipes.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial returns the client end of a new pipe whose server end Accept
// returns.
func (l *pipeListener) dial() (net.Conn, error) {
	client, server := net.Pipe()
	t := time.NewTimer(durIdle)
	defer t.Stop()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		err := net.ErrClosed
		client.Close()
		server.Close()
		return nil, err
	case <-t.C:
		client.Close()
		server.Close()
		return nil, errors.New("pipe listener: accept timed out")
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
