// Package pebble is the crash-safe embedded store.Store, built on
// CockroachDB's Pebble, a log-structured merge tree with a write-ahead log.
//
// # Basics
//
// Open opens or creates a store in a directory; the directory holds
// Pebble's files and nothing else. A key on disk is one bucket byte followed
// by the key the broker chose, so each bucket is one contiguous key range:
// Scan is one bounded iterator and Batch.DeletePrefix is one range deletion,
// however many keys it removes.
//
// Apply with sync true returns once the batch is in the fsynced write-ahead
// log. Pebble's commit pipeline groups the batches that wait for the same
// fsync, so many sessions committing at once share one fsync instead of
// queueing for one each. Apply with sync false returns once the batch is
// visible; it reaches the disk with the next synced batch, the next memtable
// flush, or Close.
//
// The store records its own format version under the key "format" of
// store.Meta. Open refuses a store whose version it does not know
// (ErrUnknownFormat), so that an older build never misreads a newer layout.
// To check an existing store without changing it, Open first opens it
// read-only, reads every record of its MANIFEST and every record of the
// store; only a store that passes is opened for writing.
//
// Close syncs the log and flushes the memtable, so that a cleanly closed
// store keeps its records in checksummed table files and the next Open has
// no log to replay.
//
// Deleted records keep their space until Pebble's compactions rewrite the
// files that hold them, and each deletion is a record too, so DiskSize does
// not drop when records are deleted. Compact (store.Compacter) rewrites the
// whole key space at once; the broker calls it while the store is over
// its size limit.
//
// The defaults keep the memory small for a lean broker: an 8 MiB block cache
// and 4 MiB memtables (at most two before writes wait for a flush).
//
// # Errors and recovery
//
// Open never deletes or rewrites data when it fails. It returns ErrLocked
// when another process, or another Store in this process, has the directory
// open, and ErrCorrupt when the store's files cannot be read as a store: a
// damaged, cut or missing MANIFEST, a damaged OPTIONS or missing marker
// file, a missing table file, or a checksum failure in any table file.
// Either error names the directory and says the store was not modified.
// Damage done to a table file while the store is open surfaces as an
// error of Get, Scan or Apply that wraps ErrCorrupt; Pebble's own handler
// of such damage, which would panic, is replaced by an Error log naming the
// file.
//
// To recover from ErrCorrupt, stop the broker, move the directory aside
// (keep it: it may be repairable, and it is evidence), and start with an
// empty directory. The broker then starts without persistent sessions,
// queued messages or retained messages.
//
//	mv /var/lib/midge /var/lib/midge.corrupt-$(date +%Y%m%d-%H%M%S)
//	mkdir /var/lib/midge
//
// # Caveats
//
//   - Pebble cannot tell damage at the end of the last write-ahead log from
//     the torn write of a crash: it keeps the records before the damage and
//     drops the rest without an error. After a clean Close the log is empty
//     (see Close), so this concerns stores that crashed.
//   - After a crash, Open replays the log twice: once read-only to check the
//     store, once for writing. Every Open reads every record once, which the
//     broker's start does again (about a tenth more start-up time).
//   - Pebble takes a bad record in its MANIFEST for the end of the file, as a
//     crash in the middle of a MANIFEST write would leave it, and deletes the
//     table files that the records after it added. Open refuses such a
//     MANIFEST instead, as ErrCorrupt; so a store whose machine lost power
//     in the middle of a MANIFEST write (a process crash cannot cut one)
//     is refused too, although Pebble could have opened it without loss.
//   - A batch applied with sync false is lost if the process crashes before
//     a later synced batch or Close; this is the contract of store.Store.
//   - Options.ReadOnly still takes the directory lock, so a read-only Open of
//     the directory of a running broker fails with ErrLocked.
//   - Opening a store with a newer Pebble may upgrade Pebble's own on-disk
//     format (its format major version), after which an older build cannot
//     open it. This package pins that version (see formatMajorVersion) so
//     that such an upgrade is a deliberate change here, not a side effect of
//     updating the dependency.
//   - On a successful Open, Pebble removes leftover temporary files and
//     obsolete marker files of an interrupted earlier write; these hold no
//     records.
//   - Batch.DeletePrefix of a key range that has no end (the bucket byte
//     0xff with a prefix of only 0xff bytes) is refused; no broker bucket
//     uses that byte.
package pebble
