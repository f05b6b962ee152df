package topic

import (
	"strings"
	"sync"
)

// Index maps topic filters to subscriptions. The zero value is not usable;
// call NewIndex.
type Index struct {
	mu    sync.RWMutex
	root  *node
	count int
}

// node is one level of the filter trie. Subscriptions and shared groups whose
// filter ends at this level hang off it.
type node struct {
	// children are the literal next levels; plus and hash the wildcard
	// ones, kept apart so that matching needs no lookup to find them.
	children   map[string]*node
	plus, hash *node
	// one is the subscription to the filter that ends here when it is the
	// only one, as it is for most filters; more holds the rest of what a
	// node may hold, for the few that hold it. A node is 40 bytes (a
	// 48-byte allocation), and a lone subscription needs no slice.
	one  *Subscription
	more *nodeMore
}

// nodeMore is what a node holds beyond a lone subscription.
type nodeMore struct {
	// subs are the subscriptions to the filter that ends here when there
	// are more than one (one is then nil), in a slice for matching to walk.
	// at says where each client's is, once there are more than atFrom of
	// them; below that a scan finds it (a map would cost more than the
	// rest of the node).
	subs   []*Subscription
	at     map[string]int    // client id -> index in subs
	groups map[string]*Group // by share name
}

func (n *node) empty() bool {
	return len(n.children) == 0 && n.plus == nil && n.hash == nil && n.one == nil &&
		(n.more == nil || len(n.more.subs) == 0 && len(n.more.groups) == 0)
}

// hasSubs reports whether a non-shared subscription ends at n.
func (n *node) hasSubs() bool {
	return n.one != nil || n.more != nil && len(n.more.subs) > 0
}

// group returns the shared group of that name at n, nil if there is none.
func (n *node) group(name string) *Group {
	if n.more == nil {
		return nil
	}
	return n.more.groups[name]
}

// atFrom is how many subscriptions a node holds before it indexes them by
// client id.
const atFrom = 8

// find returns the index in n.more.subs of the client's subscription, -1
// if it has none there.
func (m *nodeMore) find(clientID string) int {
	if m.at != nil {
		if i, ok := m.at[clientID]; ok {
			return i
		}
		return -1
	}
	for i, s := range m.subs {
		if s.ClientID == clientID {
			return i
		}
	}
	return -1
}

// add adds s to the node's subscriptions, or replaces the client's, and
// reports whether it replaced one.
func (n *node) add(s *Subscription) (replaced bool) {
	switch {
	case n.one != nil && n.one.ClientID == s.ClientID:
		n.one = s
		return true
	case n.one == nil && (n.more == nil || len(n.more.subs) == 0):
		n.one = s
		return false
	}
	m := n.extra()
	if n.one != nil {
		// A second subscriber: both go to the slice.
		m.subs = append(m.subs, n.one)
		n.one = nil
	}
	if i := m.find(s.ClientID); i >= 0 {
		m.subs[i] = s
		return true
	}
	m.subs = append(m.subs, s)
	if m.at != nil {
		m.at[s.ClientID] = len(m.subs) - 1
	} else if len(m.subs) > atFrom {
		m.at = make(map[string]int, len(m.subs))
		for i, s := range m.subs {
			m.at[s.ClientID] = i
		}
	}
	return false
}

// remove removes the client's subscription and reports whether there was
// one, and whether none is left.
func (n *node) remove(clientID string) (removed, last bool) {
	if n.one != nil {
		if n.one.ClientID != clientID {
			return false, false
		}
		n.one = nil
		return true, true
	}
	m := n.more
	if m == nil {
		return false, false
	}
	i := m.find(clientID)
	if i < 0 {
		return false, false
	}
	// The last subscription takes the place of the removed one.
	end := len(m.subs) - 1
	if i != end {
		m.subs[i] = m.subs[end]
		if m.at != nil {
			m.at[m.subs[i].ClientID] = i
		}
	}
	m.subs[end] = nil
	m.subs = m.subs[:end]
	if m.at != nil {
		delete(m.at, clientID)
	}
	if len(m.subs) == 0 {
		m.subs, m.at = nil, nil
		n.dropEmptyMore()
		return true, true
	}
	return true, false
}

