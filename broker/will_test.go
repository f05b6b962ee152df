package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

func willSubscriber(t *testing.T, addr string) *mqtttest.Conn {
	t.Helper()
	c, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "watcher", CleanStart: true})
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "status/#", QoS: 1}}})
	c.Expect(packet.TypeSuback)
	return c
}

func willConnect(t *testing.T, addr, id string, v packet.Version, keepAlive uint16, retain bool) *mqtttest.Conn {
	t.Helper()
	c, _ := mqtttest.Connect(t, addr, v, &packet.Connect{
		ClientID: id, CleanStart: true, KeepAlive: keepAlive,
		Will: &packet.Will{Topic: "status/" + id, Payload: []byte("gone"), QoS: 1, Retain: retain},
	})
	return c
}

// TestWillOnKilledConnection closes a client's socket without DISCONNECT:
// its will is published [MQTT-3.1.2-8].
func TestWillOnKilledConnection(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	w := willSubscriber(t, b.Addr)
	for _, v := range []packet.Version{packet.V31, packet.V311} {
		c := willConnect(t, b.Addr, "dev-"+v.String(), v, 0, false)
		c.Close()
		got := w.Expect(packet.TypePublish).(*packet.Publish)
		if got.Topic != "status/dev-"+v.String() || string(got.Payload) != "gone" || got.QoS != 1 {
			t.Fatalf("will %+v", got)
		}
		w.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: got.PacketID})
	}
}

// TestNoWillAfterDisconnect ends with DISCONNECT: the will is discarded
// [MQTT-3.14.4-3].
func TestNoWillAfterDisconnect(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	w := willSubscriber(t, b.Addr)
	c := willConnect(t, b.Addr, "polite", packet.V311, 0, false)
	c.Send(&packet.Disconnect{})
	c.ExpectClosed(2 * time.Second)
	w.ExpectNothing(300 * time.Millisecond)
}

// TestWillOnKeepAliveTimeout lets a client with a 1 s keep-alive go silent:
// the broker closes it after 1.5 s and publishes its will [MQTT-3.1.2-24].
func TestWillOnKeepAliveTimeout(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	w := willSubscriber(t, b.Addr)
	start := time.Now()
	c := willConnect(t, b.Addr, "silent", packet.V311, 1, false)
	c.ExpectClosed(5 * time.Second)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed after %s, before the keep-alive period", d)
	}
	if got := w.Expect(packet.TypePublish).(*packet.Publish); got.Topic != "status/silent" {
		t.Fatalf("will %+v", got)
	}
}

// TestKeepAliveKeptByPing keeps a 1 s keep-alive connection open for 3 s
// with PINGREQ [MQTT-3.12.4-1].
func TestKeepAliveKeptByPing(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c, _ := mqtttest.Connect(t, b.Addr, packet.V311, &packet.Connect{ClientID: "pinger", CleanStart: true, KeepAlive: 1})
	for range 6 {
		time.Sleep(500 * time.Millisecond)
		c.Send(&packet.Pingreq{})
		c.Expect(packet.TypePingresp)
	}
}

// TestRetainedWill publishes a will with RETAIN set: later subscribers get
// it as a retained message [MQTT-3.1.2-17].
func TestRetainedWill(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	c := willConnect(t, b.Addr, "kept", packet.V311, 0, true)
	c.Close()
	testbroker.Eventually(t, 5*time.Second, func() error {
		if b.Stats().Retained != 1 {
			return errNotYet
		}
		return nil
	})
	w := willSubscriber(t, b.Addr)
	if got := w.Expect(packet.TypePublish).(*packet.Publish); !got.Retain || string(got.Payload) != "gone" {
		t.Fatalf("retained will %+v", got)
	}
}

// crashStore passes a broker's writes to a store until crash, and drops
// every write after it, as the store of a broker process killed at that
// moment would: what was applied stays, nothing more comes.
type crashStore struct {
	store.Store
	crashed atomic.Bool
}

func (s *crashStore) Apply(b *store.Batch, sync bool) error {
	if s.crashed.Load() {
		return nil
	}
	return s.Store.Apply(b, sync)
}

