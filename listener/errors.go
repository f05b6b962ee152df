package listener

import "errors"

// ErrClientAuth is returned by NewTLS and NewWebSocket when
// TLSOptions.ClientAuth is not "", "none", "request" or "require".
var ErrClientAuth = errors.New("listener: client_auth must be none, request or require")

// ErrNoClientCA is returned by NewTLS and NewWebSocket when client
// certificates are requested or required but TLSOptions.ClientCAFile is
// empty.
var ErrNoClientCA = errors.New("listener: client certificates need a client CA file")

// ErrNoCertificate is returned by NewTLS and NewWebSocket when
// TLSOptions.CertFile or KeyFile is empty.
var ErrNoCertificate = errors.New("listener: a certificate file and a key file are required")

// ErrNoCACertificates is returned when a client CA file holds no PEM
// certificate.
var ErrNoCACertificates = errors.New("listener: no certificates in client CA file")

// ErrNotBinary is returned by the Read of a WebSocket connection whose
// client sent a text message; the connection is closed with code 1003
// [MQTT-6.0.0-1].
var ErrNotBinary = errors.New("listener: websocket message is not binary")
