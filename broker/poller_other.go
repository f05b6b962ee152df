//go:build !linux

package broker

import "errors"

// poller is not available here: connections keep their goroutine.
type poller struct{}

// pollerSupported reports whether connections can park here.
const pollerSupported = false

func newPoller() (*poller, error) { return nil, errors.New("broker: no poller on this platform") }

func (p *poller) arm(c *conn) error { return errors.New("broker: no poller on this platform") }

func (p *poller) forget(c *conn) {}

func (p *poller) close() {}
