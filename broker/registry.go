package broker

import "context"

// SessionRegistry decides which connection may hold a client id. On a single
// node every claim succeeds; in a cluster a claim may fail (the broker then
// refuses the CONNECT with ServerUnavailable, 0x88) and a successful claim
// fences the previous owner on another node.
type SessionRegistry interface {
	// Claim takes clientID for this node. It returns an error when the id
	// cannot be taken now.
	Claim(ctx context.Context, clientID string) error
	// Release gives clientID up after its session has ended.
	Release(clientID string)
}

// localRegistry is the SessionRegistry of a single node: the server's own
// session table already serialises takeovers, so there is nothing to agree.
type localRegistry struct{}

func (localRegistry) Claim(context.Context, string) error { return nil }
func (localRegistry) Release(string)                      {}
