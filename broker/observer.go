package broker

// Observers are told about decisions the broker has made. They cannot change
// or delay them: events reach observers through a bounded queue served by
// one goroutine, and an event that finds the queue full is dropped and
// counted (DropObserverQueueFull). An observer implements any of these
// interfaces; Options.Observers lists them.

// ConnectObserver is told about every accepted CONNECT.
type ConnectObserver interface {
	OnConnect(c ClientInfo)
}

// DisconnectObserver is told about every closed client connection. err is
// nil after a DISCONNECT from the client.
type DisconnectObserver interface {
	OnDisconnect(c ClientInfo, err error)
}

// PublishObserver is told about every message accepted for routing.
type PublishObserver interface {
	OnPublish(m *Message)
}

// DropObserver is told about every drop.
type DropObserver interface {
	OnDrop(reason DropReason, c ClientInfo)
}

// observerQueueLen bounds the events waiting for observers.
const observerQueueLen = 4096

type eventKind byte

const (
	eventConnect eventKind = iota
	eventDisconnect
	eventPublish
	eventDrop
)

type event struct {
	kind   eventKind
	info   ClientInfo
	err    error
	msg    *Message
	reason DropReason
}

func isObserver(o any) bool {
	switch o.(type) {
	case ConnectObserver, DisconnectObserver, PublishObserver, DropObserver:
		return true
	}
	return false
}

// observe queues e for the observers without ever blocking.
func (s *Server) observe(e event) {
	if s.events == nil {
		return
	}
	e.info.Grants = nil // for the Authorizer only
	select {
	case s.events <- e:
	default:
		if e.kind != eventDrop {
			s.counters.dropped[DropObserverQueueFull].Add(1)
		}
	}
}

// runObservers passes queued events to the observers until events is closed.
func (s *Server) runObservers() {
	defer s.bg.Done()
	for e := range s.events {
		for _, o := range s.opts.Observers {
			switch e.kind {
			case eventConnect:
				if ob, ok := o.(ConnectObserver); ok {
					ob.OnConnect(e.info)
				}
			case eventDisconnect:
				if ob, ok := o.(DisconnectObserver); ok {
					ob.OnDisconnect(e.info, e.err)
				}
			case eventPublish:
				if ob, ok := o.(PublishObserver); ok {
					ob.OnPublish(e.msg)
				}
			case eventDrop:
				if ob, ok := o.(DropObserver); ok {
					ob.OnDrop(e.reason, e.info)
				}
			}
		}
	}
}
