package bench

import "sync"

// The states of a packet identifier in a publisher's window.
const (
	idFree uint8 = iota
	// idPublished: PUBLISH sent, PUBACK (QoS 1) or PUBREC (QoS 2) awaited.
	idPublished
	// idReleased: PUBREL sent, PUBCOMP awaited.
	idReleased
)

// window hands out the packet identifiers of a QoS 1 or 2 publisher: identifiers 1 to size, each reused once its
// flow is complete, so at most size messages are in flight. The publisher's goroutine acquires identifiers and the
// connection's reading goroutine completes them.
type window struct {
	size int
	// wake is the publisher's wake channel, signalled when an identifier is freed while none was free, and when the
	// last one in flight completes.
	wake chan struct{}

	// mu guards free, state and completed.
	mu   sync.Mutex
	free []uint16
	// state holds the state of each identifier, indexed by identifier.
	state []uint8
	// completed counts the flows completed, so that a waiting publisher can tell a broker that stopped answering.
	completed int64
}

func newWindow(size int, wake chan struct{}) *window {
	w := &window{size: size, wake: wake, free: make([]uint16, size), state: make([]uint8, size+1)}
	for i := range w.free {
		w.free[i] = uint16(size - i)
	}
	return w
}

// acquire takes a free identifier, or reports false when all are in flight.
func (w *window) acquire() (uint16, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.free)
	if n == 0 {
		return 0, false
	}
	id := w.free[n-1]
	w.free = w.free[:n-1]
	w.state[id] = idPublished
	return id, true
}

// complete ends the flow of id, which must be in state want, and reports false when it is not.
func (w *window) complete(id uint16, want uint8) bool {
	w.mu.Lock()
	if int(id) >= len(w.state) || w.state[id] != want {
		w.mu.Unlock()
		return false
	}
	w.state[id] = idFree
	wasEmpty := len(w.free) == 0
	w.free = append(w.free, id)
	w.completed++
	signal := wasEmpty || len(w.free) == w.size
	w.mu.Unlock()
	if signal {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// release marks a QoS 2 flow as released (PUBREC received, PUBREL due) and reports false when id is not in
// flight. A repeated PUBREC for a released identifier is accepted: the PUBREL is sent again.
func (w *window) release(id uint16) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if int(id) >= len(w.state) || w.state[id] == idFree {
		return false
	}
	w.state[id] = idReleased
	return true
}

// inFlight returns the number of identifiers in use and the flows completed so far.
func (w *window) inFlight() (n int, completed int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size - len(w.free), w.completed
}
