package pebble_test

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/pebble"
)

func benchOptions() pebble.Options {
	return pebble.Options{Logger: slog.New(slog.DiscardHandler)}
}

func openBench(b *testing.B) *pebble.Store {
	b.Helper()
	s, err := pebble.Open(b.TempDir(), benchOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// queueKeys returns ring keys of one client's queue, so that the benchmarks
// measure the store and not the building of keys.
func queueKeys(client, ring int) []string {
	keys := make([]string, ring)
	for i := range keys {
		keys[i] = fmt.Sprintf("client-%04d\x00%016x", client, i)
	}
	return keys
}

// BenchmarkApply applies batches shaped like the broker's work for QoS 1:
// one 256-byte message queued for a session and another one acknowledged,
// from one goroutine and from 64. With sync=true, the wal-syncs/op metric
// shows how many batches share each fsync: Pebble's commit pipeline syncs
// the log once for every batch that waits on it.
func BenchmarkApply(b *testing.B) {
	const ring = 1024
	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("sync=%t/goroutines=1", sync), func(b *testing.B) {
			s := openBench(b)
			keys := queueKeys(0, ring)
			var batch store.Batch
			syncs := s.WALSyncs()
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				batch.Reset()
				batch.Set(store.Queues, keys[i%ring], payload)
				batch.Delete(store.Queues, keys[(i+ring-1)%ring])
				if err := s.Apply(&batch, sync); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportApply(b, s, syncs)
		})
		b.Run(fmt.Sprintf("sync=%t/goroutines=64", sync), func(b *testing.B) {
			s := openBench(b)
			procs := runtime.GOMAXPROCS(0)
			parallelism := (64 + procs - 1) / procs
			clientKeys := make([][]string, parallelism*procs)
			for c := range clientKeys {
				clientKeys[c] = queueKeys(c, ring)
			}
			var client atomic.Int64
			syncs := s.WALSyncs()
			b.SetParallelism(parallelism)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				keys := clientKeys[client.Add(1)-1]
				var batch store.Batch
				for i := 0; pb.Next(); i++ {
					batch.Reset()
					batch.Set(store.Queues, keys[i%ring], payload)
					batch.Delete(store.Queues, keys[(i+ring-1)%ring])
					if err := s.Apply(&batch, sync); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportApply(b, s, syncs)
		})
	}
}

func reportApply(b *testing.B, s *pebble.Store, syncsBefore uint64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(s.WALSyncs()-syncsBefore)/float64(b.N), "wal-syncs/op")
}

// BenchmarkScan scans a store of 100k queue entries (1,000 clients with 100
// messages of 64 bytes each): one client's queue, as when a session
// resumes, and the whole bucket, as when the broker loads its sessions at
// start.
func BenchmarkScan(b *testing.B) {
	const clients, perClient, valueSize = 1000, 100, 64
	dir := b.TempDir()
	s, err := pebble.Open(dir, benchOptions())
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, valueSize)
	for c := range clients {
		var batch store.Batch
		for i := range perClient {
			batch.Set(store.Queues, fmt.Sprintf("client-%04d\x00%016x", c, i), value)
		}
		if err := s.Apply(&batch, false); err != nil {
			b.Fatal(err)
		}
	}
	// Reopen, so that the scans read table files as after a restart.
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if s, err = pebble.Open(dir, benchOptions()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	scan := func(b *testing.B, prefix func(i int) string, want int) {
		b.SetBytes(int64(want * valueSize))
		b.ReportAllocs()
		i, keys := 0, 0
		for b.Loop() {
			n := 0
			if err := s.Scan(store.Queues, prefix(i), func(string, []byte) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
			if n != want {
				b.Fatalf("scanned %d keys, want %d", n, want)
			}
			keys += n
			i++
		}
		b.ReportMetric(float64(keys)/b.Elapsed().Seconds(), "keys/s")
	}
	prefixes := make([]string, clients)
	for c := range prefixes {
		prefixes[c] = fmt.Sprintf("client-%04d\x00", c)
	}
	b.Run("keys=100k/prefix=client", func(b *testing.B) {
		scan(b, func(i int) string { return prefixes[i*7919%clients] }, perClient)
	})
	b.Run("keys=100k/prefix=all", func(b *testing.B) {
		scan(b, func(int) string { return "" }, clients*perClient)
	})
}
