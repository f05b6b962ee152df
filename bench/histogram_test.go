package bench

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestBuckets checks the layout: every value falls in a bucket whose range holds it, exact below 256, and no
// bucket is more than 1/128 wider than its lowest value.
func TestBuckets(t *testing.T) {
	check := func(v int64) {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d [%d, %d]", v, i, lo, hi)
		}
		if v < 256 && lo != hi {
			t.Fatalf("value %d not exact: [%d, %d]", v, lo, hi)
		}
		if float64(hi-lo+1) > float64(lo)/subBuckets+1 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d", i, lo, hi, subBuckets)
		}
	}
	for v := range int64(1 << 16) {
		check(v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		check(r.Int64N(1 << maxBits))
	}
	for b := range maxBits {
		check(1<<b - 1)
		check(1 << b)
	}
	if i := bucketOf(1 << 62); i != numBuckets-1 {
		t.Errorf("huge value in bucket %d, want the last, %d", i, numBuckets-1)
	}
	// Consecutive buckets tile the values.
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		if lo, _ := bucketRange(i); lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, after %d", i, lo, prevHi)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	within := func(t *testing.T, what string, got, want time.Duration) {
		t.Helper()
		if d := got - want; d < 0 || float64(d) > float64(want)/subBuckets {
			t.Errorf("%s = %s, want %s to %s", what, got, want, want+want/subBuckets)
		}
	}
	t.Run("empty", func(t *testing.T) {
		var h Histogram
		if s := h.Summary(); s != (Latency{}) {
			t.Errorf("empty summary %+v", s)
		}
	})
	t.Run("exact small values", func(t *testing.T) {
		var h Histogram
		for v := range 200 {
			h.Record(time.Duration(v + 1))
		}
		s := h.Summary()
		if s.Count != 200 || s.Min != 1 || s.P50 != 100 || s.P99 != 198 || s.P999 != 200 || s.Max != 200 {
			t.Errorf("summary %+v", s)
		}
		if s.Mean != 100 { // (1+200)/2 rounded down
			t.Errorf("mean %s", s.Mean)
		}
	})
	t.Run("uniform", func(t *testing.T) {
		var h Histogram
		for v := 1; v <= 100000; v++ {
			h.Record(time.Duration(v) * time.Microsecond)
		}
		within(t, "p50", h.Quantile(0.5), 50*time.Millisecond)
		within(t, "p99", h.Quantile(0.99), 99*time.Millisecond)
		within(t, "p99.9", h.Quantile(0.999), 99900*time.Microsecond)
		if h.Max() != 100*time.Millisecond || h.Quantile(1) != h.Max() {
			t.Errorf("max %s, p100 %s", h.Max(), h.Quantile(1))
		}
		within(t, "min", time.Microsecond, h.Min())
	})
	t.Run("outliers", func(t *testing.T) {
		var h Histogram
		for range 990 {
			h.Record(time.Millisecond)
		}
		for range 9 {
			h.Record(time.Second)
		}
		h.Record(time.Minute)
		within(t, "p50", h.Quantile(0.5), time.Millisecond)
		within(t, "p99", h.Quantile(0.99), time.Millisecond)
		within(t, "p99.1", h.Quantile(0.991), time.Second)
		within(t, "p99.9", h.Quantile(0.999), time.Second)
		if h.Quantile(0.9991) != time.Minute || h.Max() != time.Minute {
			t.Errorf("top %s, max %s, want a minute", h.Quantile(0.9991), h.Max())
		}
	})
	t.Run("beyond the range", func(t *testing.T) {
		var h Histogram
		h.Record(-time.Second)
		h.Record(10 * time.Hour)
		if h.Quantile(0) != 0 || h.Quantile(1) != 10*time.Hour {
			t.Errorf("p0 %s p100 %s", h.Quantile(0), h.Quantile(1))
		}
	})
	t.Run("merge", func(t *testing.T) {
		var a, b, all Histogram
		for v := 1; v <= 1000; v++ {
			d := time.Duration(v) * time.Microsecond
			all.Record(d)
			if v%2 == 0 {
				a.Record(d)
			} else {
				b.Record(d)
			}
		}
		var m Histogram
		m.Merge(&a)
		m.Merge(&b)
		if m.Summary() != all.Summary() {
			t.Errorf("merged %+v, want %+v", m.Summary(), all.Summary())
		}
	})
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for v := range 1000 {
				h.Record(time.Duration(g*1000 + v))
			}
		})
	}
	wg.Wait()
	if h.Count() != 4000 || h.Max() != 3999 {
		t.Errorf("count %d max %s", h.Count(), h.Max())
	}
}

func TestHistogramRecordAllocs(t *testing.T) {
	var h Histogram
	v := time.Duration(1)
	if n := testing.AllocsPerRun(1000, func() {
		h.Record(v)
		v = v*3 + 7
	}); n != 0 {
		t.Errorf("Record allocates %g times", n)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	v := time.Duration(1)
	for b.Loop() {
		h.Record(v & (1<<30 - 1))
		v = v*3 + 7
	}
}

// TestHistogramSince checks that Since counts only the values recorded after the copy it is given.
func TestHistogramSince(t *testing.T) {
	var h Histogram
	for range 1000 {
		h.Record(time.Second) // before the copy: must not show
	}
	var seen Histogram
	seen.Merge(&h)
	if d := h.Since(&seen); d.Count() != 0 || d.Max() != 0 || d.Quantile(0.5) != 0 {
		t.Fatalf("nothing new, got count %d, max %v", d.Count(), d.Max())
	}
	for i := range 100 {
		h.Record(time.Duration(i+1) * time.Millisecond)
	}
	d := h.Since(&seen)
	if d.Count() != 100 {
		t.Fatalf("count %d, want 100", d.Count())
	}
	if p50 := d.Quantile(0.5); p50 < 49*time.Millisecond || p50 > 51*time.Millisecond {
		t.Errorf("p50 %v, want about 50ms", p50)
	}
	if p99 := d.Quantile(0.99); p99 < 98*time.Millisecond || p99 > 100*time.Millisecond {
		t.Errorf("p99 %v, want about 99ms", p99)
	}
	if m := d.Max(); m < 100*time.Millisecond || m > 101*time.Millisecond {
		t.Errorf("max %v, want about 100ms (not the older 1s)", m)
	}
	if mean := d.Mean(); mean < 50*time.Millisecond || mean > 51*time.Millisecond {
		t.Errorf("mean %v, want 50.5ms", mean)
	}
}

// TestRoundLatency checks the rounding of the progress line to three significant digits.
func TestRoundLatency(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{999, 999},
		{1234, 1230},
		{1234567, 1230000},
		{98765432, 98800000},
		{12345678901, 12300000000},
	} {
		if got := roundLatency(tc.in); got != tc.want {
			t.Errorf("roundLatency(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
