package pebble

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/midgemq/midge/store"
)

// The defaults of Options.
const (
	defaultCacheSize    = 8 << 20
	defaultMemTableSize = 4 << 20
)

// formatKey is the key, in store.Meta, of the store's format version, and
// formatVersion the only version this build reads and writes.
const (
	formatKey     = "format"
	formatVersion = "1"
)

// formatMajorVersion is the Pebble on-disk format a new store is created
// at, and an older one upgraded to. It is pinned rather than
// pdb.FormatNewest so that updating the Pebble dependency never changes the
// files of existing stores by itself: raising it is a decision taken here.
const formatMajorVersion = pdb.FormatValueSeparation

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives Pebble's own log messages: its routine events at
	// Debug level and its errors at Error level. Nil means slog.Default().
	Logger *slog.Logger
	// CacheSize is the size in bytes of the block cache, which keeps
	// recently read blocks of the store's files in memory. 0 means the
	// default, 8 MiB; it must not be negative.
	CacheSize int64
	// MemTableSize is the size in bytes of a memtable, which holds the
	// latest writes in memory until they are flushed to a file; at most two
	// exist at once before writes wait for a flush. 0 means the default,
	// 4 MiB.
	MemTableSize uint64
	// ReadOnly opens an existing store without writing to it: Open fails if
	// there is no store in the directory, and Apply fails. The default,
	// false, opens the store for writing and creates it if needed.
	ReadOnly bool
}

// Open opens the store in dir, creating dir and an empty store when there is
// none and opts.ReadOnly is false.
//
// Open checks an existing store before it changes any file: it reads
// every record, so that it costs a read of the whole store.
//
// Every error of Open names dir. It wraps ErrLocked when another process or
// Store has dir open, ErrCorrupt when the files in dir cannot be read as a
// store, and ErrUnknownFormat when the store is of a format this build does
// not know; in these cases Open has not modified the store, and the error
// says so. The package documentation describes how to recover from
// ErrCorrupt.
func Open(dir string, opts Options) (*Store, error) {
	return open(dir, opts, vfs.Default)
}

// open is Open on the file system fs; tests pass one that can simulate a
// crash.
func open(dir string, opts Options, fsys vfs.FS) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = defaultCacheSize
	}
	if opts.CacheSize < 0 {
		return nil, fmt.Errorf("pebble store: open %s: negative cache size %d", dir, opts.CacheSize)
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = defaultMemTableSize
	}
	if !opts.ReadOnly {
		if err := fsys.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("pebble store: open %s: %w", dir, err)
		}
	}

	lock, err := pdb.LockDirectory(dir, fsys)
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			// The LOCK file could not be created: a missing directory (read
			// only) or no permission, not a lock held by someone else.
			return nil, fmt.Errorf("pebble store: open %s: cannot lock the directory: %w", dir, err)
		}
		return nil, fmt.Errorf("%w: %s is open in another process or Store; the store was not modified: %w",
			ErrLocked, dir, err)
	}
	db, err := openLocked(dir, opts, fsys, lock)
	if err != nil {
		// Pebble has dropped its reference to the lock if it took one.
		_ = lock.Close()
		return nil, err
	}
	return &Store{dir: dir, readOnly: opts.ReadOnly, db: db, lock: lock}, nil
}

// openLocked opens the Pebble database in dir, which the caller has locked
// with lock, and checks the store's format version.
func openLocked(dir string, opts Options, fsys vfs.FS, lock *pdb.Lock) (*pdb.DB, error) {
	// Peek first, so that a directory holding store files but no current
	// manifest is refused: Pebble would create a new store among them and
	// could overwrite a MANIFEST of the old one.
	desc, err := pdb.Peek(dir, fsys)
	if err != nil {
		return nil, readError(dir, err)
	}
	if !desc.Exists {
		if opts.ReadOnly {
			return nil, fmt.Errorf("pebble store: open %s: no store in the directory (read-only open)", dir)
		}
		if names, err := storeFiles(fsys, dir); err != nil {
			return nil, readError(dir, err)
		} else if len(names) > 0 {
			return nil, corruptError(dir, fmt.Errorf("store files (%s) but no current manifest marker",
				strings.Join(names, ", ")), false)
		}
	}

	if desc.Exists {
		if err := checkManifest(fsys, dir, desc.ManifestFilename); err != nil {
			return nil, readError(dir, err)
		}
	}

	log := opts.Logger.With("dir", dir)
	popts := &pdb.Options{
		FS:                 fsys,
		CacheSize:          opts.CacheSize,
		MemTableSize:       opts.MemTableSize,
		ReadOnly:           true,
		Lock:               lock,
		FormatMajorVersion: formatMajorVersion,
		Logger:             logger{log},
		EventListener: &pdb.EventListener{
			// Pebble's default calls Fatalf, which would panic the broker
			// on a bad block; the read that found it fails instead.
			DataCorruption: func(info pdb.DataCorruptionInfo) {
				log.Error("pebble data corruption", "file", info.Path, "err", info.Details.Error())
			},
		},
	}
	if desc.Exists {
		// Check an existing store read-only first. A writable open
		// changes files even when nothing is written (it replays the log
		// into a table, writes an OPTIONS file, may upgrade Pebble's
		// format and deletes obsolete files), so checking the format
		// version after it could not leave a store of an unknown format
		// untouched. A read-only open writes nothing.
		db, err := pdb.Open(dir, popts)
		if err != nil {
			return nil, readError(dir, err)
		}
		if err := checkFormat(dir, db, true); err != nil {
			_ = db.Close()
			if errors.Is(err, ErrUnknownFormat) {
				return nil, err
			}
			return nil, readError(dir, err)
		}
		if err := readAll(db); err != nil {
			_ = db.Close()
			return nil, readError(dir, err)
		}
		if opts.ReadOnly {
			return db, nil
		}
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("pebble store: open %s: close after check: %w", dir, err)
		}
	}
	// The store is new, or has passed the checks above: an error now is
	// one of writing (a full disk, say), unless Pebble marks it corrupt.
	popts.ReadOnly = false
	db, err := pdb.Open(dir, popts)
	if err != nil {
		return nil, writeError(dir, err)
	}
	if err := checkFormat(dir, db, false); err != nil {
		_ = db.Close()
		if errors.Is(err, ErrUnknownFormat) {
			return nil, err
		}
		return nil, writeError(dir, err)
	}
	return db, nil
}

