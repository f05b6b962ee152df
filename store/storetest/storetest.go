// Package storetest is the conformance suite every store.Store passes.
package storetest

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/midgemq/midge/store"
)

// Run runs the suite; open returns a new, empty store for each test.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("sessions", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		state := []byte("state-a")
		if err := s.SaveSession(ctx, "a", state); err != nil {
			t.Fatal(err)
		}
		state[0] = 'X' // the store must have kept its own copy
		must(t, s.SaveSession(ctx, "b", []byte("state-b")))
		must(t, s.SaveSession(ctx, "b", []byte("state-b2")))
		must(t, s.DeleteSession(ctx, "missing"))
		got := loadSessions(t, s)
		want := map[string]string{"a": "state-a", "b": "state-b2"}
		if !maps.Equal(got, want) {
			t.Fatalf("sessions %v, want %v", got, want)
		}
		must(t, s.DeleteSession(ctx, "a"))
		if got := loadSessions(t, s); !maps.Equal(got, map[string]string{"b": "state-b2"}) {
			t.Fatalf("after delete %v", got)
		}
	})
	t.Run("retained", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		for i := range 100 {
			must(t, s.SetRetained(ctx, fmt.Sprintf("t/%d", i), []byte{byte(i)}))
		}
		must(t, s.DeleteRetained(ctx, "t/7"))
		must(t, s.DeleteRetained(ctx, "never"))
		n := 0
		must(t, s.LoadRetained(ctx, func(topic string, msg []byte) error {
			if topic == "t/7" {
				return fmt.Errorf("deleted topic %q loaded", topic)
			}
			n++
			return nil
		}))
		if n != 99 {
			t.Fatalf("loaded %d retained, want 99", n)
		}
	})
	t.Run("load stops at error", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		must(t, s.SetRetained(ctx, "a", []byte("1")))
		must(t, s.SetRetained(ctx, "b", []byte("2")))
		stop := fmt.Errorf("stop")
		calls := 0
		err := s.LoadRetained(ctx, func(string, []byte) error { calls++; return stop })
		if err != stop || calls != 1 {
			t.Fatalf("err %v after %d calls", err, calls)
		}
	})
}

func loadSessions(t *testing.T, s store.Store) map[string]string {
	t.Helper()
	got := map[string]string{}
	must(t, s.LoadSessions(context.Background(), func(id string, state []byte) error {
		got[id] = string(state)
		return nil
	}))
	return got
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
