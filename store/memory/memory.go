// Package memory is a store.Store that keeps its records in the process.
package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/midgemq/midge/store"
)

// Store is an in-memory store.Store, safe for concurrent use. The zero value
// is not usable; call New.
type Store struct {
	// mu guards the maps below it.
	mu       sync.Mutex
	sessions map[string][]byte
	retained map[string][]byte
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{sessions: make(map[string][]byte), retained: make(map[string][]byte)}
}

// SaveSession implements store.Sessions. It keeps a copy of state.
func (s *Store) SaveSession(_ context.Context, clientID string, state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[clientID] = slices.Clone(state)
	return nil
}

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(_ context.Context, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, clientID)
	return nil
}

// LoadSessions implements store.Sessions. fn runs without the store's lock
// held, on a snapshot.
func (s *Store) LoadSessions(_ context.Context, fn func(string, []byte) error) error {
	return each(&s.mu, s.sessions, fn)
}

// SetRetained implements store.Retained. It keeps a copy of msg.
func (s *Store) SetRetained(_ context.Context, topic string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retained[topic] = slices.Clone(msg)
	return nil
}

// DeleteRetained implements store.Retained.
func (s *Store) DeleteRetained(_ context.Context, topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.retained, topic)
	return nil
}

// LoadRetained implements store.Retained. fn runs without the store's lock
// held, on a snapshot.
func (s *Store) LoadRetained(_ context.Context, fn func(string, []byte) error) error {
	return each(&s.mu, s.retained, fn)
}

// Close implements store.Store.
func (s *Store) Close() error { return nil }

func each(mu *sync.Mutex, m map[string][]byte, fn func(string, []byte) error) error {
	mu.Lock()
	keys := make([]string, 0, len(m))
	vals := make([][]byte, 0, len(m))
	for k, v := range m {
		keys = append(keys, k)
		vals = append(vals, v)
	}
	mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}
