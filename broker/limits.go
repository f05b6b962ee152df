package broker

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/topic"
)

// This file holds the limits that keep one client from hurting the others:
// topic sizes, subscriptions per session, user properties, the connection
// rate per address and the publish rate per client.

// checkTopic refuses a topic name (filter false) or filter over
// MaxTopicLength bytes or MaxTopicLevels levels, with the reason code that
// names the topic as invalid.
func (s *Server) checkTopic(t string, filter bool) *packet.ReasonError {
	code := packet.TopicNameInvalid
	if filter {
		code = packet.TopicFilterInvalid
		if _, f, ok := topic.ParseShared(t); ok {
			t = f
		}
	}
	if max := s.opts.MaxTopicLength; max > 0 && len(t) > max {
		return &packet.ReasonError{Code: code, Msg: "topic longer than " + strconv.Itoa(max) + " bytes"}
	}
	if max := s.opts.MaxTopicLevels; max > 0 && strings.Count(t, "/") >= max {
		return &packet.ReasonError{Code: code, Msg: "topic of more than " + strconv.Itoa(max) + " levels"}
	}
	return nil
}

// checkUserProperties refuses more than MaxUserProperties user properties.
func (s *Server) checkUserProperties(n int) *packet.ReasonError {
	if max := s.opts.MaxUserProperties; max > 0 && n > max {
		return &packet.ReasonError{Code: packet.ImplementationSpecificError,
			Msg: "more than " + strconv.Itoa(max) + " user properties"}
	}
	return nil
}

// bucket is a token bucket: it holds up to burst tokens and gains rate
// tokens per second.
type bucket struct {
	tokens float64
	last   time.Time
}

// refill adds the tokens earned since the last call.
func (b *bucket) refill(rate, burst float64, now time.Time) {
	if b.last.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*rate)
	}
	b.last = now
}

// take takes n tokens, going into debt if there are not enough, and returns
// how long it takes to pay the debt back at rate (zero without debt).
func (b *bucket) take(n, rate, burst float64, now time.Time) time.Duration {
	b.refill(rate, burst, now)
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / rate * float64(time.Second))
}

// connectLimiter allows each IP address MaxConnectRate new connections per
// second. Its table is bounded: when full, addresses whose buckets are full
// again (they have been quiet) are forgotten first, and if none are, the
// table starts over.
type connectLimiter struct {
	rate, burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

// maxLimiterEntries bounds the connect limiter's memory.
const maxLimiterEntries = 65536

func newConnectLimiter(rate float64) *connectLimiter {
	if rate <= 0 {
		return nil
	}
	return &connectLimiter{rate: rate, burst: 2 * rate, buckets: make(map[string]*bucket)}
}

// allow reports whether a new connection from addr may go on.
func (l *connectLimiter) allow(addr net.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	host := hostOf(addr)
	if ip := net.ParseIP(host); ip == nil || ip.IsLoopback() {
		return true // a loopback address or a transport without IP addresses
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[host]
	if b == nil {
		if len(l.buckets) >= maxLimiterEntries {
			l.evictLocked(now)
		}
		b = &bucket{}
		l.buckets[host] = b
	}
	b.refill(l.rate, l.burst, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evictLocked forgets the addresses that have earned a full bucket back.
func (l *connectLimiter) evictLocked(now time.Time) {
	for host, b := range l.buckets {
		if b.refill(l.rate, l.burst, now); b.tokens >= l.burst {
			delete(l.buckets, host)
		}
	}
	if len(l.buckets) >= maxLimiterEntries {
		clear(l.buckets)
	}
}

// throttle holds the connection's reader back while the client publishes
// faster than MaxPublishRate or MaxPublishBandwidth allow; size is the
// PUBLISH packet's size in bytes. It returns early when the connection is
// being stopped.
func (c *conn) throttle(size int) {
	o := &c.srv.opts
	if o.MaxPublishRate == 0 && o.MaxPublishBandwidth == 0 {
		return
	}
	now := time.Now()
	var wait time.Duration
	if o.MaxPublishRate > 0 {
		wait = c.pubLimitsOf().rate.take(1, o.MaxPublishRate, max(o.MaxPublishRate, 1), now)
	}
	if o.MaxPublishBandwidth > 0 {
		wait = max(wait, c.pubLimitsOf().bytes.take(float64(size), o.MaxPublishBandwidth, max(o.MaxPublishBandwidth, float64(size)), now))
	}
	if wait <= 0 {
		return
	}
	c.srv.counters.throttled.Add(1)
	if c.gatherOn {
		c.writeOwn() // what is gathered goes out before the pause
	}
	// Sleep in slices, so that a stop (takeover, shutdown) is not kept
	// waiting by a long debt.
	for wait > 0 && !c.stopping.Load() {
		d := min(wait, throttleSlice)
		time.Sleep(d)
		wait -= d
	}
}

// pubLimits hold a client to MaxPublishRate and MaxPublishBandwidth.
type pubLimits struct {
	rate, bytes bucket
}

// pubLimitsOf returns the connection's buckets, made on first use: without
// publish limits a connection holds none.
func (c *conn) pubLimitsOf() *pubLimits {
	if c.pubLimit == nil {
		c.pubLimit = new(pubLimits)
	}
	return c.pubLimit
}

// throttleSlice is the longest sleep of throttle between checks for a stop.
const throttleSlice = 50 * time.Millisecond
