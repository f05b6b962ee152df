// Package broker is the core of Midge: it accepts MQTT connections, runs
// sessions, routes messages between them and keeps retained messages and
// wills. It is also the embedding API:
//
//	srv, err := broker.New(broker.Options{})
//	if err != nil { ... }
//	l, _ := net.Listen("tcp", ":1883")
//	go srv.Serve(l)
//	...
//	srv.Shutdown(ctx)
//
// # How a message travels
//
// Each connection has one reading goroutine (conn.serve). It decodes a
// packet, hands a PUBLISH to the Router, and the Router matches the topic in
// the subscription index and hands one delivery per client to the Deliverer.
// The receiving session either writes the message to its connection's output
// buffer, puts it in its inflight window, or queues it. Output is written by
// a goroutine that exists only while the buffer is not empty.
//
// # Persistence
//
// Every change of a persistent session (subscriptions, received QoS 2
// packet ids, one entry per queued or inflight message) and of the retained
// messages is appended to one shared store batch as it happens; a
// committer goroutine applies the batch (group commit) and then runs the
// callbacks that waited for it: the PUBACK, PUBREC, PUBCOMP, SUBACK and
// UNSUBACK packets, and the QoS 1 and 2 messages to persistent sessions.
// So nothing is acknowledged, and no message is handed to a persistent
// session's client, before the store has it (as Options.Durability
// defines). The receipt of a message and its queue entries go into one
// batch together. A message is stored once however many sessions queue it;
// queued messages beyond the inflight window are read back from the store
// when their turn comes.
//
// # Lock order
//
// persister.group (shared) → Server.mu → session.mu → persister.mu →
// conn.wmu. A goroutine holding a lock later in the list never takes one
// earlier in it. No lock is held across network I/O, an Authenticator or
// Authorizer call, a store write, or a channel send that may block, and
// none but persister.group (shared, by the publisher's goroutine) across a
// Router call. Callbacks of the persister run with no lock held.
//
// # Caveats
//
//   - A persistent session's CONNACK waits for the commit that holds its
//     record and will; the will of a session that ends with its connection
//     is not waited for and reaches the store within one commit. The will of a connection open when the broker crashed is
//     published after the restart, its Will Delay Interval counted from
//     the restart (see will.go).
//   - Records are JSON for now; a binary encoding would be smaller and
//     faster.
package broker
