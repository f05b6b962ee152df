package broker_test

// Integration tests over real TCP with independent clients: Eclipse Paho for
// Go and Debian's mosquitto_pub and mosquitto_sub. They repeat, with clients
// the broker's authors did not write, behaviours otherwise tested only with
// the in-house client internal/mqtttest. Where neither can express a case
// (a client that stays silent, one that never sends CONNECT) a raw net.Conn
// with a CONNECT built by the packet package stands in.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// indepOptions are the options pahoClient uses (MQTT 3.1.1), for tests that
// need to add a will, a handler or a dialer before connecting.
func indepOptions(addr, id string, clean bool) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetCleanSession(clean).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetConnectTimeout(5 * time.Second)
}

// indepConnect connects a Paho client made from o, disconnects it when the
// test ends, and returns it with its CONNACK's Session Present flag.
func indepConnect(t *testing.T, o *mqtt.ClientOptions) (mqtt.Client, bool) {
	t.Helper()
	c := mqtt.NewClient(o)
	tok := c.Connect()
	wait(t, tok)
	t.Cleanup(func() { c.Disconnect(100) })
	return c, tok.(*mqtt.ConnectToken).SessionPresent()
}

// lostSignal returns a connection-lost handler and a channel closed on its
// first call.
func lostSignal() (mqtt.ConnectionLostHandler, <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return func(mqtt.Client, error) { once.Do(func() { close(ch) }) }, ch
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not within 5s", what)
	}
}

// waitConnections waits until the broker holds n connections.
func waitConnections(t *testing.T, b *testbroker.Broker, n int64) {
	t.Helper()
	testbroker.Eventually(t, 5*time.Second, func() error {
		if got := b.Stats().ConnectionsCurrent; got != n {
			return fmt.Errorf("%d connections, want %d", got, n)
		}
		return nil
	})
}

// waitDropped waits until the broker has counted n drops for reason.
func waitDropped(t *testing.T, b *testbroker.Broker, reason string, n int64) {
	t.Helper()
	testbroker.Eventually(t, 5*time.Second, func() error {
		if got := b.Stats().Dropped[reason]; got != n {
			return fmt.Errorf("%s drops = %d, want %d", reason, got, n)
		}
		return nil
	})
}

