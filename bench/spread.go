package bench

import "fmt"

// ScenarioSpread is a point-to-point load through wildcard filters, with many more subscribers than publishers:
// each of Subscribers subscribers holds its own filter TOPIC/spread/n/+, and each of Publishers publishers
// publishes to the topics TOPIC/spread/n/p of the subscribers n = p, p+Publishers, p+2*Publishers, ... in turn,
// so that every message matches exactly one subscriber. It measures routing through a large index of wildcard
// subscriptions (10,000 subscribers of 10 publishers, say) without the connections p2p would need.
const ScenarioSpread Scenario = "spread"

// spreadPlan lays out the topics of the spread scenario: the filter of each subscriber, and the topics each
// publisher takes in turn. The caller has checked that there are at least as many subscribers as publishers.
func spreadPlan(c *Config, p *plan) {
	t := c.Topic
	p.rings = make([][]string, c.Publishers)
	for n := range c.Subscribers {
		p.filters = append(p.filters, fmt.Sprintf("%s/spread/%d/+", t, n))
		k := n % c.Publishers
		p.rings[k] = append(p.rings[k], fmt.Sprintf("%s/spread/%d/%d", t, n, k))
	}
	for k := range c.Publishers {
		// The first topic names the publisher where only one topic is shown.
		p.topics = append(p.topics, p.rings[k][0])
	}
	p.fan = 1
}

// topicRing is the topics a spread publisher takes in turn. Each topic is a sequence of its own in the
// payloads, numbered after the subscriber it reaches: each subscriber then sees one dense sequence, and its
// duplicate check keeps one bit per message it receives rather than one per message the publisher sent. It is
// used by the publisher's goroutine only.
type topicRing struct {
	topics []string
	nums   []uint32
	seqs   []uint32
	next   int
}

// newTopicRing returns the ring of publisher k of a run whose publisher numbers start at base: its i-th topic
// reaches subscriber k+i*stride, and takes the number base+k+i*stride.
func newTopicRing(topics []string, base uint32, k, stride int) *topicRing {
	r := &topicRing{topics: topics, nums: make([]uint32, len(topics)), seqs: make([]uint32, len(topics))}
	for i := range r.nums {
		r.nums[i] = base + uint32(k+i*stride)
	}
	return r
}

// take returns the next topic, the number of its sequence and its next sequence number.
func (r *topicRing) take() (topic string, num, seq uint32) {
	i := r.next
	if r.next++; r.next == len(r.topics) {
		r.next = 0
	}
	seq = r.seqs[i]
	r.seqs[i]++
	return r.topics[i], r.nums[i], seq
}
