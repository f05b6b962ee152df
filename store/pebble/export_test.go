package pebble

import (
	"github.com/cockroachdb/pebble/v2/vfs"
	dto "github.com/prometheus/client_model/go"
)

// OpenFS is Open on the file system fsys, for the crash tests.
func OpenFS(dir string, opts Options, fsys vfs.FS) (*Store, error) {
	return open(dir, opts, fsys)
}

// WALSyncs returns how many times the store has synced its write-ahead log
// since Open, for the benchmarks to show how commits share fsyncs.
func (s *Store) WALSyncs() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var m dto.Metric
	if s.db == nil || s.db.Metrics().LogWriter.FsyncLatency.Write(&m) != nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

// Successor is successor, for its table test.
var Successor = successor