// checkFormat checks the format version record of a just opened store, and
// writes it into a store that holds nothing yet unless readOnly. Its errors
// wrap ErrUnknownFormat, or are those of Pebble for the caller to classify.
func checkFormat(dir string, db *pdb.DB, readOnly bool) error {
	key := encodeKey(store.Meta, formatKey)
	v, closer, err := db.Get(key)
	switch {
	case err == nil:
		got := string(v)
		_ = closer.Close()
		if got != formatVersion {
			return fmt.Errorf("%w: %s holds a store of format version %q, this build reads only %q; the store was not modified",
				ErrUnknownFormat, dir, got, formatVersion)
		}
		return nil
	case !errors.Is(err, pdb.ErrNotFound):
		return fmt.Errorf("read format version: %w", err)
	}
	// No version: either a new store, or one whose creation stopped before
	// the version was written. Anything else is not a store of ours.
	it, err := db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("look for records: %w", err)
	}
	empty := !it.First()
	if err := it.Close(); err != nil {
		return fmt.Errorf("look for records: %w", err)
	}
	if !empty {
		return fmt.Errorf("%w: %s holds records but no format version; the store was not modified",
			ErrUnknownFormat, dir)
	}
	if readOnly {
		return nil
	}
	if err := db.Set(key, []byte(formatVersion), pdb.Sync); err != nil {
		return fmt.Errorf("write format version: %w", err)
	}
	return nil
}

// checkManifest reads every record of the store's current MANIFEST file,
// named name (a path, or a name in dir), and returns an error unless all
// are whole. Pebble stops reading a MANIFEST at its first bad record
// without an error, taking it for the end of what a crash left, and then
// deletes the table files that the records after it added: the records
// those files hold would be lost without a word. A MANIFEST that ends in
// a partial record is refused too: only a power loss in the middle of a
// MANIFEST write leaves one (each record is synced before the next), and
// a file cut short by damage looks the same.
func checkManifest(fsys vfs.FS, dir, name string) error {
	if fsys.PathBase(name) == name {
		name = fsys.PathJoin(dir, name)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	r := record.NewReader(f, 0)
	for n := 0; ; n++ {
		rec, err := r.Next()
		if err == nil {
			_, err = io.Copy(io.Discard, rec)
		}
		if err == io.EOF {
			if n == 0 {
				return fmt.Errorf("%s holds no record", fsys.PathBase(name))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: record %d: %w", fsys.PathBase(name), n, err)
		}
	}
}

// readAll reads every record of db, so that damage to any table file
// (which Pebble reads only when a read needs it) is found while the store
// is open read-only, before a writable open changes its files. The broker
// reads every record at start anyway, and the second read finds the files
// in the operating system's cache.
func readAll(db *pdb.DB) error {
	it, err := db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("read every record: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if _, err := it.ValueAndErr(); err != nil {
			break // it.Close reports it
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("read every record: %w", err)
	}
	return nil
}

// readError classifies an error from reading an existing store before
// anything was written: from Peek, the read-only open and its first reads.
// Pebble marks checksum failures and bad records as corruption, but
// returns plain errors for some files that fail to parse (a MANIFEST or
// OPTIONS file holding garbage), so every error counts as corruption except
// the system errors of reading a file, such as no permission or an I/O
// error; but a store file that is missing is corruption.
func readError(dir string, err error) error {
	var pathErr *fs.PathError
	if !pdb.IsCorruptionError(err) && errors.As(err, &pathErr) &&
		!(errors.Is(err, fs.ErrNotExist) && pathErr.Path != dir) {
		return fmt.Errorf("pebble store: open %s: cannot read the store; it was not modified: %w", dir, err)
	}
	return corruptError(dir, err, false)
}

// writeError classifies an error from the writable open of a store that is
// new or has passed the read-only checks.
func writeError(dir string, err error) error {
	if pdb.IsCorruptionError(err) {
		return corruptError(dir, err, true)
	}
	return fmt.Errorf("pebble store: open %s: %w", dir, err)
}

// corruptError is the error of Open for a corrupt store in dir. Before
// anything was written, it says the store was not modified.
func corruptError(dir string, err error, written bool) error {
	state := "was not modified"
	if written {
		state = "was open for writing"
	}
	return fmt.Errorf("%w: %s cannot be read as a store and %s; "+
		"move the directory aside and start with an empty one: %w", ErrCorrupt, dir, state, err)
}

// storeFiles returns the names in dir that Pebble would take for files of a
// store: any of them without a current manifest is a damaged store.
func storeFiles(fsys vfs.FS, dir string) ([]string, error) {
	list, err := fsys.List(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range list {
		switch {
		case n == "CURRENT",
			strings.HasPrefix(n, "MANIFEST-"),
			strings.HasPrefix(n, "OPTIONS-"),
			strings.HasPrefix(n, "marker."),
			strings.HasSuffix(n, ".sst"),
			strings.HasSuffix(n, ".log"),
			strings.HasSuffix(n, ".blob"):
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}
