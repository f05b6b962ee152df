package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWrites: writes from many goroutines all arrive, whole.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("ab\n"))
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "ab\n"); n != 800 || b.Len() != 2400 {
		t.Fatalf("%d lines, %d bytes; want 800 and 2400", n, b.Len())
	}
}
