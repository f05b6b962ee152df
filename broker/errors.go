package broker

import "errors"

// ErrServerClosed is returned by Serve after Shutdown has been called.
var ErrServerClosed = errors.New("broker: server closed")

// errProtocol is returned by a packet handler when the client broke the
// protocol in a way that closes the connection.
var errProtocol = errors.New("broker: protocol violation")
