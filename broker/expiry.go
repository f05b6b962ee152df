package broker

import (
	"container/heap"
	"sync"
	"time"
)

// neverExpires is the Session Expiry Interval of a session that never
// expires: 0xFFFFFFFF in MQTT 5.0, and every persistent
// session of MQTT 3.1 and 3.1.1.
const neverExpires = 0xFFFFFFFF

// expiry is the one scheduler of session expiry deadlines: a heap of
// deadlines and a goroutine that sleeps until the earliest. Deadlines are
// data in the sessions (session.expiresAt); an entry here only says when
// to look, so a stale one (the client came back) costs a look and nothing
// else.
type expiry struct {
	mu   sync.Mutex
	h    expiryHeap
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

type expiryEntry struct {
	at time.Time
	id string
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newExpiry() *expiry {
	return &expiry{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// add asks for a look at session id at time at.
func (e *expiry) add(id string, at time.Time) {
	e.mu.Lock()
	heap.Push(&e.h, expiryEntry{at: at, id: id})
	first := e.h[0].id == id && e.h[0].at.Equal(at)
	e.mu.Unlock()
	if first {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// run calls fire for every entry whose time has come, until stopped.
func (e *expiry) run(fire func(id string, now time.Time)) {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		now := time.Now()
		var due []string
		for len(e.h) > 0 && !e.h[0].at.After(now) {
			due = append(due, heap.Pop(&e.h).(expiryEntry).id)
		}
		wait := time.Hour
		if len(e.h) > 0 {
			wait = e.h[0].at.Sub(now)
		}
		e.mu.Unlock()
		for _, id := range due {
			fire(id, now)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-e.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-e.stop:
			return
		}
	}
}

func (e *expiry) close() {
	close(e.stop)
	<-e.done
}

// checkSession is the scheduler's look at session id: it publishes a
// delayed will whose time has come, and ends the session if it is offline
// and its expiry has passed, publishing a will still waiting first
// [MQTT-3.1.3-9].
func (s *Server) checkSession(id string, now time.Time) {
	// The will's publication and its removal from the session's record
	// reach the store together; the group lock comes first in the lock
	// order.
	s.persist.beginGroup()
	s.mu.Lock()
	sess := s.sessions[id]
	if sess == nil {
		s.mu.Unlock()
		s.persist.endGroup()
		return
	}
	sess.mu.Lock()
	if sess.conn != nil || sess.ending != nil {
		sess.mu.Unlock()
		s.mu.Unlock()
		s.persist.endGroup()
		return
	}
	expired := !sess.expiresAt.IsZero() && !sess.expiresAt.After(now)
	if expired {
		sess.ending = make(chan struct{})
	}
	will := sess.takeDueWillLocked(now, expired)
	sess.mu.Unlock()
	s.mu.Unlock()
	if will != nil {
		s.publishWill(will, ClientInfo{ClientID: id})
	}
	s.persist.endGroup()
	if expired {
		s.log.Info("session expired", "client_id", id)
		s.endSession(sess)
	}
}
