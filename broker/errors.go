package broker

import "errors"

// ErrServerClosed is returned by Serve after Shutdown has been called.
var ErrServerClosed = errors.New("broker: server closed")

// ErrQueueFull is what Router.Publish passes to its done function when a
// session that matches the message did not take it because its queue held
// MaxQueued messages already: the message is lost to that session (and
// counted as a queue_full drop) though the others have it. A 5.0 publisher
// is answered Quota exceeded.
var ErrQueueFull = errors.New("broker: a subscriber's queue is full")

// errStoreFull ends the connection of a 3.1 or 3.1.1 client whose QoS 1 or
// 2 PUBLISH came while the store was over MaxStoreBytes.
var errStoreFull = errors.New("broker: store full: message not acknowledged")
