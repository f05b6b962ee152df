package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/config"
	"github.com/midgemq/midge/web"
)

// serveHTTP starts the HTTP server of metrics, health checks and the admin
// API when c asks for one, and returns the function that stops it. The
// admin API reloads the configuration and changes the log level through
// rl.
func serveHTTP(c *config.Config, srv *broker.Server, m *web.Metrics, ready func() bool, rl *reloader,
	logger *slog.Logger) (stop func(), err error) {
	if c.HTTPListen == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", c.HTTPListen)
	if err != nil {
		return nil, fmt.Errorf("http_listen: %w", err)
	}
	log := logger.With("component", "http")
	if c.AdminToken != "" {
		if host, _, _ := net.SplitHostPort(c.HTTPListen); !isLoopback(host) {
			log.Warn("the admin API listens beyond loopback without TLS", "address", c.HTTPListen)
		}
	}
	h := web.New(srv, web.Options{Token: c.AdminToken, Logger: log, Version: version, Ready: ready, Metrics: m,
		LogLevel: rl.level, Reload: rl.reload})
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	log.Info("HTTP server started", "address", l.Addr().String(), "admin_api", c.AdminToken != "")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-done
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
