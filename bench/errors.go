package bench

import (
	"errors"
	"strings"
)

// ErrInvalidConfig is returned, wrapped with the field at fault, when a Config does not validate.
var ErrInvalidConfig = errors.New("bench: invalid config")

// ErrRemoteTarget is returned when the broker address, or a source address, is not a loopback address and
// Config.AllowRemote is not set.
var ErrRemoteTarget = errors.New("bench: not a loopback address")

// ErrRefused is returned when the broker refuses a connection (a CONNACK with a failure reason code) or a
// subscription (a SUBACK with a failure reason code).
var ErrRefused = errors.New("bench: refused by the broker")

// ErrProtocol is returned when the broker sends something a client cannot accept at that point: a packet of the
// wrong type, or an acknowledgement for a packet identifier that is not in flight.
var ErrProtocol = errors.New("bench: protocol violation by the broker")

// ErrConnectionLost is returned when the broker closes a connection, or the connection fails, before the run is
// over.
var ErrConnectionLost = errors.New("bench: connection lost")

// ErrStalled is returned when the broker stops acknowledging a publisher's messages for Config.IdleTimeout, or a
// backlog never starts to drain.
var ErrStalled = errors.New("bench: no progress")

// ErrNoSession is returned when a backlog subscriber reconnects and the broker has not kept its session.
var ErrNoSession = errors.New("bench: the broker kept no session")

// ClientError is an error of one client of a run; errors.As finds it in the errors Run returns.
type ClientError struct {
	// ClientID is the client's identifier.
	ClientID string
	// Op is what the client was doing, such as "connect to 127.0.0.1:1883" or "publish"; empty when the
	// connection failed while the client waited for the broker.
	Op string
	// Err is the cause.
	Err error
}

// Error returns "bench: ", the client identifier, the operation and the cause.
func (e *ClientError) Error() string {
	s := "bench: " + e.ClientID + ": "
	if e.Op != "" {
		s += e.Op + ": "
	}
	return s + strings.TrimPrefix(e.Err.Error(), "bench: ")
}

// Unwrap returns e.Err.
func (e *ClientError) Unwrap() error { return e.Err }
