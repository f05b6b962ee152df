package pebble

import "errors"

// ErrLocked is returned by Open when the directory is locked by another
// process, or by another open Store in this process.
var ErrLocked = errors.New("pebble store: directory locked by another store")

// ErrCorrupt is returned by Open when the directory's files cannot be read
// as a store: a damaged or missing MANIFEST, OPTIONS or marker file, a
// checksum failure, or store files without a current manifest; Open has not
// modified the directory. Get, Scan and Apply return it too when a read
// finds a damaged block of a table file. The package documentation
// describes the recovery.
var ErrCorrupt = errors.New("pebble store: corrupt store")

// ErrUnknownFormat is returned by Open when the store records a format
// version this build does not know, or holds records but no format version.
var ErrUnknownFormat = errors.New("pebble store: unknown format version")
