// Package memory is a store.Store that keeps its records in the process.
// Nothing survives the process; within it, a Store carries sessions and
// retained messages from one broker.Server to the next.
package memory

import (
	"slices"
	"strings"
	"sync"

	"github.com/midgemq/midge/store"
)

// Store is an in-memory store.Store, safe for concurrent use. The zero value
// is not usable; call New.
type Store struct {
	// mu guards the fields below it.
	mu      sync.RWMutex
	buckets map[store.Bucket]map[string][]byte
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{buckets: make(map[store.Bucket]map[string][]byte)}
}

// Apply implements store.Store. It keeps copies of the values; sync makes
// no difference.
func (s *Store) Apply(b *store.Batch, _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range b.Ops() {
		m := s.buckets[op.Bucket]
		switch op.Kind {
		case store.OpSet:
			if m == nil {
				m = make(map[string][]byte)
				s.buckets[op.Bucket] = m
			}
			m[op.Key] = slices.Clone(op.Value)
		case store.OpDelete:
			delete(m, op.Key)
		case store.OpNone: // taken back: nothing to do
		case store.OpDeletePrefix:
			for k := range m {
				if strings.HasPrefix(k, op.Key) {
					delete(m, k)
				}
			}
		}
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(bucket store.Bucket, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.buckets[bucket][key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return slices.Clone(v), nil
}

// Scan implements store.Store. It works on a snapshot of the matching keys,
// sorted at each call.
func (s *Store) Scan(bucket store.Bucket, prefix string, fn func(string, []byte) error) error {
	type kv struct {
		k string
		v []byte
	}
	s.mu.RLock()
	var found []kv
	for k, v := range s.buckets[bucket] {
		if strings.HasPrefix(k, prefix) {
			found = append(found, kv{k, v})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(found, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	for _, e := range found {
		if err := fn(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// Close implements store.Store. It does nothing: a memory store stays
// usable, so that one can carry state from one server to the next.
func (s *Store) Close() error { return nil }
