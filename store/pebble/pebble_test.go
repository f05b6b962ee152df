package pebble_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/midgemq/midge/internal/syncbuf"
	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/pebble"
	"github.com/midgemq/midge/store/storetest"
)

func testOptions(t *testing.T) pebble.Options {
	return pebble.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
}

// openDir opens the store in dir and closes it at the end of the test,
// unless the test has closed it.
func openDir(t *testing.T, dir string) *pebble.Store {
	t.Helper()
	s, err := pebble.Open(dir, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// TestConformance runs the store suite on a store in a fresh directory,
// reopened from the same directory where the suite asks.
func TestConformance(t *testing.T) {
	dirs := map[store.Store]string{}
	open := func(t *testing.T) store.Store {
		dir := t.TempDir()
		s := openDir(t, dir)
		dirs[s] = dir
		return s
	}
	reopen := func(t *testing.T, s store.Store) store.Store {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return openDir(t, dirs[s])
	}
	storetest.Run(t, open, reopen)
}

func TestNewStoreRecordsFormat(t *testing.T) {
	s := openDir(t, t.TempDir())
	v, err := s.Get(store.Meta, "format")
	if err != nil || string(v) != "1" {
		t.Fatalf("format record %q, %v; want \"1\"", v, err)
	}
}

func TestOpenTwiceInProcess(t *testing.T) {
	dir := t.TempDir()
	first := openDir(t, dir)
	apply(t, first, true, func(b *store.Batch) { b.Set(store.Sessions, "c1", []byte("kept")) })

	second, err := pebble.Open(dir, testOptions(t))
	if err == nil {
		second.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
	if !errors.Is(err, pebble.ErrLocked) || !strings.Contains(err.Error(), dir) ||
		!strings.Contains(err.Error(), "not modified") {
		t.Fatalf("second Open: %v; want ErrLocked naming %s and saying the store was not modified", err, dir)
	}
	// The first store is unharmed.
	expect(t, first, store.Sessions, "c1", "kept")
	apply(t, first, true, func(b *store.Batch) { b.Set(store.Sessions, "c2", []byte("after")) })
	expect(t, first, store.Sessions, "c2", "after")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// Once closed, the directory opens again.
	expect(t, openDir(t, dir), store.Sessions, "c2", "after")
}

// lockChildEnv names the directory the child process of
// TestOpenLockedByOtherProcess tries to open.
const lockChildEnv = "MIDGE_PEBBLE_TEST_LOCKED_DIR"

func TestOpenLockedByOtherProcess(t *testing.T) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		// The child: the parent holds dir open.
		_, err := pebble.Open(dir, pebble.Options{Logger: slog.New(slog.DiscardHandler)})
		if !errors.Is(err, pebble.ErrLocked) {
			t.Fatalf("Open in a second process: %v, want ErrLocked", err)
		}
		fmt.Println("child error:", err)
		return
	}
	dir := t.TempDir()
	s := openDir(t, dir)
	apply(t, s, true, func(b *store.Batch) { b.Set(store.Sessions, "c1", []byte("kept")) })
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenLockedByOtherProcess$", "-test.v")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("child error: pebble store: directory locked")) || !bytes.Contains(out, []byte(dir)) {
		t.Fatalf("child output lacks the lock error naming %s:\n%s", dir, out)
	}
	expect(t, s, store.Sessions, "c1", "kept")
}

