// Package listener turns TLS and WebSocket connections into net.Conns for
// the broker. Each constructor wraps a net.Listener the caller opened (so
// the caller picks the address, and tests can use 127.0.0.1:0) and returns
// another net.Listener to hand to broker.Server.Serve:
//
//	inner, _ := net.Listen("tcp", ":8883")
//	l, err := listener.NewTLS(inner, listener.TLSOptions{CertFile: "server.pem", KeyFile: "server.key"}, log)
//	if err != nil { ... }
//	go srv.Serve(l)
//
// NewTLS serves MQTT over TLS 1.2 and 1.3. NewWebSocket serves MQTT over
// WebSocket (RFC 6455, MQTT 5.0 section 6), as ws or, with TLS options, as
// wss. A WebSocket connection carries MQTT bytes in binary messages; the
// net.Conn it becomes reads them as one byte stream and sends one binary
// message per Write.
//
// # Certificates
//
// The server certificate and the client CAs are read by a CertReloader.
// TLS.Reload and WebSocket.Reload read the files again without closing the
// listener: new handshakes use the new files, established connections keep
// theirs. A reload that fails keeps everything as it was. The package does
// not watch the files; the caller decides when to reload (on SIGHUP, say).
//
// PeerCertificate returns the verified client certificate of a connection,
// and CertUsername picks a user name out of it, for brokers that use the
// certificate as the identity.
//
// # Caveats
//
//   - Unlike TCP and TLS connections, a WebSocket connection cannot be read
//     again after a read deadline expired: the WebSocket library keeps its
//     first read error, so every later Read returns the same deadline error.
//     The same holds for writes. The broker closes a connection on any read
//     error, so it never needs more; other users must treat a timeout as the
//     end of the connection.
//   - A WebSocket connection's Close sends a close frame (waiting at most one
//     second for a Write in progress) and closes the socket without waiting
//     for the client's close frame.
//   - The remote address of a WebSocket connection is the HTTP peer. The
//     X-Forwarded-For and Forwarded headers are ignored, since any client
//     can set them; behind a proxy every connection shows the proxy.
//   - At most 128 upgraded WebSocket connections wait for Accept; further
//     upgrade requests get 503 until the broker catches up.
//   - WebSocket compression (permessage-deflate) is not offered.
//   - WebSocketOptions.CheckOrigin nil allows every origin. That suits MQTT,
//     which authenticates in CONNECT rather than with cookies, but a site
//     that relies on browser cookies for anything must set it.
package listener
