package broker

import (
	"net"
	"time"
)

// tcpProbe is the TCP keep-alive of a connection whose client asked for no
// MQTT keep-alive: a peer gone without a word is found within about two
// minutes instead of never.
var tcpProbe = net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 15 * time.Second, Count: 4}

// tcpKeepAlive turns on TCP keep-alive probes on the TCP connection under
// nc (TLS, WebSocket and PROXY connections are unwrapped). Listeners may
// leave them off for every connection (net.ListenConfig.KeepAlive < 0).
func tcpKeepAlive(nc net.Conn) {
	for range 4 {
		switch c := nc.(type) {
		case *net.TCPConn:
			c.SetKeepAliveConfig(tcpProbe)
			return
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return
		}
	}
}
