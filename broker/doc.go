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
// # Lock order
//
// Server.mu → session.mu → conn.wmu. A goroutine holding a lock later in the
// list never takes one earlier in it. No lock is held across network I/O,
// a Router call, an Authenticator or Authorizer call, or a channel send that
// may block.
//
// # Caveats
//
//   - Sessions, queues and retained messages live in memory; the Store
//     options carry them across a Shutdown and New in the same process.
//   - MQTT 5.0 clients are served with the 5.0 encoding and reason codes, but
//     5.0-only behaviour (session and message expiry, topic aliases, flow
//     control by Receive Maximum, enhanced authentication) is not yet done.
package broker