// extra returns the node's nodeMore, made if it has none.
func (n *node) extra() *nodeMore {
	if n.more == nil {
		n.more = &nodeMore{}
	}
	return n.more
}

// dropEmptyMore lets nodeMore go once it holds nothing.
func (n *node) dropEmptyMore() {
	if m := n.more; m != nil && len(m.subs) == 0 && len(m.groups) == 0 {
		n.more = nil
	}
}

// child returns the next level named level, nil if there is none.
func (n *node) child(level string) *node {
	switch level {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.children[level]
}

// addChild returns the next level named level, adding it if needed.
func (n *node) addChild(level string) *node {
	if c := n.child(level); c != nil {
		return c
	}
	c := &node{}
	switch level {
	case "+":
		n.plus = c
	case "#":
		n.hash = c
	default:
		if n.children == nil {
			n.children = make(map[string]*node)
		}
		n.children[level] = c
	}
	return c
}

// removeChild removes the next level named level.
func (n *node) removeChild(level string) {
	switch level {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		delete(n.children, level)
	}
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{root: &node{}}
}

// Len returns the number of subscriptions in the index, shared ones
// included.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count
}

// Add adds sub, or replaces the client's subscription to the same filter.
// replaced reports that the client already held the filter; first reports
// that no client held the filter (or, for a shared subscription, that the
// group had no members) before.
func (x *Index) Add(sub Subscription) (replaced, first bool) {
	s := &sub
	group, filter, shared := ParseShared(sub.Filter)
	if !shared {
		filter = sub.Filter
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.root
	for level := range strings.SplitSeq(filter, "/") {
		n = n.addChild(level)
	}
	if shared {
		g := n.group(group)
		if g == nil {
			m := n.extra()
			if m.groups == nil {
				m.groups = make(map[string]*Group)
			}
			g = &Group{Name: group, Filter: filter}
			m.groups[group] = g
		}
		old := g.Members()
		members := make([]*Subscription, 0, len(old)+1)
		for _, m := range old {
			if m.ClientID == sub.ClientID {
				replaced = true
				continue
			}
			members = append(members, m)
		}
		members = append(members, s)
		g.members.Store(&members)
		if !replaced {
			x.count++
		}
		return replaced, len(old) == 0
	}
	first = !n.hasSubs()
	replaced = n.add(s)
	if !replaced {
		x.count++
	}
	return replaced, first
}

// Remove removes the client's subscription to filter, which is given as
// subscribed (with its $share prefix when shared). removed reports that
// there was one; last that no subscription to the filter (or member of the
// shared group) is left.
func (x *Index) Remove(clientID, filter string) (removed, last bool) {
	group, f, shared := ParseShared(filter)
	if !shared {
		f = filter
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	path := make([]*node, 0, 8)
	levels := make([]string, 0, 8)
	n := x.root
	for level := range strings.SplitSeq(f, "/") {
		path = append(path, n)
		levels = append(levels, level)
		n = n.child(level)
		if n == nil {
			return false, false
		}
	}
	if shared {
		g := n.group(group)
		if g == nil {
			return false, false
		}
		old := g.Members()
		members := make([]*Subscription, 0, len(old))
		for _, m := range old {
			if m.ClientID == clientID {
				removed = true
				continue
			}
			members = append(members, m)
		}
		if !removed {
			return false, false
		}
		g.members.Store(&members)
		if len(members) == 0 {
			delete(n.more.groups, group)
			n.dropEmptyMore()
		}
		last = len(members) == 0
	} else if removed, last = n.remove(clientID); !removed {
		return false, false
	}
	x.count--
	// Prune the levels that hold nothing any more.
	for i := len(path) - 1; i >= 0 && n.empty(); i-- {
		path[i].removeChild(levels[i])
		n = path[i]
	}
	return true, last
}

// Group returns the shared subscription group $share/{name}/{filter}, or
// nil when it has no members.
func (x *Index) Group(name, filter string) *Group {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.root
	for level := range strings.SplitSeq(filter, "/") {
		if n = n.child(level); n == nil {
			return nil
		}
	}
	return n.group(name)
}

// Result holds the subscriptions that match one topic name. Reuse one Result
// across calls (after Reset) so that matching does not allocate.
type Result struct {
	// Subs are the matching non-shared subscriptions, one entry per
	// matching filter: a client with overlapping filters appears more than
	// once. Deliveries merges them.
	Subs []*Subscription
	// Groups are the matching shared subscription groups.
	Groups []*Group

	seen map[string]int
	// nodes counts the filters whose subscriptions are in Subs: a client
	// appears once per filter, so with one filter there is nothing to merge.
	nodes int
}

// Reset empties r and keeps its memory.
func (r *Result) Reset() {
	clear(r.Subs)
	r.Subs = r.Subs[:0]
	clear(r.Groups)
	r.Groups = r.Groups[:0]
	r.nodes = 0
}

// Match puts into res every subscription and group whose filter matches the
// topic name. It appends to res; Reset res between uses.
func (x *Index) Match(name string, res *Result) {
	dollar := name != "" && name[0] == '$'
	x.mu.RLock()
	x.root.match(name, 0, true, dollar, res)
	x.mu.RUnlock()
}

// match adds the subscriptions of n's subtree that match the levels of name
// from byte pos on. pos beyond len(name) means every level was matched.
func (n *node) match(name string, pos int, top, dollar bool, res *Result) {
	if pos > len(name) {
		n.collect(res)
		// "a/#" also matches "a" [MQTT-4.7.1-2].
		if c := n.hash; c != nil {
			c.collect(res)
		}
		return
	}
	end := strings.IndexByte(name[pos:], '/')
	if end < 0 {
		end = len(name)
	} else {
		end += pos
	}
	if !top || !dollar { // [MQTT-4.7.2-1]
		if c := n.hash; c != nil {
			c.collect(res)
		}
		if c := n.plus; c != nil {
			c.match(name, end+1, false, dollar, res)
		}
	}
	if len(n.children) > 0 {
		if c := n.children[name[pos:end]]; c != nil {
			c.match(name, end+1, false, dollar, res)
		}
	}
}

func (n *node) collect(res *Result) {
	if n.one != nil {
		res.nodes++
		res.Subs = append(res.Subs, n.one)
	}
	m := n.more
	if m == nil {
		return
	}
	if len(m.subs) > 0 {
		res.nodes++
		res.Subs = append(res.Subs, m.subs...)
	}
	for _, g := range m.groups {
		res.Groups = append(res.Groups, g)
	}
}

// Deliveries appends to dst one Delivery per client of r.Subs, skipping
// the publisher's own No Local subscriptions. A client whose filters
// overlap gets one delivery at the highest QoS of its subscriptions
// [MQTT-3.3.4-2], with the identifiers of all of them [MQTT-3.3.4-3].
func (r *Result) Deliveries(publisher string, dst []Delivery) []Delivery {
	merge := r.nodes > 1
	if merge {
		if r.seen == nil {
			r.seen = make(map[string]int)
		}
		clear(r.seen)
	}
	for _, s := range r.Subs {
		if s.NoLocal && s.ClientID == publisher {
			continue // [MQTT-3.8.3-3]
		}
		if merge {
			if i, ok := r.seen[s.ClientID]; ok {
				d := &dst[i]
				d.QoS = max(d.QoS, s.QoS)
				d.RetainAsPublished = d.RetainAsPublished || s.RetainAsPublished
				// Every identifier, repeated ones too (3.3.4).
				if s.Identifier != 0 {
					d.Identifiers = append(d.Identifiers, s.Identifier)
				}
				continue
			}
			r.seen[s.ClientID] = len(dst)
		}
		d := Delivery{ClientID: s.ClientID, QoS: s.QoS, RetainAsPublished: s.RetainAsPublished}
		if s.Identifier != 0 {
			d.Identifiers = []uint32{s.Identifier}
		}
		dst = append(dst, d)
	}
	return dst
}
