package none_test

import (
	"errors"
	"testing"

	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/none"
)

// TestKeepsNothing: writes succeed, and nothing is found afterwards.
func TestKeepsNothing(t *testing.T) {
	st := none.New()
	var b store.Batch
	b.Set(store.Retained, "a/b", []byte("v"))
	b.Set(store.Sessions, "c1", []byte("{}"))
	if err := st.Apply(&b, true); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if _, err := st.Get(store.Retained, "a/b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
	n := 0
	if err := st.Scan(store.Sessions, "", func(string, []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("Scan: %d records, %v; want none", n, err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
