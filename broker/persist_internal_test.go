package broker

import (
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
)

// failingStore is a memory store whose Apply fails while fail is set.
type failingStore struct {
	*memory.Store
	fail atomic.Bool
}

var errWriteFailed = errors.New("write failed")

func (s *failingStore) Apply(b *store.Batch, sync bool) error {
	if s.fail.Load() {
		return errWriteFailed
	}
	return s.Store.Apply(b, sync)
}

// TestWhenWrittenSeesFailedBatch: a caller whose write was in a batch that
// failed learns of the failure, whether the batch failed before it began to
// wait (nothing left to wait for) or while it waited for a later batch that
// succeeded; one whose writes were all in batches that succeeded does not;
// and a caller under a session lock (deferLocked) is told through the
// committer.
func TestWhenWrittenSeesFailedBatch(t *testing.T) {
	st := &failingStore{Store: memory.New()}
	p := newPersister(st, DurabilityBatch, time.Millisecond, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer p.close()
	write := func(key string) (from uint64) {
		from = p.mark()
		p.mu.Lock()
		p.batch.Set(store.Meta, key, []byte("v"))
		p.appendedLocked()
		p.mu.Unlock()
		return from
	}
	applied := func() {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			p.mu.Lock()
			done := p.committed == p.appended && !p.running
			p.mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the batch was not committed")
			}
		}
	}

	st.fail.Store(true)
	from := write("lost")
	applied() // failed before the wait below began
	if err := p.waitSince(from); !errors.Is(err, errWriteFailed) {
		t.Fatalf("waitSince for a write whose batch failed before the wait: %v, want %v", err, errWriteFailed)
	}
	if err := p.wait(); err != nil {
		t.Fatalf("wait of a caller without writes after the failed batch: %v", err)
	}

	// The failed batch is applied; a later one is still open when the
	// caller begins to wait (the group keeps the committer from taking
	// it), and succeeds.
	st.fail.Store(false)
	from = p.mark()
	st.fail.Store(true)
	write("lost too")
	applied()
	st.fail.Store(false)
	got := make(chan error, 1)
	p.beginGroup()
	write("kept")
	p.whenWritten(from, func(err error) { got <- err })
	p.endGroup()
	if err := <-got; !errors.Is(err, errWriteFailed) {
		t.Fatalf("whenWritten waiting for a later batch that succeeded: %v, want %v", err, errWriteFailed)
	}

	from = write("kept too")
	applied()
	if err := p.waitSince(from); err != nil {
		t.Fatalf("waitSince for a write whose batch succeeded, after a failed one: %v", err)
	}
	if p.deferLocked(from, func(error) { t.Error("deferLocked ran fn for a durable write") }) {
		t.Fatal("deferLocked waits for a write that is durable")
	}

	st.fail.Store(true)
	from = write("lost again")
	applied()
	st.fail.Store(false)
	if !p.deferLocked(from, func(err error) { got <- err }) {
		t.Fatal("deferLocked let its caller act at once after its write failed")
	}
	if err := <-got; !errors.Is(err, errWriteFailed) {
		t.Fatalf("deferLocked after a failed batch: %v, want %v", err, errWriteFailed)
	}
}