// crash stops b as if its process had been killed: nothing it writes from
// now on reaches the store under cs, and its connections end.
func crash(t *testing.T, cs *crashStore, b *testbroker.Broker) {
	t.Helper()
	cs.crashed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// sessionRecord returns the store record of the session id.
func sessionRecord(st store.Store, id string) (broker.SessionState, error) {
	var rec broker.SessionState
	b, err := st.Get(store.Sessions, id)
	if err != nil {
		return rec, fmt.Errorf("session %q: %w", id, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("session %q: %w", id, err)
	}
	return rec, nil
}

// willWatcher connects the persistent 5.0 session "watcher", which takes
// the wills of will/# at QoS 1, so that wills published while it is away
// wait for it. The first connection starts the session and subscribes.
func willWatcher(t *testing.T, addr string, first bool) *mqtttest.Conn {
	t.Helper()
	c, _ := mqtttest.Connect(t, addr, packet.V5, v5Connect("watcher", first, 3600))
	if first {
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "will/#", QoS: 1}}})
		c.Expect(packet.TypeSuback)
	}
	return c
}

// startWillCrash starts a broker with opts on a crashStore over a store of
// ts, and makes the persistent session of the will watcher, which
// subscribes to every will and goes away until the test brings it back.
func startWillCrash(t *testing.T, ts testStore, opts broker.Options) (*crashStore, *testbroker.Broker) {
	t.Helper()
	cs := &crashStore{Store: ts.open(t)}
	opts.Store = cs
	b := testbroker.Start(t, opts)
	w := willWatcher(t, b.Addr, true)
	w.Send(&packet.Disconnect{})
	w.ExpectClosed(2 * time.Second)
	return cs, b
}

// v5WillConnect is the CONNECT of a 5.0 client id with the will
// "will/<id>" and the given Session Expiry and Will Delay Intervals.
func v5WillConnect(id string, expiry, delay uint32) *packet.Connect {
	p := v5Connect(id, true, expiry)
	p.Will = &packet.Will{Topic: "will/" + id, Payload: []byte(id), QoS: 1}
	p.Will.Properties.WillDelayInterval, p.Will.Properties.HasWillDelayInterval = delay, true
	return p
}

// collectWills reads w until it has one will of each topic of want,
// acknowledging each, within d. It returns the topics in the order they
// came and when each came; a will that comes twice fails the test.
func collectWills(t *testing.T, w *mqtttest.Conn, want []string, d time.Duration) ([]string, map[string]time.Time) {
	t.Helper()
	deadline := time.Now().Add(d)
	var order []string
	at := make(map[string]time.Time)
	for len(at) < len(want) {
		p, err := w.Read(time.Until(deadline))
		if err != nil {
			t.Fatalf("have wills %v, want %v: %v", order, want, err)
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			t.Fatalf("got %s %+v, want a will", p.Type(), p)
		}
		if _, dup := at[pub.Topic]; dup || !slices.Contains(want, pub.Topic) {
			t.Fatalf("got will %q after %v, want each of %v once", pub.Topic, order, want)
		}
		at[pub.Topic] = time.Now()
		order = append(order, pub.Topic)
		w.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: pub.PacketID})
	}
	return order, at
}

