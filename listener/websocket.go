package listener

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultWebSocketPath is the URL path WebSocket clients connect to when
// WebSocketOptions.Path is empty.
const DefaultWebSocketPath = "/mqtt"

const (
	// acceptQueueLen bounds the upgraded connections waiting for Accept.
	acceptQueueLen = 128
	// httpTimeout bounds reading the request headers (and the TLS
	// handshake) and writing the upgrade response.
	httpTimeout = 10 * time.Second
	// closeFrameTimeout bounds how long Close waits to send its close frame
	// behind a Write in progress.
	closeFrameTimeout = time.Second
)

// maxDeadline is the latest write deadline a wsConn stores; later ones are
// cut to it, since Unix nanoseconds end in 2262.
var maxDeadline = time.Unix(0, math.MaxInt64)

// mqttSubprotocols are the WebSocket subprotocols accepted, in the order of
// preference: "mqtt" is the name MQTT 3.1.1 and 5.0 register [MQTT-6.0.0-3],
// "mqttv3.1" the one of older clients.
var mqttSubprotocols = []string{"mqtt", "mqttv3.1"}

// WebSocketOptions configure a WebSocket listener.
type WebSocketOptions struct {
	// Path is the URL path of WebSocket upgrades; requests for other paths
	// get 404. The default is DefaultWebSocketPath, "/mqtt".
	Path string

	// TLS, when not nil, makes the listener serve wss with these options;
	// WebSocket.Reload reloads its files. Nil serves plain ws.
	TLS *TLSOptions

	// CheckOrigin reports whether an upgrade request may proceed, typically
	// by looking at its Origin header; a refused request gets 403. Nil
	// allows every origin.
	CheckOrigin func(*http.Request) bool

	// ReadLimit is the largest WebSocket message a client may send, in
	// bytes; a larger one closes the connection with code 1009. 0 means no
	// limit: messages are read as a stream, never buffered whole, and the
	// broker bounds each MQTT packet with its own maximum packet size.
	ReadLimit int64
}

// WebSocket is a net.Listener that serves MQTT over WebSocket: it runs an
// HTTP server on another listener, upgrades requests for its path that ask
// for the "mqtt" subprotocol, and returns each upgraded connection from
// Accept as a net.Conn.
type WebSocket struct {
	log       *slog.Logger
	inner     net.Listener
	path      string
	readLimit int64
	tls       *TLS // nil for ws
	up        websocket.Upgrader
	hs        *http.Server

	// queue holds upgraded connections until Accept takes them. A request
	// reserves its place (pending) before it upgrades, so sends never block.
	queue   chan *wsConn
	pending atomic.Int32
	refused atomic.Int64

	done     chan struct{} // closed by Close
	served   chan struct{} // closed when the HTTP server's Serve returned
	serveErr error         // Serve's result; read after served is closed

	// mu guards closed; handlers.Add happens under it, so that Close's
	// handlers.Wait never races with a new handler.
	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// NewWebSocket returns a WebSocket listener serving HTTP on inner,
// configured by o, and starts its HTTP server. A nil log means
// slog.Default(). Closing the WebSocket listener closes inner; when
// NewWebSocket fails, inner stays open.
func NewWebSocket(inner net.Listener, o WebSocketOptions, log *slog.Logger) (*WebSocket, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &WebSocket{
		log:       log.With("listener", inner.Addr().String()),
		inner:     inner,
		path:      o.Path,
		readLimit: o.ReadLimit,
		queue:     make(chan *wsConn, acceptQueueLen),
		done:      make(chan struct{}),
		served:    make(chan struct{}),
	}
	if w.path == "" {
		w.path = DefaultWebSocketPath
	}
	l := inner
	if o.TLS != nil {
		t, err := newTLS(inner, *o.TLS, log, []string{"http/1.1"})
		if err != nil {
			return nil, err
		}
		w.tls, l = t, t
	}
	checkOrigin := o.CheckOrigin
	if checkOrigin == nil {
		checkOrigin = func(*http.Request) bool { return true }
	}
	w.up = websocket.Upgrader{
		HandshakeTimeout: httpTimeout,
		Subprotocols:     mqttSubprotocols,
		CheckOrigin:      checkOrigin,
		// Idle connections hold no write buffer.
		WriteBufferPool: &sync.Pool{},
	}
	w.hs = &http.Server{
		Handler:           http.HandlerFunc(w.serveHTTP),
		ReadHeaderTimeout: httpTimeout,
		WriteTimeout:      httpTimeout,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		// An empty map turns HTTP/2 off: WebSocket upgrades need HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// Malformed requests and failed handshakes are the clients' fault.
		ErrorLog: slog.NewLogLogger(w.log.Handler(), slog.LevelDebug),
	}
	go func() {
		w.serveErr = w.hs.Serve(l)
		close(w.served)
	}()
	return w, nil
}

// serveHTTP upgrades a request for the WebSocket path and queues the
// connection for Accept.
func (w *WebSocket) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != w.path {
		http.NotFound(rw, r)
		return
	}
	if !w.enter() {
		http.Error(rw, "listener closed", http.StatusServiceUnavailable)
		return
	}
	defer w.handlers.Done()
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(rw, "websocket upgrade required", http.StatusBadRequest)
		return
	}
	// The library picks the subprotocol but upgrades without one when none
	// matches; MQTT needs one, and the response must name it
	// [MQTT-6.0.0-4].
	if !slices.ContainsFunc(websocket.Subprotocols(r), func(p string) bool {
		return slices.Contains(mqttSubprotocols, p)
	}) {
		rw.Header().Set("Sec-Websocket-Version", "13")
		http.Error(rw, "websocket subprotocol mqtt required", http.StatusBadRequest)
		return
	}
	if w.pending.Add(1) > acceptQueueLen {
		w.pending.Add(-1)
		w.refused.Add(1)
		w.log.Debug("websocket upgrade refused: accept queue full", "remote", r.RemoteAddr)
		rw.Header().Set("Retry-After", "1")
		http.Error(rw, "too many connections waiting", http.StatusServiceUnavailable)
		return
	}
	ws, err := w.up.Upgrade(rw, r, nil)
	if err != nil {
		// Upgrade has answered the request.
		w.pending.Add(-1)
		w.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	w.queue <- newWSConn(ws, w.readLimit)
}

