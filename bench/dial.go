package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/gorilla/websocket"
)

// dialer opens the transport connections of a run, taking the source addresses in turn.
type dialer struct {
	transport Transport
	host      string
	tls       *tls.Config // nil for tcp and ws
	url       string      // ws and wss
	nets      []*net.Dialer
	wss       []*websocket.Dialer
}

// newDialer prepares the dialers of c, one per source address, and reads c.CAFile.
func newDialer(c *Config) (*dialer, error) {
	d := &dialer{transport: c.Transport, host: c.Host}
	if c.Transport == TransportTLS || c.Transport == TransportWSS {
		host, _, _ := net.SplitHostPort(c.Host)
		d.tls = &tls.Config{ServerName: host, InsecureSkipVerify: c.InsecureSkipVerify}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("bench: read CA file: %w", err)
			}
			d.tls.RootCAs = x509.NewCertPool()
			if !d.tls.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("bench: CA file %s: no PEM certificate", c.CAFile)
			}
		}
	}
	if c.Transport == TransportWS || c.Transport == TransportWSS {
		scheme := "ws"
		if c.Transport == TransportWSS {
			scheme = "wss"
		}
		d.url = (&url.URL{Scheme: scheme, Host: c.Host, Path: c.WSPath}).String()
	}
	sources := len(c.Sources)
	if sources == 0 {
		sources = 1
	}
	for i := range sources {
		// No TCP keep-alive probes: MQTT's keep alive (PINGREQ) is the one that matters, and the probes' socket
		// options cost four system calls per connection.
		nd := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: -1}
		if len(c.Sources) > 0 {
			nd.LocalAddr = &net.TCPAddr{IP: c.Sources[i].AsSlice()}
			nd.Control = bindNoPort
		}
		d.nets = append(d.nets, nd)
		if d.url != "" {
			d.wss = append(d.wss, &websocket.Dialer{
				NetDialContext:   nd.DialContext,
				TLSClientConfig:  d.tls,
				HandshakeTimeout: c.ConnectTimeout,
				Subprotocols:     []string{"mqtt"},
			})
		}
	}
	return d, nil
}

// dial opens the transport of connection number i. The caller bounds it with ctx.
func (d *dialer) dial(ctx context.Context, i int) (net.Conn, error) {
	k := i % len(d.nets)
	switch d.transport {
	case TransportWS, TransportWSS:
		ws, resp, err := d.wss[k].DialContext(ctx, d.url, nil)
		if err != nil {
			if resp != nil {
				return nil, fmt.Errorf("websocket handshake with %s: %s: %w", d.url, resp.Status, err)
			}
			return nil, fmt.Errorf("websocket %s: %w", d.url, err)
		}
		if ws.Subprotocol() != "mqtt" {
			ws.Close()
			return nil, fmt.Errorf("websocket %s: the server did not accept the mqtt subprotocol", d.url)
		}
		return newWSConn(ws), nil
	}
	nc, err := d.nets[k].DialContext(ctx, "tcp", d.host)
	if err != nil {
		return nil, err
	}
	if d.tls == nil {
		return nc, nil
	}
	tc := tls.Client(nc, d.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", d.host, err)
	}
	return tc, nil
}

// source returns the source address connection number i uses, for messages, or "" for the system's choice.
func (d *dialer) source(i int) string {
	if la := d.nets[i%len(d.nets)].LocalAddr; la != nil {
		return la.(*net.TCPAddr).IP.String()
	}
	return ""
}