// TestWillTimingAfterCrash kills a broker (its store gets nothing more)
// while wills wait, and starts another on the store. A will whose
// connection was open at the crash is published once its Will Delay
// Interval has passed from the restart, or when its session ends if that
// comes first; a will whose delay was running is published when it was
// due, at once if that passed while the broker was down
// [MQTT-3.1.2-8]; one whose client comes back within the delay is never
// sent [MQTT-3.1.3-9]. Each is published once, and leaves the store
// [MQTT-3.1.2-10].
func TestWillTimingAfterCrash(t *testing.T) {
	for _, ts := range testStores() {
		t.Run(ts.name, func(t *testing.T) {
			cs, b1 := startWillCrash(t, ts, broker.Options{})

			// Open at the crash: the delay runs from the restart; the
			// session of "brief" ends 1 s after the restart, before its
			// will's delay.
			mqtttest.Connect(t, b1.Addr, packet.V5, v5WillConnect("open", 3600, 2))
			mqtttest.Connect(t, b1.Addr, packet.V5, v5WillConnect("brief", 1, 600))
			mqtttest.Connect(t, b1.Addr, packet.V5, v5WillConnect("returning", 3600, 2))
			// Gone before the crash, without DISCONNECT: their delays run.
			c, _ := mqtttest.Connect(t, b1.Addr, packet.V5, v5WillConnect("overdue", 3600, 2))
			c.Close()
			c, _ = mqtttest.Connect(t, b1.Addr, packet.V5, v5WillConnect("pending", 3600, 6))
			c.Close()

			ids := []string{"open", "brief", "returning", "overdue", "pending"}
			recs := make(map[string]broker.SessionState)
			testbroker.Eventually(t, 5*time.Second, func() error {
				for _, id := range ids {
					rec, err := sessionRecord(cs.Store, id)
					if err != nil {
						return err
					}
					gone := id == "overdue" || id == "pending"
					if rec.Will == nil || gone != (rec.WillAt != 0) {
						return fmt.Errorf("%s: will %v, will_at %d", id, rec.Will != nil, rec.WillAt)
					}
					recs[id] = rec
				}
				return nil
			})
			if d := recs["open"].WillDelay; d != 2 {
				t.Fatalf("stored Will Delay Interval %d, want 2", d)
			}
			crash(t, cs, b1)
			// The broker stays down until the will of "overdue" is due.
			overdueAt := time.Unix(recs["overdue"].WillAt, 0)
			testbroker.Eventually(t, 10*time.Second, func() error {
				if time.Now().Before(overdueAt) {
					return errNotYet
				}
				return nil
			})

			restartAt := time.Now()
			st := ts.reopen(t, cs.Store)
			b2 := testbroker.Start(t, broker.Options{Store: st})
			// The restarted broker keeps when each delay ends, so that
			// another crash would not start it again.
			testbroker.Eventually(t, 5*time.Second, func() error {
				rec, err := sessionRecord(st, "open")
				if err != nil {
					return err
				}
				if rec.WillAt < restartAt.Add(2*time.Second).Unix() {
					return fmt.Errorf("will_at %d, want the restart + 2 s", rec.WillAt)
				}
				return nil
			})
			if rec, err := sessionRecord(st, "pending"); err != nil || rec.WillAt != recs["pending"].WillAt {
				t.Fatalf("pending will at %d (%v), want %d as before the crash", rec.WillAt, err, recs["pending"].WillAt)
			}

			// Back within the delay: its will is never sent [MQTT-3.1.3-9].
			mqtttest.Connect(t, b2.Addr, packet.V5, v5Connect("returning", false, 3600))

			w := willWatcher(t, b2.Addr, false)
			order, at := collectWills(t, w, []string{"will/open", "will/brief", "will/overdue", "will/pending"}, 20*time.Second)
			if order[0] != "will/overdue" {
				t.Errorf("wills came in the order %v; the overdue one is published at the start", order)
			}
			if d := at["will/open"].Sub(restartAt); d < 2*time.Second {
				t.Errorf("will of a connection open at the crash published %s after the restart, before its delay", d)
			}
			if d := at["will/brief"].Sub(restartAt); d < time.Second {
				t.Errorf("will of a session that ends 1 s after the restart published after %s", d)
			}
			if due := time.Unix(recs["pending"].WillAt, 0); at["will/pending"].Before(due) {
				t.Errorf("pending will published %s before it was due", due.Sub(at["will/pending"]))
			}
			w.ExpectNothing(300 * time.Millisecond)
			testbroker.Eventually(t, 5*time.Second, func() error {
				for _, id := range ids {
					if rec, err := sessionRecord(st, id); err == nil && rec.Will != nil {
						return fmt.Errorf("will of %s still stored", id)
					}
				}
				return nil
			})
		})
	}
}

