// Package storetest is the conformance suite every store.Store passes.
package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/midgemq/midge/store"
)

// Open returns a new, empty store for one test. Reopen, when not nil,
// closes s and opens the same store again, for the tests that check what a
// store keeps across a restart.
type Open func(t *testing.T) store.Store

// Run runs the suite. It leaves store.Meta alone: a store may keep its
// own records there. reopen may be nil for a store that keeps nothing
// across Close.
func Run(t *testing.T, open Open, reopen func(t *testing.T, s store.Store) store.Store) {
	t.Run("set get delete", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var b store.Batch
		v := []byte("one")
		b.Set(store.Sessions, "a", v)
		b.Set(store.Retained, "a", []byte("other bucket"))
		must(t, s.Apply(&b, true))
		v[0] = 'X' // the store must have kept its own copy
		expectValue(t, s, store.Sessions, "a", "one")
		expectValue(t, s, store.Retained, "a", "other bucket")
		if _, err := s.Get(store.Sessions, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
		}
		b.Reset()
		b.Set(store.Sessions, "a", []byte("two"))
		b.Delete(store.Retained, "a")
		b.Delete(store.Retained, "never set")
		must(t, s.Apply(&b, false))
		expectValue(t, s, store.Sessions, "a", "two")
		if _, err := s.Get(store.Retained, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
		}
	})
	t.Run("batch order", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var b store.Batch
		b.Set(store.Queues, "c/1", []byte("x"))
		b.Delete(store.Queues, "c/1")
		b.Set(store.Queues, "c/2", []byte("y"))
		b.DeletePrefix(store.Queues, "c/")
		b.Set(store.Queues, "c/3", []byte("z"))
		must(t, s.Apply(&b, true))
		if got := scan(t, s, store.Queues, ""); !maps.Equal(got, map[string]string{"c/3": "z"}) {
			t.Fatalf("after ordered batch: %v", got)
		}
	})
	t.Run("scan order and prefix", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var b store.Batch
		keys := []string{"b\x00\x02", "a\x00\x01", "b\x00\x01", "ab", "b", "b\x00\xff", "c"}
		for _, k := range keys {
			b.Set(store.Queues, k, []byte(k))
		}
		b.Set(store.Messages, "b\x00\x03", []byte("other bucket"))
		must(t, s.Apply(&b, true))
		var got []string
		must(t, s.Scan(store.Queues, "b\x00", func(k string, v []byte) error {
			if string(v) != k {
				return fmt.Errorf("key %q has value %q", k, v)
			}
			got = append(got, k)
			return nil
		}))
		if want := []string{"b\x00\x01", "b\x00\x02", "b\x00\xff"}; !slices.Equal(got, want) {
			t.Fatalf("Scan(b\\x00) = %q, want %q", got, want)
		}
		got = got[:0]
		must(t, s.Scan(store.Queues, "", func(k string, _ []byte) error { got = append(got, k); return nil }))
		want := slices.Clone(keys)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("Scan() = %q, want %q", got, want)
		}
	})
	t.Run("scan from", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		r, ok := s.(store.Ranger)
		if !ok {
			t.Skip("the store is no store.Ranger")
		}
		var b store.Batch
		for i := range 10 {
			b.Set(store.Queues, fmt.Sprintf("b\x00%02d", i), []byte{byte(i)})
		}
		b.Set(store.Queues, "a\x0099", nil)
		b.Set(store.Queues, "c\x0000", nil)
		b.Delete(store.Queues, "b\x0005")
		must(t, s.Apply(&b, true))
		from := func(start string) []string {
			var got []string
			must(t, r.ScanFrom(store.Queues, "b\x00", start, func(k string, _ []byte) error {
				got = append(got, k)
				return nil
			}))
			return got
		}
		if got, want := from("b\x0004"), []string{"b\x0004", "b\x0006", "b\x0007", "b\x0008", "b\x0009"}; !slices.Equal(got, want) {
			t.Fatalf("ScanFrom(b\\x0004) = %q, want %q", got, want)
		}
		if got, want := from("b\x00055"), []string{"b\x0006", "b\x0007", "b\x0008", "b\x0009"}; !slices.Equal(got, want) {
			t.Fatalf("ScanFrom(b\\x00055) = %q, want %q", got, want)
		}
		if got := from(""); len(got) != 9 {
			t.Fatalf("ScanFrom before the prefix = %q, want the prefix's 9 keys", got)
		}
		if got := from("b\x01"); len(got) != 0 {
			t.Fatalf("ScanFrom after the prefix = %q, want none", got)
		}
	})
	t.Run("delete prefix", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var b store.Batch
		for i := range 50 {
			b.Set(store.Queues, fmt.Sprintf("dev1\x00%03d", i), []byte{byte(i)})
			b.Set(store.Queues, fmt.Sprintf("dev10\x00%03d", i), []byte{byte(i)})
		}
		b.Set(store.Sessions, "dev1\x00keep", []byte("other bucket"))
		must(t, s.Apply(&b, true))
		b.Reset()
		b.DeletePrefix(store.Queues, "dev1\x00")
		must(t, s.Apply(&b, true))
		if n := len(scan(t, s, store.Queues, "dev1\x00")); n != 0 {
			t.Fatalf("%d keys left under a deleted prefix", n)
		}
		if n := len(scan(t, s, store.Queues, "dev10\x00")); n != 50 {
			t.Fatalf("DeletePrefix removed keys of a longer prefix: %d left of 50", n)
		}
		expectValue(t, s, store.Sessions, "dev1\x00keep", "other bucket")
		// A prefix of 0xff bytes has no successor key: everything from it on.
		b.Reset()
		b.Set(store.Retained, "\xff\xff", []byte("1"))
		b.Set(store.Retained, "\xff\xff\x01", []byte("2"))
		b.Set(store.Retained, "\xfe", []byte("3"))
		b.DeletePrefix(store.Retained, "\xff\xff")
		must(t, s.Apply(&b, true))
		if got := scan(t, s, store.Retained, ""); !maps.Equal(got, map[string]string{"\xfe": "3"}) {
			t.Fatalf("after DeletePrefix(\\xff\\xff) in retained: %q", got)
		}
	})
	t.Run("scan stops at error", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var b store.Batch
		b.Set(store.Retained, "a", []byte("1"))
		b.Set(store.Retained, "b", []byte("2"))
		must(t, s.Apply(&b, true))
		stop := errors.New("stop")
		calls := 0
		err := s.Scan(store.Retained, "", func(string, []byte) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("err %v after %d calls", err, calls)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		s := open(t)
		defer s.Close()
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 200 {
					var b store.Batch
					b.Set(store.Queues, fmt.Sprintf("w%d\x00%04d", w, i), []byte("v"))
					if i%2 == 1 {
						b.Delete(store.Queues, fmt.Sprintf("w%d\x00%04d", w, i-1))
					}
					if err := s.Apply(&b, i%10 == 0); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Go(func() {
				for range 50 {
					if err := s.Scan(store.Queues, "", func(string, []byte) error { return nil }); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if n := len(scan(t, s, store.Queues, "")); n != 400 {
			t.Fatalf("%d keys, want 400", n)
		}
	})
	if reopen == nil {
		return
	}
	t.Run("reopen keeps what was applied", func(t *testing.T) {
		s := open(t)
		var b store.Batch
		for i := range 100 {
			b.Set(store.Retained, fmt.Sprintf("t/%d", i), []byte{byte(i)})
		}
		must(t, s.Apply(&b, true))
		b.Reset()
		b.Delete(store.Retained, "t/7")
		b.Set(store.Sessions, "written behind", []byte("x"))
		must(t, s.Apply(&b, false))
		s = reopen(t, s)
		defer s.Close()
		got := scan(t, s, store.Retained, "")
		if len(got) != 99 || got["t/7"] != "" || got["t/8"] != "\x08" {
			t.Fatalf("after reopen: %d retained, t/7 %q, t/8 %q", len(got), got["t/7"], got["t/8"])
		}
		// Close makes a non-sync batch durable too.
		expectValue(t, s, store.Sessions, "written behind", "x")
	})
}

func scan(t *testing.T, s store.Store, bucket store.Bucket, prefix string) map[string]string {
	t.Helper()
	got := map[string]string{}
	must(t, s.Scan(bucket, prefix, func(k string, v []byte) error {
		got[k] = string(v)
		return nil
	}))
	return got
}

func expectValue(t *testing.T, s store.Store, bucket store.Bucket, key, want string) {
	t.Helper()
	v, err := s.Get(bucket, key)
	if err != nil {
		t.Fatalf("Get(%s, %q): %v", bucket, key, err)
	}
	if string(v) != want {
		t.Fatalf("Get(%s, %q) = %q, want %q", bucket, key, v, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
