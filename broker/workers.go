package broker

import "sync"

// maxIdleWorkers bounds the goroutines that wait for a connection to run.
const maxIdleWorkers = 256

// workers runs connections (serve, and resume after a park) on goroutines
// that are kept for the next connection when theirs parks or ends. A new
// goroutine starts with a small stack that handling a CONNECT outgrows, so
// a goroutine per connection, and another per wake, would each pay for
// making a goroutine and copying its stack; a kept one has its stack grown
// already.
type workers struct {
	mu     sync.Mutex
	idle   []chan task
	closed bool
}

// A task is a connection to run: serve from its CONNECT, or resume after a
// park. (A method value such as c.serve would cost an allocation a run.)
type task struct {
	c      *conn
	resume bool
}

func (t task) run() {
	if t.resume {
		t.c.resume()
	} else {
		t.c.serve()
	}
}

// run runs f on an idle worker, or on a new goroutine when none waits.
func (w *workers) run(f task) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		ch := w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		ch <- f // buffered: never blocks
		return
	}
	w.mu.Unlock()
	go w.work(f)
}

// work runs f, then waits for more until close or until enough workers
// wait already.
func (w *workers) work(f task) {
	var ch chan task
	for f.c != nil {
		f.run()
		w.mu.Lock()
		if w.closed || len(w.idle) >= maxIdleWorkers {
			w.mu.Unlock()
			return
		}
		if ch == nil {
			ch = make(chan task, 1)
		}
		w.idle = append(w.idle, ch)
		w.mu.Unlock()
		f = <-ch
	}
}

// close ends the idle workers; busy ones end when their work does.
func (w *workers) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for _, ch := range w.idle {
		ch <- task{}
	}
	w.idle = nil
}