// TestWillOfExpiredSessionAfterCrash: a session that expires while the
// broker is down publishes its will once, when the broker starts, and is
// gone [MQTT-3.1.2-8].
func TestWillOfExpiredSessionAfterCrash(t *testing.T) {
	for _, ts := range testStores() {
		t.Run(ts.name, func(t *testing.T) {
			cs, b1 := startWillCrash(t, ts, broker.Options{})
			c, _ := mqtttest.Connect(t, b1.Addr, packet.V5, v5WillConnect("short", 1, 600))
			c.Close()
			var rec broker.SessionState
			testbroker.Eventually(t, 5*time.Second, func() error {
				var err error
				if rec, err = sessionRecord(cs.Store, "short"); err != nil {
					return err
				}
				if rec.Will == nil || rec.ExpiresAt == 0 {
					return fmt.Errorf("will %v, expires_at %d", rec.Will != nil, rec.ExpiresAt)
				}
				return nil
			})
			crash(t, cs, b1)
			expiresAt := time.Unix(rec.ExpiresAt, 0)
			testbroker.Eventually(t, 10*time.Second, func() error {
				if !time.Now().After(expiresAt) {
					return errNotYet
				}
				return nil
			})

			st := ts.reopen(t, cs.Store)
			b2 := testbroker.Start(t, broker.Options{Store: st})
			if _, err := sessionRecord(st, "short"); err == nil {
				// Its record goes with the will's publication.
				testbroker.Eventually(t, 5*time.Second, func() error {
					if _, err := sessionRecord(st, "short"); err == nil {
						return errors.New("expired session still stored")
					}
					return nil
				})
			}
			w := willWatcher(t, b2.Addr, false)
			collectWills(t, w, []string{"will/short"}, 5*time.Second)
			w.ExpectNothing(300 * time.Millisecond)
			if n := b2.Stats().SessionsCurrent; n != 1 {
				t.Errorf("%d sessions, want the watcher's alone", n)
			}
		})
	}
}

// TestCleanSessionWillAfterCrash: the will of a connection whose session
// ends with it (3.1.1 Clean Session, 5.0 Session Expiry Interval 0) is in
// the store while the connection is open, and a broker started after a
// crash publishes it [MQTT-3.1.2-8]; at once, as the session ended with
// the connection, whatever its Will Delay Interval. A connection without a
// will writes no will record, and one that ended with DISCONNECT leaves
// none behind [MQTT-3.14.4-3].
func TestCleanSessionWillAfterCrash(t *testing.T) {
	for _, ts := range testStores() {
		t.Run(ts.name, func(t *testing.T) {
			cs, b1 := startWillCrash(t, ts, broker.Options{})

			clean := func(id string) *packet.Connect {
				return &packet.Connect{ClientID: id, CleanStart: true,
					Will: &packet.Will{Topic: "will/" + id, Payload: []byte(id), QoS: 1}}
			}
			mqtttest.Connect(t, b1.Addr, packet.V311, clean("c311"))
			mqtttest.Connect(t, b1.Addr, packet.V5, v5WillConnect("c5", 0, 30))
			mqtttest.Connect(t, b1.Addr, packet.V311, &packet.Connect{ClientID: "nowill", CleanStart: true})
			polite, _ := mqtttest.Connect(t, b1.Addr, packet.V311, clean("polite"))
			polite.Send(&packet.Disconnect{})
			polite.ExpectClosed(2 * time.Second)
			testbroker.Eventually(t, 5*time.Second, func() error {
				if n := count(t, cs.Store, store.Wills); n != 2 {
					return fmt.Errorf("%d will records, want 2", n)
				}
				return nil
			})
			crash(t, cs, b1)

			st := ts.reopen(t, cs.Store)
			b2 := testbroker.Start(t, broker.Options{Store: st})
			w := willWatcher(t, b2.Addr, false)
			collectWills(t, w, []string{"will/c311", "will/c5"}, 5*time.Second)
			w.ExpectNothing(300 * time.Millisecond)
			testbroker.Eventually(t, 5*time.Second, func() error {
				if n := count(t, st, store.Wills); n != 0 {
					return fmt.Errorf("%d will records left", n)
				}
				return nil
			})
		})
	}
}

