// Package none is a store.Store that keeps nothing: for a broker whose
// state lives in its memory alone and ends with the process (the
// configuration's store = "memory"). Writes succeed and are forgotten;
// reads find nothing. The broker, told so by store.Discarding, then keeps
// in memory what it would otherwise read back from its store, and holds
// each retained message and session once rather than twice.
package none

import "github.com/midgemq/midge/store"

// Store keeps nothing. The zero value is ready to use.
type Store struct{}

var (
	_ store.Store      = Store{}
	_ store.Discarding = Store{}
)

// New returns a Store.
func New() Store { return Store{} }

// Apply implements store.Store: it forgets b.
func (Store) Apply(*store.Batch, bool) error { return nil }

// Get implements store.Store: it finds nothing.
func (Store) Get(store.Bucket, string) ([]byte, error) { return nil, store.ErrNotFound }

// Scan implements store.Store: it finds nothing.
func (Store) Scan(store.Bucket, string, func(string, []byte) error) error { return nil }

// Close implements store.Store.
func (Store) Close() error { return nil }

// Discards implements store.Discarding.
func (Store) Discards() {}
