package topic

import (
	"strings"
	"sync"
)

// Retained maps topic names to values, such as the retained message of each
// topic, and finds the values whose names match a filter. The zero value is
// not usable; call NewRetained.
type Retained[T any] struct {
	mu    sync.RWMutex
	root  *rnode[T]
	count int
}

// rnode is one level of the tree. It keeps no name: the callers' values
// carry their own (a retained message its topic), and a node of 24 bytes
// rather than 40 is a size class less for every name held.
type rnode[T any] struct {
	children map[string]*rnode[T]
	value    T
	has      bool
}

// NewRetained returns an empty map.
func NewRetained[T any]() *Retained[T] {
	return &Retained[T]{root: &rnode[T]{}}
}

// Len returns the number of names that hold a value.
func (r *Retained[T]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

// Set stores v under the topic name and reports whether it replaced a value.
func (r *Retained[T]) Set(name string, v T) (replaced bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.root
	for level := range strings.SplitSeq(name, "/") {
		c := n.children[level]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*rnode[T])
			}
			c = &rnode[T]{}
			n.children[level] = c
		}
		n = c
	}
	replaced = n.has
	n.value, n.has = v, true
	if !replaced {
		r.count++
	}
	return replaced
}

// Delete removes the value of the topic name and reports whether there was
// one.
func (r *Retained[T]) Delete(name string) (deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var path []*rnode[T]
	var levels []string
	n := r.root
	for level := range strings.SplitSeq(name, "/") {
		path = append(path, n)
		levels = append(levels, level)
		n = n.children[level]
		if n == nil {
			return false
		}
	}
	if !n.has {
		return false
	}
	var zero T
	n.value, n.has = zero, false
	r.count--
	for i := len(path) - 1; i >= 0 && !n.has && len(n.children) == 0; i-- {
		delete(path[i].children, levels[i])
		n = path[i]
	}
	return true
}

// Get returns the value of the topic name.
func (r *Retained[T]) Get(name string) (v T, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := r.root
	for level := range strings.SplitSeq(name, "/") {
		n = n.children[level]
		if n == nil {
			return v, false
		}
	}
	return n.value, n.has
}

// Match calls fn with every value whose name the valid, non-shared filter
// matches, until fn returns false. It calls fn after releasing its lock, on
// a snapshot taken when Match began, so fn may use r.
func (r *Retained[T]) Match(filter string, fn func(v T) bool) {
	var found []T
	r.mu.RLock()
	r.root.match(filter, true, &found)
	r.mu.RUnlock()
	for _, v := range found {
		if !fn(v) {
			return
		}
	}
}

func (n *rnode[T]) match(filter string, top bool, found *[]T) {
	level, rest, more := strings.Cut(filter, "/")
	switch level {
	case "#":
		// '#' matches the parent level too [MQTT-4.7.1-2]; the caller has
		// added it already.
		for l, c := range n.children {
			if top && strings.HasPrefix(l, "$") {
				continue // [MQTT-4.7.2-1]
			}
			c.all(found)
		}
		return
	case "+":
		for l, c := range n.children {
			if top && strings.HasPrefix(l, "$") {
				continue // [MQTT-4.7.2-1]
			}
			c.step(rest, more, found)
		}
	default:
		if c := n.children[level]; c != nil {
			c.step(rest, more, found)
		}
	}
}

// step continues matching at n, whose level matched, with the filter levels
// that follow.
func (n *rnode[T]) step(rest string, more bool, found *[]T) {
	if !more {
		if n.has {
			*found = append(*found, n.value)
		}
		return
	}
	if rest == "#" && n.has {
		*found = append(*found, n.value)
	}
	n.match(rest, false, found)
}

func (n *rnode[T]) all(found *[]T) {
	if n.has {
		*found = append(*found, n.value)
	}
	for _, c := range n.children {
		c.all(found)
	}
}