// TestWillDiscardedBeforeCrash: a will that DISCONNECT discarded is out of
// the store before the broker closes the socket, so a crash the moment
// the client sees the close does not bring it back [MQTT-3.14.4-3]. A
// long commit interval keeps the discard waiting for its commit.
func TestWillDiscardedBeforeCrash(t *testing.T) {
	endSession := &packet.Disconnect{}
	endSession.Properties.SessionExpiryInterval, endSession.Properties.HasSessionExpiryInterval = 0, true
	tests := []struct {
		name    string
		version packet.Version
		connect *packet.Connect
		// disconnect is the DISCONNECT the client sends; nil for a plain one.
		disconnect *packet.Disconnect
	}{
		{name: "3.1.1 persistent", version: packet.V311, connect: &packet.Connect{ClientID: "dev",
			Will: &packet.Will{Topic: "will/dev", Payload: []byte("gone"), QoS: 1}}},
		{name: "3.1.1 clean", version: packet.V311, connect: &packet.Connect{ClientID: "dev", CleanStart: true,
			Will: &packet.Will{Topic: "will/dev", Payload: []byte("gone"), QoS: 1}}},
		{name: "5.0 persistent delayed", version: packet.V5, connect: v5WillConnect("dev", 3600, 1)},
		{name: "5.0 ends with connection", version: packet.V5, connect: v5WillConnect("dev", 0, 0)},
		// The session ends with this connection after all: the will moves
		// from the session's record to one of its own, then goes.
		{name: "5.0 expiry ended by DISCONNECT", version: packet.V5, connect: v5WillConnect("dev", 3600, 0),
			disconnect: endSession},
	}
	for _, ts := range testStores() {
		for _, tc := range tests {
			t.Run(ts.name+"/"+tc.name, func(t *testing.T) {
				cs, b1 := startWillCrash(t, ts, broker.Options{CommitInterval: 200 * time.Millisecond})
				c, _ := mqtttest.Connect(t, b1.Addr, tc.version, tc.connect)
				testbroker.Eventually(t, 5*time.Second, func() error {
					rec, err := sessionRecord(cs.Store, "dev")
					if err == nil && rec.Will != nil || count(t, cs.Store, store.Wills) == 1 {
						return nil
					}
					return errors.New("will not stored yet")
				})
				d := tc.disconnect
				if d == nil {
					d = &packet.Disconnect{}
				}
				c.Send(d)
				c.ExpectClosed(5 * time.Second)
				crash(t, cs, b1)

				b2 := testbroker.Start(t, broker.Options{Store: ts.reopen(t, cs.Store)})
				w := willWatcher(t, b2.Addr, false)
				w.ExpectNothing(1500 * time.Millisecond)
			})
		}
	}
}

// TestDisconnectWithWillMessage: a 5.0 DISCONNECT with reason code 0x04
// asks for the will to be published all the same, after its delay when
// the session outlives the connection [MQTT-3.1.2-8].
func TestDisconnectWithWillMessage(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	w := willWatcher(t, b.Addr, true)
	for _, p := range []*packet.Connect{v5WillConnect("brief", 0, 0), v5WillConnect("lasting", 60, 1)} {
		c, _ := mqtttest.Connect(t, b.Addr, packet.V5, p)
		c.Send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWillMessage})
		c.ExpectClosed(2 * time.Second)
		collectWills(t, w, []string{p.Will.Topic}, 5*time.Second)
	}
	w.ExpectNothing(300 * time.Millisecond)
}

// TestWillOnCleanStart: a new connection with Clean Start ends the session
// whose will waits for its delay, so the will is published then, not
// dropped [MQTT-3.1.2-8]; only resuming the session keeps it from being
// sent [MQTT-3.1.3-9].
func TestWillOnCleanStart(t *testing.T) {
	st := memory.New()
	b := testbroker.Start(t, broker.Options{Store: st})
	w := willWatcher(t, b.Addr, true)
	c, _ := mqtttest.Connect(t, b.Addr, packet.V5, v5WillConnect("dev", 3600, 600))
	c.Close()
	testbroker.Eventually(t, 5*time.Second, func() error {
		rec, err := sessionRecord(st, "dev")
		if err != nil {
			return err
		}
		if rec.WillAt == 0 {
			return errors.New("will delay not running yet")
		}
		return nil
	})
	mqtttest.Connect(t, b.Addr, packet.V5, v5Connect("dev", true, 3600))
	collectWills(t, w, []string{"will/dev"}, 5*time.Second)
	w.ExpectNothing(300 * time.Millisecond)
	if rec, err := sessionRecord(st, "dev"); err == nil && rec.Will != nil {
		t.Fatal("the published will is still in the new session's record")
	}
}