// readUntilClosed reads nc until it fails and returns that error, which is
// a timeout when the broker did not close nc within d.
func readUntilClosed(nc net.Conn, d time.Duration) error {
	nc.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 256)
	for {
		if _, err := nc.Read(buf); err != nil {
			return err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestIndependentRetainedPaho sets, replaces and clears a retained message
// with Paho. The broker stores it [MQTT-3.3.1-5] and sends the latest one to
// a new subscription [MQTT-3.3.1-6] with RETAIN set [MQTT-3.3.1-8], while an
// established subscription gets live messages with RETAIN clear
// [MQTT-3.3.1-9]. An empty retained payload is delivered as usual but
// removes the retained message [MQTT-3.3.1-10] and is not stored itself
// [MQTT-3.3.1-11].
func TestIndependentRetainedPaho(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	pub := pahoClient(t, b.Addr, "ret-pub", true, 4)
	var live received
	watcher := pahoClient(t, b.Addr, "ret-live", true, 4)
	wait(t, watcher.Subscribe("ret/a", 1, live.handler))

	wait(t, pub.Publish("ret/a", 1, true, "v1"))
	wait(t, pub.Publish("ret/a", 1, true, "v2")) // replaces v1

	var first received
	sub := pahoClient(t, b.Addr, "ret-sub1", true, 4)
	wait(t, sub.Subscribe("ret/a", 1, first.handler))
	got := first.waitFor(t, 1)
	if got[0].Topic() != "ret/a" || string(got[0].Payload()) != "v2" || !got[0].Retained() {
		t.Fatalf("new subscriber got %q %q retained=%v, want ret/a v2 retained", got[0].Topic(), got[0].Payload(), got[0].Retained())
	}

	// Clear it: QoS 1 so that the PUBACK says the broker has it.
	wait(t, pub.Publish("ret/a", 1, true, []byte{}))
	testbroker.Eventually(t, 5*time.Second, func() error {
		if n := b.Stats().Retained; n != 0 {
			return fmt.Errorf("%d retained messages after clearing", n)
		}
		return nil
	})
	// The established subscriber saw v1, v2 and the empty message, all
	// live, so none with RETAIN set.
	lv := live.waitFor(t, 3)
	if !slices.Equal(payloads(lv), []string{"v1", "v2", ""}) {
		t.Fatalf("live subscriber got %q", payloads(lv))
	}
	for _, m := range lv {
		if m.Retained() {
			t.Fatalf("live delivery of %q has RETAIN set [MQTT-3.3.1-9]", m.Payload())
		}
	}

	// A retained sentinel on another topic under the same filter: a new
	// subscriber to ret/# gets it, and nothing for ret/a.
	wait(t, pub.Publish("ret/z", 1, true, "z"))
	var second received
	sub2 := pahoClient(t, b.Addr, "ret-sub2", true, 4)
	wait(t, sub2.Subscribe("ret/#", 1, second.handler))
	got = second.waitFor(t, 1)
	if got[0].Topic() != "ret/z" || !got[0].Retained() {
		t.Fatalf("after clearing, new subscriber got %q %q", got[0].Topic(), got[0].Payload())
	}
	time.Sleep(100 * time.Millisecond)
	if all := second.snapshot(); len(all) != 1 {
		t.Fatalf("after clearing, new subscriber got %d messages: %q", len(all), payloads(all))
	}
}

// TestIndependentRetainedMosquitto does the same with mosquitto_pub -r and
// mosquitto_sub -F '%r %t %p', which prints the RETAIN flag of each message
// [MQTT-3.3.1-5] [MQTT-3.3.1-8] [MQTT-3.3.1-9], and clears with -r -n
// [MQTT-3.3.1-10] [MQTT-3.3.1-11].
func TestIndependentRetainedMosquitto(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	const format = `%r %t %p`
	noSubs := func() {
		testbroker.Eventually(t, 10*time.Second, func() error {
			if n := b.Stats().Subscriptions; n != 0 {
				return fmt.Errorf("%d subscriptions left", n)
			}
			return nil
		})
	}
	mosquittoPub(t, b.Addr, "-q", "1", "-r", "-t", "mret/a", "-m", "v1")
	mosquittoPub(t, b.Addr, "-q", "1", "-r", "-t", "mret/a", "-m", "v2")
	if got := startSub(t, b.Addr, "-q", "1", "-t", "mret/a", "-C", "1", "-F", format)(); got != "1 mret/a v2\n" {
		t.Fatalf("retained: mosquitto_sub printed %q, want %q", got, "1 mret/a v2\n")
	}

	// A live message has RETAIN clear.
	noSubs()
	w := startSub(t, b.Addr, "-q", "1", "-t", "mret/live", "-C", "1", "-F", format)
	waitSubscribed(t, b, 1)
	mosquittoPub(t, b.Addr, "-q", "1", "-t", "mret/live", "-m", "now")
	if got := w(); got != "0 mret/live now\n" {
		t.Fatalf("live: mosquitto_sub printed %q", got)
	}

	// Clear with an empty retained message.
	mosquittoPub(t, b.Addr, "-q", "1", "-r", "-n", "-t", "mret/a")
	testbroker.Eventually(t, 5*time.Second, func() error {
		if n := b.Stats().Retained; n != 0 {
			return fmt.Errorf("%d retained messages after clearing", n)
		}
		return nil
	})
	// The first message a new subscriber to mret/# gets is a sentinel
	// retained after the clear, not mret/a.
	mosquittoPub(t, b.Addr, "-q", "1", "-r", "-t", "mret/z", "-m", "z")
	if got := startSub(t, b.Addr, "-q", "1", "-t", "mret/#", "-C", "1", "-F", format)(); got != "1 mret/z z\n" {
		t.Fatalf("after clearing: mosquitto_sub printed %q, want only the sentinel", got)
	}
}

// TestIndependentWillOnKilledConnection closes a client's connection
// without DISCONNECT: the broker publishes its will [MQTT-3.1.2-8] to a
// Paho subscriber. Once with a Paho client whose socket is closed under it,
// once with mosquitto_sub killed with SIGKILL.
func TestIndependentWillOnKilledConnection(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	var wills received
	sub := pahoClient(t, b.Addr, "will-watcher", true, 4)
	wait(t, sub.Subscribe("wills/#", 1, wills.handler))

	t.Run("paho", func(t *testing.T) {
		conns := make(chan net.Conn, 1)
		o := indepOptions(b.Addr, "paho-doomed", true).
			SetWill("wills/paho", "paho offline", 1, false).
			SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
				nc, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
				if err == nil {
					conns <- nc
				}
				return nc, err
			})
		indepConnect(t, o)
		// Close Paho's socket under it: no DISCONNECT is sent. (Paho may
		// not notice until its next ping; the broker sees EOF at once.)
		nc := <-conns
		nc.Close()
		got := wills.waitFor(t, 1)
		if got[0].Topic() != "wills/paho" || string(got[0].Payload()) != "paho offline" || got[0].Qos() != 1 {
			t.Fatalf("will %q %q qos %d", got[0].Topic(), got[0].Payload(), got[0].Qos())
		}
	})

	t.Run("mosquitto", func(t *testing.T) {
		h, p := hostPort(t, b.Addr)
		before := b.Stats().Subscriptions
		cmd := exec.Command(mosquittoTool(t, "mosquitto_sub"), "-h", h, "-p", p, "-i", "mosq-doomed", "-t", "none",
			"--will-topic", "wills/mosquitto", "--will-payload", "mosquitto offline", "--will-qos", "1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killed := false
		t.Cleanup(func() {
			if !killed {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		waitSubscribed(t, b, before+1)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		killed = true
		var will mqtt.Message
		testbroker.Eventually(t, 5*time.Second, func() error {
			for _, m := range wills.snapshot() {
				if m.Topic() == "wills/mosquitto" {
					will = m
					return nil
				}
			}
			return errors.New("no will from the killed mosquitto_sub")
		})
		if string(will.Payload()) != "mosquitto offline" || will.Qos() != 1 {
			t.Fatalf("will %q qos %d", will.Payload(), will.Qos())
		}
	})
}

// TestIndependentNoWillAfterDisconnect: a client that sends DISCONNECT has
// its will discarded [MQTT-3.1.2-10] [MQTT-3.14.4-3]; Paho's Disconnect and
// mosquitto_pub's normal exit both send one.
func TestIndependentNoWillAfterDisconnect(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	var got received
	sub := pahoClient(t, b.Addr, "nowill-watcher", true, 4)
	wait(t, sub.Subscribe("wills/#", 1, got.handler))

	c := mqtt.NewClient(indepOptions(b.Addr, "polite", true).SetWill("wills/polite", "must not be sent", 1, false))
	wait(t, c.Connect())
	c.Disconnect(250)
	waitConnections(t, b, 1)

	if _, err := exec.LookPath("mosquitto_pub"); err == nil || isCI() {
		mosquittoPub(t, b.Addr, "-i", "polite-mosq", "-q", "1", "-t", "wills/regular", "-m", "regular",
			"--will-topic", "wills/mosq", "--will-payload", "must not be sent")
		waitConnections(t, b, 1)
	}

	// A sentinel published after both have gone: wills would have come
	// before it.
	pub := pahoClient(t, b.Addr, "nowill-pub", true, 4)
	wait(t, pub.Publish("wills/sentinel", 1, false, "sentinel"))
	testbroker.Eventually(t, 5*time.Second, func() error {
		if ms := got.snapshot(); len(ms) == 0 || ms[len(ms)-1].Topic() != "wills/sentinel" {
			return errNotYet
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond)
	for _, m := range got.snapshot() {
		if m.Topic() != "wills/sentinel" && m.Topic() != "wills/regular" {
			t.Fatalf("will published after DISCONNECT: %q %q", m.Topic(), m.Payload())
		}
	}
}

// TestIndependentKeepAliveExpiry connects a raw socket with keep alive 1 s
// and a will, then stays silent: the broker closes it no sooner than one and
// a half keep-alive periods after its last packet [MQTT-3.1.2-24] (and
// within a generous bound), and publishes the will [MQTT-3.1.2-8] to a Paho
// subscriber. Paho and mosquitto_sub always ping, so neither can be the
// silent client. Run with connections that park (the test broker's short
// IdleAfter) and with parking off.
func TestIndependentKeepAliveExpiry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		idle   time.Duration
		parked bool
	}{
		{"parked", 0, true},
		{"not-parked", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testbroker.Start(t, broker.Options{IdleAfter: tc.idle})
			var wills received
			sub := pahoClient(t, b.Addr, "ka-watcher", true, 4)
			wait(t, sub.Subscribe("ka/#", 1, wills.handler))

			nc, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			con := packet.Connect{Version: packet.V311, ClientID: "silent", CleanStart: true, KeepAlive: 1,
				Will: &packet.Will{Topic: "ka/silent", Payload: []byte("timed out"), QoS: 1}}
			buf, err := con.Append(nil, packet.V311)
			if err != nil {
				t.Fatal(err)
			}
			// The clock starts before the CONNECT, the client's last packet,
			// is written: the broker cannot have received it sooner.
			start := time.Now()
			if _, err := nc.Write(buf); err != nil {
				t.Fatal(err)
			}
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			ack := make([]byte, 4)
			if _, err := io.ReadFull(nc, ack); err != nil {
				t.Fatalf("reading CONNACK: %v", err)
			}
			if !slices.Equal(ack, []byte{0x20, 0x02, 0x00, 0x00}) {
				t.Fatalf("CONNACK % x", ack)
			}
			if tc.parked {
				// Both the watcher and the silent connection park.
				testbroker.Eventually(t, time.Second, func() error {
					if n := b.Stats().ConnectionsParked; n != 2 {
						return fmt.Errorf("%d connections parked, want 2", n)
					}
					return nil
				})
			} else if n := b.Stats().ConnectionsParked; n != 0 {
				t.Fatalf("%d connections parked with IdleAfter < 0", n)
			}
			err = readUntilClosed(nc, 10*time.Second)
			elapsed := time.Since(start)
			if isTimeout(err) {
				t.Fatalf("silent connection still open after %s", elapsed)
			}
			if elapsed < 1500*time.Millisecond {
				t.Fatalf("closed %s after the last packet, before 1.5 keep-alive periods", elapsed)
			}
			if elapsed > 5*time.Second {
				t.Fatalf("closed only %s after the last packet", elapsed)
			}
			got := wills.waitFor(t, 1)
			if got[0].Topic() != "ka/silent" || string(got[0].Payload()) != "timed out" {
				t.Fatalf("will %q %q", got[0].Topic(), got[0].Payload())
			}
			if !tc.parked {
				if n := b.Stats().ConnectionsParked; n != 0 {
					t.Fatalf("%d connections parked with IdleAfter < 0", n)
				}
			}
		})
	}
}

// TestIndependentSessionResume uses Paho only: a client with Clean Session 0
// subscribes at QoS 1 and disconnects; the broker keeps its session and
// queues the QoS 1 messages published meanwhile [MQTT-3.1.2-4]
// [MQTT-3.1.2-5]; on reconnecting with the same id it is told the session
// is present [MQTT-3.2.2-2] and gets all of them in order.
func TestIndependentSessionResume(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	first, present := indepConnect(t, indepOptions(b.Addr, "resumer", false))
	if present {
		t.Fatal("Session Present on the first connect")
	}
	wait(t, first.Subscribe("inbox/resumer", 1, func(mqtt.Client, mqtt.Message) {}))
	first.Disconnect(250)
	waitConnections(t, b, 0)

	pub := pahoClient(t, b.Addr, "resume-pub", true, 4)
	want := seqPayloads(3)
	for _, m := range want {
		wait(t, pub.Publish("inbox/resumer", 1, false, m))
	}

	var got received
	_, present = indepConnect(t, indepOptions(b.Addr, "resumer", false).
		SetResumeSubs(true).
		SetDefaultPublishHandler(got.handler))
	if !present {
		t.Fatal("Session Present 0 on resuming [MQTT-3.2.2-2]")
	}
	ms := got.waitFor(t, 3)
	if !slices.Equal(payloads(ms), want) {
		t.Fatalf("resumed session got %q, want %q", payloads(ms), want)
	}
	for _, m := range ms {
		if m.Qos() != 1 || m.Topic() != "inbox/resumer" {
			t.Fatalf("got %q at QoS %d", m.Topic(), m.Qos())
		}
	}
}

// TestIndependentTakeover connects two Paho clients with one client id: the
// broker disconnects the first [MQTT-3.1.4-2], whose connection-lost
// handler runs, and the second works.
func TestIndependentTakeover(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	onLost, lost := lostSignal()
	firstClient, _ := indepConnect(t, indepOptions(b.Addr, "same", true).SetConnectionLostHandler(onLost))
	second := pahoClient(t, b.Addr, "same", true, 4)
	waitClosed(t, lost, "first client's connection lost")
	if firstClient.IsConnectionOpen() {
		t.Fatal("first client still connected")
	}
	waitConnections(t, b, 1)

	var got received
	wait(t, second.Subscribe("take/x", 1, got.handler))
	wait(t, second.Publish("take/x", 1, false, "still here"))
	if ms := got.waitFor(t, 1); string(ms[0].Payload()) != "still here" {
		t.Fatalf("second client got %q", ms[0].Payload())
	}
}

// TestIndependentMaxPacketSize: a Paho PUBLISH over MaxPacketSize closes
// that connection, the drop is counted, and other clients carry on.
func TestIndependentMaxPacketSize(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxPacketSize: 1024})
	var got received
	sub := pahoClient(t, b.Addr, "mps-sub", true, 4)
	wait(t, sub.Subscribe("mps/#", 1, got.handler))

	onLost, lost := lostSignal()
	big, _ := indepConnect(t, indepOptions(b.Addr, "mps-big", true).SetConnectionLostHandler(onLost))
	wait(t, big.Publish("mps/ok", 0, false, make([]byte, 900)))
	big.Publish("mps/big", 0, false, make([]byte, 2000)) // may fail: the broker closes the connection
	waitClosed(t, lost, "connection lost after an oversized PUBLISH")
	waitDropped(t, b, "packet_too_large", 1)

	other := pahoClient(t, b.Addr, "mps-other", true, 4)
	wait(t, other.Publish("mps/after", 1, false, "after"))
	ms := got.waitFor(t, 2)
	if ms[0].Topic() != "mps/ok" || ms[1].Topic() != "mps/after" {
		t.Fatalf("subscriber got %q then %q", ms[0].Topic(), ms[1].Topic())
	}
}

// TestIndependentMaxConnections: with MaxConnections 2 a third Paho client
// fails to connect and is counted; once one leaves, a new one gets in.
func TestIndependentMaxConnections(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxConnections: 2})
	a := pahoClient(t, b.Addr, "mc-a", true, 4)
	pahoClient(t, b.Addr, "mc-b", true, 4)

	c := mqtt.NewClient(indepOptions(b.Addr, "mc-c", true))
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("third connect neither failed nor succeeded")
	}
	if tok.Error() == nil {
		c.Disconnect(100)
		t.Fatal("third connection accepted with MaxConnections 2")
	}
	waitDropped(t, b, "max_connections", 1)

	a.Disconnect(250)
	waitConnections(t, b, 1)
	pahoClient(t, b.Addr, "mc-d", true, 4)
}

