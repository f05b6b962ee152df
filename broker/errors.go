package broker

import "errors"

// ErrServerClosed is returned by Serve after Shutdown has been called.
var ErrServerClosed = errors.New("broker: server closed")
