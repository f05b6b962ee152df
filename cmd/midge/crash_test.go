package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/midgemq/midge/packet"
)

// TestCrashKeepsAcknowledged runs QoS 1 and QoS 2 traffic from several
// publishers to persistent subscribers (one always online, one that comes
// and goes, one offline until the end) while the broker process is killed
// with SIGKILL and restarted, again and again. Every message acknowledged to
// its publisher must reach every subscriber: at least once at QoS 1,
// exactly once at QoS 2.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the broker several times")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	err := os.WriteFile(cfg, fmt.Appendf(nil, `data_dir = %q
log_level = "warn"
max_queued_messages = 100000
[[listener]]
address = %q
`, filepath.Join(dir, "data"), addr), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	start := func() *proc {
		p := startMidge(t, "serve", "--config", cfg)
		dialMidge(t, p, addr).Close()
		return p
	}
	broker := start()

	subs := []*crashSub{{id: "online"}, {id: "flaky"}, {id: "offline"}}
	for _, s := range subs {
		if err := s.subscribe(addr); err != nil {
			t.Fatal(err)
		}
	}
	pubs := []*crashPub{{id: "pub0", qos: 1}, {id: "pub1", qos: 1}, {id: "pub2", qos: 2}}
	const perPublisher = 400
	deadline := time.Now().Add(60 * time.Second)

	var wg sync.WaitGroup
	pubErrs := make([]error, len(pubs))
	for i, p := range pubs {
		wg.Go(func() { pubErrs[i] = p.run(addr, perPublisher, deadline) })
	}
	stop := make(chan struct{})
	var subWG sync.WaitGroup
	subWG.Go(func() { subs[0].consume(addr, stop, 0) })
	subWG.Go(func() { subs[1].consume(addr, stop, 150*time.Millisecond) })

	pubsDone := make(chan struct{})
	go func() { wg.Wait(); close(pubsDone) }()
	kills := 0
	var progress []int // messages acknowledged when each kill came
	for kills < 6 {
		select {
		case <-pubsDone:
		case <-time.After(time.Duration(150+kills*60) * time.Millisecond):
		}
		n := 0
		for _, p := range pubs {
			n += p.count()
		}
		progress = append(progress, n)
		broker.cmd.Process.Signal(syscall.SIGKILL)
		broker.wait(t, 10)
		kills++
		broker = start()
	}
	select {
	case <-pubsDone:
	case <-time.After(time.Until(deadline)):
		t.Fatal("publishers did not finish within 60s")
	}
	close(stop)
	subWG.Wait()
	for i, err := range pubErrs {
		if err != nil {
			t.Fatalf("%s: %v", pubs[i].id, err)
		}
	}
	// Everyone collects what is left for them.
	for _, s := range subs {
		if err := s.drain(addr, 2*time.Second, 30*time.Second); err != nil {
			t.Fatalf("%s: drain: %v", s.id, err)
		}
	}
	broker.cmd.Process.Signal(syscall.SIGTERM)
	if code := broker.wait(t, 15); code != 0 {
		t.Fatalf("midge exited %d after SIGTERM\n%s", code, broker.stderr.String())
	}

	acked := 0
	for _, p := range pubs {
		acked += len(p.acked)
	}
	t.Logf("%d kills, after %v acknowledged messages; %d messages acknowledged to %d publishers", kills, progress, acked, len(pubs))
	if progress[0] == 0 || progress[0] == acked {
		t.Errorf("the first kill came outside the traffic (%d of %d acknowledged)", progress[0], acked)
	}
	for _, s := range subs {
		missing, extra, dups := 0, 0, 0
		for _, p := range pubs {
			for _, seq := range p.acked {
				switch n := s.got[fmt.Sprintf("%s/%d", p.id, seq)]; {
				case n == 0:
					missing++
				case n > 1 && p.qos == 2:
					extra++
				case n > 1:
					dups += n - 1
				}
			}
		}
		t.Logf("%s: %d deliveries, %d acknowledged messages missing, %d QoS 2 duplicates, %d QoS 1 duplicates",
			s.id, s.deliveries, missing, extra, dups)
		if missing > 0 || extra > 0 {
			t.Errorf("%s lost %d acknowledged messages and got %d QoS 2 messages twice", s.id, missing, extra)
		}
	}
}

// crashConn is a minimal MQTT 3.1.1 client connection whose errors are
// values, for goroutines that reconnect instead of failing the test.
type crashConn struct {
	nc net.Conn
	br *bufio.Reader
}

func crashDial(addr, id string) (*crashConn, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	c := &crashConn{nc: nc, br: bufio.NewReader(nc)}
	if err := c.send(&packet.Connect{Version: packet.V311, ClientID: id, KeepAlive: 30}); err != nil {
		nc.Close()
		return nil, err
	}
	p, err := c.read(5 * time.Second)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != packet.Success {
		nc.Close()
		return nil, fmt.Errorf("connect: got %+v", p)
	}
	return c, nil
}

func (c *crashConn) send(p packet.Packet) error {
	b, err := p.Append(nil, packet.V311)
	if err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = c.nc.Write(b)
	return err
}

func (c *crashConn) read(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	h, err := packet.ReadFixedHeader(c.br, 0)
	if err != nil {
		return nil, err
	}
	body := make([]byte, h.Remaining)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, err
	}
	return packet.Decode(h, body, packet.V311)
}

// crashPub publishes numbered messages one at a time, re-sending after a
// reconnect what was not acknowledged, and records what was.
type crashPub struct {
	id    string
	qos   byte
	mu    sync.Mutex
	acked []int
}

func (p *crashPub) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

func (p *crashPub) ack(seq int) {
	p.mu.Lock()
	p.acked = append(p.acked, seq)
	p.mu.Unlock()
}

func (p *crashPub) run(addr string, n int, deadline time.Time) error {
	var c *crashConn
	defer func() {
		if c != nil {
			c.nc.Close()
		}
	}()
	for seq := 0; seq < n; seq++ {
		pid := uint16(seq%60000 + 1)
		received := false // PUBREC came: only PUBREL is re-sent
		for attempt := 0; ; attempt++ {
			if time.Now().After(deadline) {
				return fmt.Errorf("message %d not through by the deadline", seq)
			}
			if c == nil {
				var err error
				if c, err = crashDial(addr, p.id); err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
			}
			done, err := p.exchange(c, seq, pid, attempt > 0, &received)
			if err != nil {
				c.nc.Close()
				c = nil
				continue
			}
			if done {
				break
			}
		}
	}
	if c != nil {
		c.send(&packet.Disconnect{})
	}
	return nil
}

// exchange takes one message through its QoS flow on c.
func (p *crashPub) exchange(c *crashConn, seq int, pid uint16, dup bool, received *bool) (bool, error) {
	if !*received {
		err := c.send(&packet.Publish{Topic: "crash/" + p.id, QoS: p.qos, PacketID: pid, Dup: dup,
			Payload: fmt.Appendf(nil, "%s/%d", p.id, seq)})
		if err != nil {
			return false, err
		}
	} else if err := c.send(&packet.Ack{Kind: packet.TypePubrel, PacketID: pid}); err != nil {
		return false, err
	}
	for {
		pk, err := c.read(5 * time.Second)
		if err != nil {
			return false, err
		}
		a, ok := pk.(*packet.Ack)
		if !ok || a.PacketID != pid {
			continue
		}
		switch a.Kind {
		case packet.TypePuback:
			p.ack(seq)
			return true, nil
		case packet.TypePubrec:
			if !*received {
				// PUBREC acknowledges a QoS 2 message to its publisher.
				*received = true
				p.ack(seq)
			}
			if err := c.send(&packet.Ack{Kind: packet.TypePubrel, PacketID: pid}); err != nil {
				return false, err
			}
		case packet.TypePubcomp:
			return true, nil
		}
	}
}

// crashSub is a persistent subscriber that counts what it receives, and
// keeps the QoS 2 packet ids it has received and not yet seen released, so
// that it counts a QoS 2 message once however often it is re-sent.
type crashSub struct {
	id         string
	mu         sync.Mutex
	got        map[string]int
	deliveries int
	pending    map[uint16]bool
}

func (s *crashSub) subscribe(addr string) error {
	s.got = make(map[string]int)
	s.pending = make(map[uint16]bool)
	c, err := crashDial(addr, s.id)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	if err := c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "crash/#", QoS: 2}}}); err != nil {
		return err
	}
	if _, err := c.read(5 * time.Second); err != nil {
		return fmt.Errorf("suback: %w", err)
	}
	return c.send(&packet.Disconnect{})
}

// consume stays connected, reconnecting after errors, until stop; with
// period > 0 it disconnects and reconnects every period.
func (s *crashSub) consume(addr string, stop <-chan struct{}, period time.Duration) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := crashDial(addr, s.id)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		until := time.Now().Add(time.Hour)
		if period > 0 {
			until = time.Now().Add(period)
		}
		for time.Now().Before(until) {
			select {
			case <-stop:
				until = time.Now()
				continue
			default:
			}
			if err := s.handle(c, 50*time.Millisecond); err != nil && !isTimeout(err) {
				break
			}
		}
		c.send(&packet.Disconnect{})
		c.nc.Close()
		if period > 0 {
			time.Sleep(period)
		}
	}
}

// drain connects and reads until nothing has come for quiet.
func (s *crashSub) drain(addr string, quiet, limit time.Duration) error {
	c, err := crashDial(addr, s.id)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		if err := s.handle(c, quiet); err != nil {
			if isTimeout(err) {
				return c.send(&packet.Disconnect{})
			}
			return err
		}
	}
	return errors.New("still receiving after the limit")
}

// handle reads one packet and answers it.
func (s *crashSub) handle(c *crashConn, d time.Duration) error {
	pk, err := c.read(d)
	if err != nil {
		return err
	}
	switch pk := pk.(type) {
	case *packet.Publish:
		s.mu.Lock()
		count := true
		if pk.QoS == 2 {
			count = !s.pending[pk.PacketID]
			s.pending[pk.PacketID] = true
		}
		if count {
			s.got[string(pk.Payload)]++
			s.deliveries++
		}
		s.mu.Unlock()
		switch pk.QoS {
		case 1:
			return c.send(&packet.Ack{Kind: packet.TypePuback, PacketID: pk.PacketID})
		case 2:
			return c.send(&packet.Ack{Kind: packet.TypePubrec, PacketID: pk.PacketID})
		}
	case *packet.Ack:
		if pk.Kind == packet.TypePubrel {
			s.mu.Lock()
			delete(s.pending, pk.PacketID)
			s.mu.Unlock()
			return c.send(&packet.Ack{Kind: packet.TypePubcomp, PacketID: pk.PacketID})
		}
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