// TestIndependentMaxQueued: with MaxQueued 2, an offline Paho session
// subscribed at QoS 1 keeps the first two of four messages; two are
// counted as dropped; on return it gets the two, then live messages.
func TestIndependentMaxQueued(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxQueued: 2})
	away, _ := indepConnect(t, indepOptions(b.Addr, "away", false))
	wait(t, away.Subscribe("mq/q", 1, func(mqtt.Client, mqtt.Message) {}))
	away.Disconnect(250)
	waitConnections(t, b, 0)

	pub := pahoClient(t, b.Addr, "mq-pub", true, 4)
	for _, m := range seqPayloads(4) {
		wait(t, pub.Publish("mq/q", 1, false, m))
	}
	waitDropped(t, b, "queue_full", 2)

	var got received
	indepConnect(t, indepOptions(b.Addr, "away", false).SetDefaultPublishHandler(got.handler))
	got.waitFor(t, 2)
	// A live message after the queue: nothing else came between.
	wait(t, pub.Publish("mq/q", 1, false, "live"))
	ms := got.waitFor(t, 3)
	if want := []string{"m0", "m1", "live"}; !slices.Equal(payloads(ms), want) {
		t.Fatalf("got %q, want %q", payloads(ms), want)
	}
}

// TestIndependentConnectTimeout: a TCP connection that never sends CONNECT
// is closed after ConnectTimeout, and counted.
func TestIndependentConnectTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	b := testbroker.Start(t, broker.Options{ConnectTimeout: timeout})
	// The clock starts before the dial: the broker's cannot start sooner.
	start := time.Now()
	nc, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	err = readUntilClosed(nc, 10*time.Second)
	elapsed := time.Since(start)
	if isTimeout(err) {
		t.Fatalf("silent connection still open after %s", elapsed)
	}
	if elapsed < timeout {
		t.Fatalf("closed after %s, before ConnectTimeout %s", elapsed, timeout)
	}
	waitDropped(t, b, "connect_timeout", 1)
}

// TestIndependentMaxInflight: with MaxInflight 1 a Paho QoS 1 subscriber
// still gets every message, once and in order [MQTT-4.6.0-6], while the
// broker never has more than one in flight to it.
func TestIndependentMaxInflight(t *testing.T) {
	b := testbroker.Start(t, broker.Options{MaxInflight: 1})
	var got received
	sub := pahoClient(t, b.Addr, "mi-sub", true, 4)
	wait(t, sub.Subscribe("mi/x", 1, got.handler))
	pub := pahoClient(t, b.Addr, "mi-pub", true, 4)
	const n = 50
	want := seqPayloads(n)
	for _, m := range want {
		wait(t, pub.Publish("mi/x", 1, false, m))
		if f := b.Stats().Inflight; f > 1 {
			t.Fatalf("%d messages in flight with MaxInflight 1", f)
		}
	}
	ms := got.waitFor(t, n)
	if !slices.Equal(payloads(ms), want) {
		t.Fatalf("got %q", payloads(ms))
	}
	for _, m := range ms {
		if m.Qos() != 1 {
			t.Fatalf("%q at QoS %d", m.Payload(), m.Qos())
		}
	}
}