func TestOpenCorrupt(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"garbage manifest", func(t *testing.T, dir string) {
			writeFile(t, onlyFile(t, dir, "MANIFEST-*"), []byte("this is not a manifest\x00\xff\x01"))
		}},
		{"truncated manifest", func(t *testing.T, dir string) {
			p := onlyFile(t, dir, "MANIFEST-*")
			writeFile(t, p, readFile(t, p)[:20])
		}},
		{"missing manifest", func(t *testing.T, dir string) {
			remove(t, onlyFile(t, dir, "MANIFEST-*"))
		}},
		{"missing manifest marker", func(t *testing.T, dir string) {
			remove(t, onlyFile(t, dir, "marker.manifest.*"))
		}},
		{"manifest cut in its last record", func(t *testing.T, dir string) {
			// What Pebble takes for the end of a crash: it would open the
			// store without the table the last record adds.
			p := onlyFile(t, dir, "MANIFEST-*")
			b := readFile(t, p)
			writeFile(t, p, b[:len(b)-3])
		}},
		{"byte flipped in the manifest", func(t *testing.T, dir string) {
			p := onlyFile(t, dir, "MANIFEST-*")
			b := readFile(t, p)
			b[len(b)-10] ^= 0x01
			writeFile(t, p, b)
		}},
		{"garbage options", func(t *testing.T, dir string) {
			writeFile(t, onlyFile(t, dir, "OPTIONS-*"), []byte("[Version]\n  garbage ] ["))
		}},
		{"byte flipped in a data block", func(t *testing.T, dir string) {
			// Data blocks come first in a table file: a third of the way
			// in is inside one, which only a read of its records finds.
			p := onlyFile(t, dir, "*.sst")
			b := readFile(t, p)
			b[len(b)/3] ^= 0x01
			writeFile(t, p, b)
		}},
		{"missing table", func(t *testing.T, dir string) {
			remove(t, onlyFile(t, dir, "*.sst"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDir(t, dir)
			fillTable(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)
			before := snapshot(t, dir)

			s2, err := pebble.Open(dir, testOptions(t))
			if err == nil {
				s2.Close()
				t.Fatal("Open of a damaged store succeeded")
			}
			t.Logf("Open: %v", err)
			if !errors.Is(err, pebble.ErrCorrupt) {
				t.Errorf("Open: %v; want ErrCorrupt", err)
			}
			if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "not modified") {
				t.Errorf("Open: %q; want the directory named and \"not modified\"", msg)
			}
			if after := snapshot(t, dir); !equalSnapshots(before, after) {
				t.Errorf("Open changed the directory:\nbefore %s\nafter  %s", names(before), names(after))
			}
		})
	}
}

// fillTable writes records of random bytes enough for a table file of
// many data blocks, once Close has flushed them.
func fillTable(t *testing.T, s store.Store) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	apply(t, s, true, func(b *store.Batch) {
		for i := range 2000 {
			v := make([]byte, 256)
			for j := range v {
				v[j] = byte(rng.Uint32())
			}
			b.Set(store.Queues, fmt.Sprintf("c\x00%04d", i), v)
		}
	})
}

// TestReadCorruptTable damages a data block of a table file of an open
// store (Open refuses one damaged before, see TestOpenCorrupt): the Scan
// that reads it fails with ErrCorrupt, without the panic of Pebble's
// default corruption handler.
func TestReadCorruptTable(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	fillTable(t, s)
	if err := s.Close(); err != nil { // flushes the memtable to a table
		t.Fatal(err)
	}
	// A cache too small to keep what Open read, so that the Scan reads
	// the file again.
	opts := testOptions(t)
	opts.CacheSize = 1
	s, err := pebble.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p := onlyFile(t, dir, "*.sst")
	data := readFile(t, p)
	for i := len(data) / 3; i < len(data)/3+64; i++ {
		data[i] ^= 0xff
	}
	writeFile(t, p, data)

	err = s.Scan(store.Queues, "", func(string, []byte) error { return nil })
	t.Logf("Scan: %v", err)
	if !errors.Is(err, pebble.ErrCorrupt) {
		t.Fatalf("Scan over a damaged block: %v, want ErrCorrupt", err)
	}
}

