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

// TestWaitWrittenSeesFailedBatch: a caller whose write was in a batch that
// failed before it began to wait learns of the failure; one whose writes
// were all in batches that succeeded does not.
func TestWaitWrittenSeesFailedBatch(t *testing.T) {
	st := &failingStore{Store: memory.New()}
	p := newPersister(st, DurabilityBatch, time.Millisecond, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer p.close()
	write := func(key string) (from, to uint64) {
		from = p.written()
		p.mu.Lock()
		p.batch.Set(store.Meta, key, []byte("v"))
		p.appendedLocked()
		p.mu.Unlock()
		return from, p.written()
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
	from, to := write("lost")
	applied() // failed before the wait below began
	if err := p.waitWritten(from, to); !errors.Is(err, errWriteFailed) {
		t.Fatalf("waitWritten for a write whose batch failed: %v, want %v", err, errWriteFailed)
	}

	st.fail.Store(false)
	from, to = write("kept")
	applied()
	if err := p.waitWritten(from, to); err != nil {
		t.Fatalf("waitWritten for a write whose batch succeeded, after a failed one: %v", err)
	}
}
