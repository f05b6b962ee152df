package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The bucket layout is the one of HDR histograms: values below 2*subBuckets each get a bucket of their own, and
// every further power of two is split into subBuckets buckets of equal width. A bucket is then at most 1/subBuckets
// (0.8%) wider than its lowest value, whatever the magnitude, and the index is a few shifts away from the value.
const (
	subBits    = 7
	subBuckets = 1 << subBits
	// maxBits is the bit length of the largest value with a bucket of its own: 2^44 ns is about 4.9 hours.
	// Larger values go in the last bucket (Max still reports them exactly).
	maxBits    = 44
	numBuckets = (maxBits - subBits + 1) * subBuckets
)

// Histogram counts durations in logarithmic buckets with a relative precision better than 1%, in the manner of an
// HDR histogram. Record does not allocate and is safe for concurrent use; a run gives a few subscribers each
// histogram, and Merge adds them up at the end. The zero Histogram is empty and ready to use. Its size is fixed, about
// 40 KiB.
type Histogram struct {
	counts [numBuckets]atomic.Int64
	total  atomic.Int64
	sum    atomic.Int64
	max    atomic.Int64
}

// bucketOf returns the index of the bucket of v >= 0.
func bucketOf(v int64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	if shift > maxBits-subBits-1 {
		return numBuckets - 1
	}
	return shift<<subBits + int(v>>shift)
}

// bucketRange returns the lowest and highest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*subBuckets {
		return int64(i), int64(i)
	}
	shift := i>>subBits - 1
	top := int64(i - shift<<subBits)
	return top << shift, (top+1)<<shift - 1
}

// Record counts one value. Negative values count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Merge adds the counts of o to h. It is safe to call while both are recorded into, but the result then mixes
// counts taken at slightly different times.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n != 0 {
			h.counts[i].Add(n)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	v := o.max.Load()
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of values recorded.
func (h *Histogram) Count() int64 { return h.total.Load() }

// Max returns the largest value recorded, exactly, or 0 when there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the mean of the values recorded, or 0 when there is none.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Min returns the lowest value of the bucket of the smallest value recorded (exact below 256ns), or 0 when there
// is none.
func (h *Histogram) Min() time.Duration {
	for i := range h.counts {
		if h.counts[i].Load() != 0 {
			lo, _ := bucketRange(i)
			return time.Duration(lo)
		}
	}
	return 0
}

// Quantile returns the value below or at which a fraction q (0 to 1) of the recorded values lie: the highest value
// of the bucket that holds the value of rank ceil(q*Count), but never more than Max. It returns 0 when the histogram
// is empty. Quantiles are monotonic: q1 <= q2 gives Quantile(q1) <= Quantile(q2) <= Max().
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketRange(i)
			if i == numBuckets-1 {
				// The last bucket also holds the values beyond the range.
				hi = h.max.Load()
			}
			return time.Duration(min(hi, h.max.Load()))
		}
	}
	// Only while records are racing with this call: the total was read before some bucket counts.
	return h.Max()
}

// Latency summarises a Histogram. Durations marshal to JSON as integer nanoseconds.
type Latency struct {
	// Count is the number of values.
	Count int64 `json:"count"`
	// Min, Mean, P50, P99, P999 and Max are the smallest value, the mean, the 50th, 99th and 99.9th percentiles
	// and the largest value.
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// Summary returns the figures of h.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.Count(),
		Min:   h.Min(),
		Mean:  h.Mean(),
		P50:   h.Quantile(0.50),
		P99:   h.Quantile(0.99),
		P999:  h.Quantile(0.999),
		Max:   h.Max(),
	}
}

// Since returns the values recorded into h after prev was taken, where prev is an earlier copy of h's counts (a
// Histogram that h was merged into when h held only what prev holds). Its Max is the highest value of the highest
// bucket it counts, not capped by h's Max, which may be older; its sum, and so its Mean, are h's less prev's.
func (h *Histogram) Since(prev *Histogram) *Histogram {
	d := new(Histogram)
	top := -1
	for i := range h.counts {
		if n := h.counts[i].Load() - prev.counts[i].Load(); n > 0 {
			d.counts[i].Store(n)
			d.total.Add(n)
			top = i
		}
	}
	d.sum.Store(max(h.sum.Load()-prev.sum.Load(), 0))
	if top >= 0 {
		_, hi := bucketRange(top)
		d.max.Store(min(hi, h.max.Load()))
	}
	return d
}