func TestOpenUnknownFormat(t *testing.T) {
	tests := []struct {
		name  string
		write func(b *store.Batch)
	}{
		{"newer version", func(b *store.Batch) { b.Set(store.Meta, "format", []byte("99")) }},
		{"records without version", func(b *store.Batch) {
			b.Delete(store.Meta, "format")
			b.Set(store.Sessions, "c1", []byte("x"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDir(t, dir)
			apply(t, s, true, tc.write)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			s2, err := pebble.Open(dir, testOptions(t))
			if err == nil {
				s2.Close()
				t.Fatal("Open of a store of an unknown format succeeded")
			}
			t.Logf("Open: %v", err)
			if !errors.Is(err, pebble.ErrUnknownFormat) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open: %v; want ErrUnknownFormat naming %s", err, dir)
			}
			if after := snapshot(t, dir); !equalSnapshots(before, after) {
				t.Errorf("Open changed the directory:\nbefore %s\nafter  %s", names(before), names(after))
			}
		})
	}
}

func TestOpenRefusesStrayStoreFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "MANIFEST-000001"), []byte("left over"))
	_, err := pebble.Open(dir, testOptions(t))
	if !errors.Is(err, pebble.ErrCorrupt) {
		t.Fatalf("Open of a directory with store files but no store: %v, want ErrCorrupt", err)
	}
	if got := string(readFile(t, filepath.Join(dir, "MANIFEST-000001"))); got != "left over" {
		t.Fatalf("MANIFEST overwritten: %q", got)
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := pebble.Open(filepath.Join(dir, "none"), pebble.Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only Open of a missing store succeeded")
	}
	s := openDir(t, dir)
	apply(t, s, false, func(b *store.Batch) { b.Set(store.Retained, "t", []byte("v")) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := pebble.Open(dir, pebble.Options{ReadOnly: true, Logger: testOptions(t).Logger})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	expect(t, ro, store.Retained, "t", "v")
	var b store.Batch
	b.Set(store.Retained, "t", []byte("w"))
	if err := ro.Apply(&b, true); err == nil {
		t.Fatal("Apply on a read-only store succeeded")
	}
}

func TestClosed(t *testing.T) {
	s := openDir(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	b.Set(store.Sessions, "a", nil)
	_, getErr := s.Get(store.Sessions, "a")
	_, sizeErr := s.DiskSize()
	for name, err := range map[string]error{
		"Apply":    s.Apply(&b, true),
		"Get":      getErr,
		"Scan":     s.Scan(store.Sessions, "", func(string, []byte) error { return nil }),
		"DiskSize": sizeErr,
		"Close":    s.Close(),
	} {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// TestCloseWhileInUse closes the store under concurrent writers and
// readers: each call either works or returns ErrClosed, and Close waits for
// those in flight (the race detector checks that none uses the closed DB).
func TestCloseWhileInUse(t *testing.T) {
	s := openDir(t, t.TempDir())
	const workers = 8
	var wg, busy sync.WaitGroup
	busy.Add(workers)
	for w := range workers {
		wg.Go(func() {
			var once sync.Once
			defer once.Do(busy.Done)
			for i := 0; ; i++ {
				if i == 10 {
					once.Do(busy.Done)
				}
				var b store.Batch
				b.Set(store.Queues, fmt.Sprintf("w%d/%d", w, i), []byte("v"))
				err := s.Apply(&b, i%4 == 0)
				if err == nil {
					err = s.Scan(store.Queues, fmt.Sprintf("w%d/", w), func(string, []byte) error { return nil })
				}
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	busy.Wait() // every worker is past its first calls
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func TestDiskSize(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	const total = 1000 * 256
	rng := rand.New(rand.NewPCG(1, 2))
	var b store.Batch
	for i := range 1000 {
		v := make([]byte, 256)
		for j := range v {
			v[j] = byte(rng.Uint32()) // incompressible
		}
		b.Set(store.Messages, fmt.Sprintf("m%04d", i), v)
	}
	apply(t, s, true, func(nb *store.Batch) { nb.Append(&b) })
	if n, err := s.DiskSize(); err != nil || n < total {
		t.Fatalf("DiskSize = %d, %v; want at least the %d bytes in the log", n, err, total)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	if n, err := s.DiskSize(); err != nil || n < total || n > 2*total {
		t.Fatalf("DiskSize after reopen = %d, %v; want about the %d bytes written", n, err, total)
	}
}

// TestCompactReclaimsDeleted: deleting most keys does not give their space
// back (the deletions are records too), and Compact does.
func TestCompactReclaimsDeleted(t *testing.T) {
	s := openDir(t, t.TempDir())
	const n, size = 4000, 1024
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < n; i += 500 {
		apply(t, s, false, func(b *store.Batch) {
			for j := i; j < i+500; j++ {
				v := make([]byte, size)
				for k := range v {
					v[k] = byte(rng.Uint32()) // incompressible
				}
				b.Set(store.Queues, fmt.Sprintf("c%d\x00%05d", j%2, j), v)
			}
		})
	}
	full, err := s.DiskSize()
	if err != nil || full < n*size {
		t.Fatalf("DiskSize = %d, %v; want at least the %d bytes written", full, err, n*size)
	}
	// One session's queue goes as a range, most of the other's key by key.
	apply(t, s, true, func(b *store.Batch) {
		b.DeletePrefix(store.Queues, "c0\x00")
		for j := 1; j < n-200; j += 2 {
			b.Delete(store.Queues, fmt.Sprintf("c1\x00%05d", j))
		}
	})
	// Usually no less than before: the deletions are in the log, and the
	// records they delete still in the tables. Pebble's own compactions
	// may have begun to drop some, so this is no assertion.
	if got, err := s.DiskSize(); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("DiskSize %d after the deletes", got)
	}
	if err := s.Compact(t.Context()); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	// The replaced files are removed in the background.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.DiskSize()
		if err != nil {
			t.Fatal(err)
		}
		if got < full/4 {
			t.Logf("DiskSize %d before the deletes, %d after Compact", full, got)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DiskSize after Compact = %d, want under a quarter of the %d before", got, full)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := count(t, s, store.Queues, ""); got != 100 {
		t.Fatalf("%d keys left, want 100", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Compact after Close: %v, want ErrClosed", err)
	}
}

func TestSuccessor(t *testing.T) {
	tests := []struct {
		name, prefix, want string
		none               bool
	}{
		{name: "bucket only", prefix: "q", want: "r"},
		{name: "plain", prefix: "qab", want: "qac"},
		{name: "trailing 0xff", prefix: "qa\xff\xff", want: "qb"},
		{name: "zero byte", prefix: "qa\x00", want: "qa\x01"},
		{name: "all 0xff after the bucket", prefix: "x\xff\xff", want: "y"},
		{name: "no end", prefix: "\xff\xff", none: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.prefix)
			got := pebble.Successor(in)
			if string(in) != tc.prefix {
				t.Fatalf("Successor changed its argument to %q", in)
			}
			if tc.none {
				if got != nil {
					t.Fatalf("Successor(%q) = %q, want nil", tc.prefix, got)
				}
				return
			}
			if string(got) != tc.want {
				t.Fatalf("Successor(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
		})
	}
}

func TestDeletePrefixWithoutEnd(t *testing.T) {
	s := openDir(t, t.TempDir())
	var b store.Batch
	b.Set(store.Sessions, "kept?", []byte("no"))
	b.DeletePrefix(store.Bucket(0xff), "\xff")
	if err := s.Apply(&b, true); err == nil {
		t.Fatal("DeletePrefix with no end key succeeded")
	}
	// The batch is all or nothing.
	if _, err := s.Get(store.Sessions, "kept?"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("part of a refused batch was applied: %v", err)
	}
}

// TestCrashCopy approximates a crash in-process: it applies synced batches,
// then, without Close, copies every file of the directory as a crash would
// leave them, and opens the copy. The copy holds what the process had
// handed to the OS, which is at least what was synced; it cannot show that
// unsynced data is lost, which TestCrashUnsynced does. The batches are few
// and small so that no flush or compaction runs during the copy, which a
// crash would freeze but a file-by-file copy would not.
func TestCrashCopy(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	const writers, perWriter = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				var b store.Batch
				key := fmt.Sprintf("c%d\x00%04d", w, i)
				b.Set(store.Queues, key, []byte(key))
				b.Set(store.Messages, key, []byte("body"))
				if i > 0 {
					b.Delete(store.Messages, fmt.Sprintf("c%d\x00%04d", w, i-1))
				}
				if err := s.Apply(&b, true); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	crashed := t.TempDir()
	for name, data := range snapshot(t, dir) {
		writeFile(t, filepath.Join(crashed, name), data)
	}
	c := openDir(t, crashed)
	got := 0
	if err := c.Scan(store.Queues, "", func(k string, v []byte) error {
		if string(v) != k {
			return fmt.Errorf("key %q holds %q", k, v)
		}
		got++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != writers*perWriter {
		t.Fatalf("%d queue entries after the crash, want %d", got, writers*perWriter)
	}
	for w := range writers {
		last := fmt.Sprintf("c%d\x00%04d", w, perWriter-1)
		expect(t, c, store.Messages, last, "body")
		if _, err := c.Get(store.Messages, fmt.Sprintf("c%d\x00%04d", w, perWriter-2)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a synced Delete was lost: %v", err)
		}
	}
}

// TestCrashUnsynced crashes a store on Pebble's crashable in-memory file
// system, which keeps exactly what was synced, plus a random part of the
// rest: every synced batch survives, and every unsynced batch survives whole
// or not at all.
func TestCrashUnsynced(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			s, err := pebble.OpenFS("db", testOptions(t), fs)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 20 {
				apply(t, s, true, func(b *store.Batch) { b.Set(store.Sessions, fmt.Sprintf("synced%02d", i), []byte("x")) })
			}
			const unsynced = 50
			for i := range unsynced {
				apply(t, s, false, func(b *store.Batch) {
					b.Set(store.Queues, fmt.Sprintf("u%02d/a", i), []byte("x"))
					b.Set(store.Queues, fmt.Sprintf("u%02d/b", i), bytes.Repeat([]byte("y"), 2000))
				})
			}
			percent := int(seed) * 25 // 0 keeps exactly what was synced
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: percent, RNG: rand.New(rand.NewPCG(seed, 1))})

			c, err := pebble.OpenFS("db", testOptions(t), crashed)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if n := count(t, c, store.Sessions, "synced"); n != 20 {
				t.Fatalf("%d synced batches survived, want 20", n)
			}
			for i := range unsynced {
				if n := count(t, c, store.Queues, fmt.Sprintf("u%02d/", i)); n != 0 && n != 2 {
					t.Fatalf("unsynced batch %d survived in part: %d of 2 keys", i, n)
				}
			}
			if left := count(t, c, store.Queues, ""); percent == 0 && left != 0 {
				t.Fatalf("%d keys of unsynced batches survived a crash that kept only synced data", left)
			}
		})
	}
}

func TestLoggerRoutesPebbleToSlog(t *testing.T) {
	var buf syncBuffer
	lg := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := pebble.Open(t.TempDir(), pebble.Options{Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "level=DEBUG msg=pebble") || !strings.Contains(out, "detail=") {
		t.Fatalf("no Pebble Infof at Debug level in the log:\n%s", out)
	}
	if strings.Contains(out, "level=INFO") {
		t.Fatalf("Pebble logged at Info level:\n%s", out)
	}
	// Nothing is logged at Info level by default.
	var quiet syncBuffer
	s, err = pebble.Open(t.TempDir(), pebble.Options{Logger: slog.New(slog.NewTextHandler(&quiet, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if quiet.Len() != 0 {
		t.Fatalf("logged at Info level on a clean open and close:\n%s", quiet.String())
	}
}

func apply(t *testing.T, s store.Store, sync bool, fill func(b *store.Batch)) {
	t.Helper()
	var b store.Batch
	fill(&b)
	if err := s.Apply(&b, sync); err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, s store.Store, bucket store.Bucket, key, want string) {
	t.Helper()
	v, err := s.Get(bucket, key)
	if err != nil || string(v) != want {
		t.Fatalf("Get(%s, %q) = %q, %v; want %q", bucket, key, v, err, want)
	}
}

func count(t *testing.T, s store.Store, bucket store.Bucket, prefix string) int {
	t.Helper()
	n := 0
	if err := s.Scan(bucket, prefix, func(string, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// snapshot returns the contents of every file in dir, which holds no
// subdirectories.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			t.Fatalf("%s in %s is not a regular file", e.Name(), dir)
		}
		files[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
	}
	return files
}

func equalSnapshots(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, data := range a {
		if other, ok := b[name]; !ok || !bytes.Equal(data, other) {
			return false
		}
	}
	return true
}

func names(files map[string][]byte) string {
	var s []string
	for name, data := range files {
		s = append(s, fmt.Sprintf("%s(%d)", name, len(data)))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// onlyFile returns the one file of dir that matches pattern.
func onlyFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("files %s in %s: %q, %v; want one", pattern, dir, m, err)
	}
	return m[0]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects a logger's output for a test to read.
type syncBuffer = syncbuf.Buffer