// enter registers a handler, unless the listener is closed.
func (w *WebSocket) enter() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.handlers.Add(1)
	return true
}

// Accept waits for the next upgraded connection. After Close it returns an
// error that satisfies errors.Is(err, net.ErrClosed). When the HTTP server
// stopped because the inner listener failed, it returns that failure.
func (w *WebSocket) Accept() (net.Conn, error) {
	select {
	case <-w.done:
		return nil, w.opError(net.ErrClosed)
	default:
	}
	select {
	case c := <-w.queue:
		w.pending.Add(-1)
		return c, nil
	case <-w.done:
		return nil, w.opError(net.ErrClosed)
	case <-w.served:
		return nil, w.opError(fmt.Errorf("listener: websocket http server: %w", w.serveErr))
	}
}

func (w *WebSocket) opError(err error) error {
	return &net.OpError{Op: "accept", Net: "websocket", Addr: w.inner.Addr(), Err: err}
}

// Close stops the HTTP server, which closes the inner listener, waits for
// upgrades in progress and closes the connections that Accept has not
// returned. Connections already accepted stay open.
func (w *WebSocket) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.done)
		if err := w.hs.Close(); err != nil {
			w.closeErr = fmt.Errorf("listener: close websocket listener: %w", err)
		}
		<-w.served
		w.handlers.Wait()
		for {
			select {
			case c := <-w.queue:
				w.pending.Add(-1)
				c.Close()
			default:
				return
			}
		}
	})
	return w.closeErr
}

// Addr returns the inner listener's address.
func (w *WebSocket) Addr() net.Addr {
	return w.inner.Addr()
}

// Reload reloads the TLS certificate, key and client CA files of a wss
// listener, as TLS.Reload does. For a ws listener it does nothing.
func (w *WebSocket) Reload() error {
	if w.tls == nil {
		return nil
	}
	return w.tls.Reload()
}

// Refused returns how many upgrade requests were refused with 503 because
// the accept queue was full.
func (w *WebSocket) Refused() int64 {
	return w.refused.Load()
}

