// Package store defines where the broker keeps what must outlive a
// connection or a process: sessions and retained messages. The broker
// encodes its own records; a store keeps bytes under keys and gives them
// back, so that every implementation behaves the same.
//
// store/memory keeps everything in the process; it carries sessions and
// retained messages from one broker.Server to the next within a process and
// serves tests.
//
// # Caveats
//
// Records are written when the broker decides (a session when it goes
// offline or the server shuts down, a retained message when it is set); a
// store is not yet written to on every acknowledged message.
package store

import "context"

// Sessions keeps the encoded state of persistent sessions by client id.
type Sessions interface {
	// SaveSession stores state as the session of clientID, replacing any.
	SaveSession(ctx context.Context, clientID string, state []byte) error
	// DeleteSession forgets the session of clientID; a missing one is not an
	// error.
	DeleteSession(ctx context.Context, clientID string) error
	// LoadSessions calls fn for every stored session, stopping at fn's first
	// error, which it returns.
	LoadSessions(ctx context.Context, fn func(clientID string, state []byte) error) error
}

// Retained keeps the encoded retained messages by topic name.
type Retained interface {
	// SetRetained stores msg as the retained message of topic.
	SetRetained(ctx context.Context, topic string, msg []byte) error
	// DeleteRetained forgets the retained message of topic; a missing one is
	// not an error.
	DeleteRetained(ctx context.Context, topic string) error
	// LoadRetained calls fn for every retained message, stopping at fn's
	// first error, which it returns.
	LoadRetained(ctx context.Context, fn func(topic string, msg []byte) error) error
}

// Store is everything the broker keeps.
type Store interface {
	Sessions
	Retained
	// Close releases the store; no method may be called after it.
	Close() error
}
