package bench_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/midgemq/midge/bench"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/testbroker"
)

// TestConnectionLost has the broker drop a subscriber in the middle of a run, read by an event loop or by a
// goroutine: the run reports ErrConnectionLost and counts the connection lost, and its other connection closes as
// usual when the run ends.
func TestConnectionLost(t *testing.T) {
	b := testbroker.Start(t, broker.Options{})
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			prefix := "lost-" + m.name
			type outcome struct {
				res bench.Result
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := bench.Run(context.Background(), bench.Config{Scenario: bench.ScenarioSub, Host: b.Addr,
					Subscribers: 2, Duration: 3 * time.Second, Topic: prefix, ClientPrefix: prefix,
					ReadLoops: m.loops})
				done <- outcome{res, err}
			}()
			testbroker.Eventually(t, 10*time.Second, func() error {
				if !b.Disconnect(prefix + "-s1") {
					return fmt.Errorf("no client %s-s1", prefix)
				}
				return nil
			})
			var o outcome
			select {
			case o = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("the run did not end")
			}
			if !errors.Is(o.err, bench.ErrConnectionLost) {
				t.Errorf("err %v, want ErrConnectionLost", o.err)
			}
			if o.res.Connect.Lost != 1 || o.res.Connect.Established != 2 {
				t.Errorf("connections %+v, want 2 established and 1 lost", o.res.Connect)
			}
			testbroker.Eventually(t, 5*time.Second, func() error {
				if n := b.Stats().ConnectionsCurrent; n != 0 {
					return fmt.Errorf("%d connections left", n)
				}
				return nil
			})
		})
	}
}