// wsConn is an upgraded WebSocket connection seen as a byte stream.
//
// The library allows one reader and one writer at a time, and Close and
// control frames at any time. rmu and wmu serialise readers and writers and
// are held across the blocking read or write, as crypto/tls does; no other
// lock is ever taken under them.
type wsConn struct {
	ws  *websocket.Conn
	nc  net.Conn  // the TCP or TLS connection under ws
	tls *tls.Conn // nc for wss, else nil

	// rmu guards r and rerr.
	rmu sync.Mutex
	r   io.Reader // the message being read, nil between messages
	// rerr is the first read error. The library's read errors are permanent
	// and it panics after many reads of a failed connection, so every later
	// Read returns rerr without calling it.
	rerr error

	// wmu serialises Write.
	wmu sync.Mutex
	// wdeadline is the write deadline in Unix nanoseconds, 0 for none. It
	// is atomic because SetWriteDeadline must not wait for a blocked Write.
	wdeadline atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

func newWSConn(ws *websocket.Conn, readLimit int64) *wsConn {
	if readLimit > 0 {
		ws.SetReadLimit(readLimit)
	}
	c := &wsConn{ws: ws, nc: ws.NetConn()}
	c.tls, _ = c.nc.(*tls.Conn)
	return c
}

// Read reads the payload of binary messages as one stream: a Read may end
// at a message boundary or inside a message, and it never returns 0 bytes
// without an error. It returns io.EOF when the client closed the
// connection, and an error satisfying errors.Is(err,
// os.ErrDeadlineExceeded) when the read deadline passed.
func (c *wsConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for c.rerr == nil {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				c.rerr = c.readError(err)
				break
			}
			if typ != websocket.BinaryMessage {
				// [MQTT-6.0.0-1] A text message closes the connection.
				c.rerr = c.opError("read", ErrNotBinary)
				c.closeWith(websocket.CloseUnsupportedData, "mqtt: binary messages only")
				break
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			err = nil
		}
		if err != nil {
			c.rerr = c.readError(err)
			if n > 0 {
				return n, nil
			}
			break
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, c.rerr
}

// readError turns the library's read error into the one a net.Conn gives.
func (c *wsConn) readError(err error) error {
	// A close frame, or the connection closing without one, ends the
	// stream as a TCP FIN does.
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway,
		websocket.CloseNoStatusReceived, websocket.CloseAbnormalClosure) {
		return io.EOF
	}
	return c.opError("read", err)
}

// opError wraps err as net.Conn errors are wrapped. The library hides
// os.ErrDeadlineExceeded behind its own timeout error; it is put back.
func (c *wsConn) opError(op string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = os.ErrDeadlineExceeded
	}
	return &net.OpError{Op: op, Net: "websocket", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
}

// Write sends p as one binary message.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var d time.Time
	if ns := c.wdeadline.Load(); ns != 0 {
		d = time.Unix(0, ns)
	}
	c.ws.SetWriteDeadline(d)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, c.opError("write", err)
	}
	return len(p), nil
}

// Close sends a close frame with code 1000 and closes the connection.
func (c *wsConn) Close() error {
	return c.closeWith(websocket.CloseNormalClosure, "")
}

func (c *wsConn) closeWith(code int, text string) error {
	closed := false
	c.closeOnce.Do(func() {
		closed = true
		// Best effort: the client may be gone or not reading.
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text),
			time.Now().Add(closeFrameTimeout))
		if err := c.ws.Close(); err != nil {
			c.closeErr = c.opError("close", err)
		}
	})
	if !closed {
		return c.opError("close", net.ErrClosed)
	}
	return c.closeErr
}

// LocalAddr returns the local address of the TCP connection.
func (c *wsConn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the address of the HTTP peer. Forwarding headers are
// not trusted.
func (c *wsConn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// NetConn returns the connection the WebSocket runs on (TLS for wss).
func (c *wsConn) NetConn() net.Conn { return c.nc }

// SetDeadline sets the read and write deadlines.
func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

// SetReadDeadline sets the read deadline on the connection under the
// WebSocket, which also ends a Read in progress when t is in the past.
func (c *wsConn) SetReadDeadline(t time.Time) error {
	if err := c.nc.SetReadDeadline(t); err != nil {
		return c.opError("set deadline", err)
	}
	return nil
}

// SetWriteDeadline sets the deadline of the next Writes and of a Write in
// progress.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	var ns int64
	switch {
	case t.IsZero():
	case t.After(maxDeadline):
		ns = maxDeadline.UnixNano()
	default:
		ns = t.UnixNano()
	}
	c.wdeadline.Store(ns)
	if err := c.nc.SetWriteDeadline(t); err != nil {
		return c.opError("set deadline", err)
	}
	return nil
}
