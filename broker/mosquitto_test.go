package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
)

// mosquittoTool returns the path of a mosquitto client program, or skips
// the test when it is missing outside CI (make test installs it; in CI a
// missing tool fails the test).
func mosquittoTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if isCI() {
			t.Fatalf("%s not installed: make test installs mosquitto-clients", name)
		}
		t.Skipf("%s not installed (apt-get install mosquitto-clients)", name)
	}
	return p
}

func hostPort(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// startSub runs mosquitto_sub until it has received count messages and
// returns a function that waits for it and returns its output.
func startSub(t *testing.T, addr string, args ...string) func() string {
	t.Helper()
	h, p := hostPort(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, mosquittoTool(t, "mosquitto_sub"), append([]string{"-h", h, "-p", p}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() string {
		t.Helper()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("mosquitto_sub %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
}

func mosquittoPub(t *testing.T, addr string, args ...string) {
	t.Helper()
	h, p := hostPort(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, mosquittoTool(t, "mosquitto_pub"), append([]string{"-h", h, "-p", p}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
}

// waitSubscribed waits until the broker holds n subscriptions.
func waitSubscribed(t *testing.T, b *testbroker.Broker, n int64) {
	t.Helper()
	testbroker.Eventually(t, 10*time.Second, func() error {
		if got := b.Stats().Subscriptions; got < n {
			return fmt.Errorf("%d subscriptions, want %d", got, n)
		}
		return nil
	})
}

// TestMosquittoClients runs Debian's mosquitto_pub and mosquitto_sub
// against Midge at each QoS and protocol version.
func TestMosquittoClients(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, v := range []string{"mqttv31", "mqttv311"} {
		for _, qos := range []string{"0", "1", "2"} {
			t.Run(v+"/qos="+qos, func(t *testing.T) {
				tp := "mosq/" + v + "/" + qos
				// The last subtest's mosquitto_sub has exited; wait until
				// the broker has seen it go.
				testbroker.Eventually(t, 10*time.Second, func() error {
					if n := b.Stats().Subscriptions; n != 0 {
						return fmt.Errorf("%d subscriptions left", n)
					}
					return nil
				})
				before := int64(0)
				wait := startSub(t, b.Addr, "-V", v, "-q", qos, "-t", tp, "-C", "3", "-v")
				waitSubscribed(t, b, before+1)
				for i := range 3 {
					mosquittoPub(t, b.Addr, "-V", v, "-q", qos, "-t", tp, "-m", fmt.Sprintf("hello %d", i))
				}
				want := fmt.Sprintf("%s hello 0\n%s hello 1\n%s hello 2\n", tp, tp, tp)
				if got := wait(); got != want {
					t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
				}
			})
		}
	}
}

// TestMosquittoRetained sets a retained message with mosquitto_pub -r and
// reads it with a later mosquitto_sub; then clears it with -n -r.
func TestMosquittoRetained(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	mosquittoPub(t, b.Addr, "-t", "plant/boiler", "-m", "on", "-r", "-q", "1")
	if got := startSub(t, b.Addr, "-t", "plant/#", "-C", "1", "-v")(); got != "plant/boiler on\n" {
		t.Fatalf("retained %q", got)
	}
	mosquittoPub(t, b.Addr, "-t", "plant/boiler", "-n", "-r")
	testbroker.Eventually(t, 5*time.Second, func() error {
		if b.Stats().Retained != 0 {
			return errNotYet
		}
		return nil
	})
	// -W 1: wait one second for a message that must not come.
	h, p := hostPort(t, b.Addr)
	out, _ := exec.Command(mosquittoTool(t, "mosquitto_sub"), "-h", h, "-p", p, "-t", "plant/#", "-C", "1", "-W", "1", "-v").CombinedOutput()
	if strings.Contains(string(out), "plant/boiler") {
		t.Fatalf("cleared retained message still delivered: %q", out)
	}
}

// TestMosquittoWill gives mosquitto_sub a will and kills it: the will is
// published.
func TestMosquittoWill(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	wait := startSub(t, b.Addr, "-t", "wills/#", "-C", "1", "-v")
	waitSubscribed(t, b, 1)
	h, p := hostPort(t, b.Addr)
	cmd := exec.Command(mosquittoTool(t, "mosquitto_sub"), "-h", h, "-p", p, "-t", "none", "-i", "doomed",
		"--will-topic", "wills/doomed", "--will-payload", "offline", "--will-qos", "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, b, 2)
	cmd.Process.Kill()
	cmd.Wait()
	if got := wait(); got != "wills/doomed offline\n" {
		t.Fatalf("will %q", got)
	}
}

// TestMosquittoPersistentSession queues QoS 1 messages for an offline
// mosquitto_sub with -c and delivers them when it returns.
func TestMosquittoPersistentSession(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	h, p := hostPort(t, b.Addr)
	// Subscribe once with a persistent session, then leave.
	out, err := exec.Command(mosquittoTool(t, "mosquitto_sub"), "-h", h, "-p", p, "-i", "keeper", "-c", "-q", "1",
		"-t", "inbox", "-W", "1").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Timed out") && !isTimeoutExit(err) {
		t.Fatalf("first mosquitto_sub: %v\n%s", err, out)
	}
	for i := range 3 {
		mosquittoPub(t, b.Addr, "-t", "inbox", "-q", "1", "-m", fmt.Sprintf("queued %d", i))
	}
	got := startSub(t, b.Addr, "-i", "keeper", "-c", "-q", "1", "-t", "inbox", "-C", "3")()
	if got != "queued 0\nqueued 1\nqueued 2\n" {
		t.Fatalf("resumed session printed %q", got)
	}
}

// isTimeoutExit reports whether err is mosquitto_sub's exit after -W.
func isTimeoutExit(err error) bool {
	var ee *exec.ExitError
	if e, ok := err.(*exec.ExitError); ok {
		ee = e
	}
	return ee != nil && ee.ExitCode() == 27
}
