// Package testbroker starts a Midge broker for tests, on 127.0.0.1 and a
// free port, and shuts it down when the test ends.
package testbroker

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
)

// Broker is a running test broker.
type Broker struct {
	*broker.Server
	// Addr is the host:port of its MQTT TCP listener.
	Addr string
}

// IdleAfter is the Options.IdleAfter of brokers that Start makes when the
// test leaves it 0: short, so that connections park and wake between most
// of their packets and every test exercises it.
const IdleAfter = time.Millisecond

// Start starts a broker with opts on 127.0.0.1:0. A nil opts.Logger logs to
// the test's output at warning level and above, so that failing tests show
// what the broker saw.
func Start(t testing.TB, opts broker.Options) *Broker {
	t.Helper()
	if opts.IdleAfter == 0 {
		opts.IdleAfter = IdleAfter
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := broker.New(opts)
	if err != nil {
		t.Fatalf("testbroker: new: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testbroker: listen: %v", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && err != broker.ErrServerClosed {
			t.Errorf("testbroker: shutdown: %v", err)
		}
		<-served
	})
	return &Broker{Server: srv, Addr: l.Addr().String()}
}

// Eventually calls f until it returns nil or d has passed, and fails the
// test with f's last error then. It polls instead of sleeping a fixed time.
func Eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	pause := time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", d, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}
