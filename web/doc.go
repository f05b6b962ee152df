// Package web is Midge's HTTP face: Prometheus metrics, health checks and
// the admin API of a running broker.Server.
//
// # Wiring
//
// A broker.Server takes its authenticator when it is created, and the
// Handler needs the Server, so the Metrics that counts authentication
// failures comes first:
//
//	m := web.NewMetrics()
//	srv, err := broker.New(broker.Options{
//		Authenticator: m.WrapAuthenticator(auth), // optional: counts auth failures
//	})
//	...
//	h := web.New(srv, web.Options{Metrics: m, Token: token, Version: version})
//	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
//	go hs.Serve(httpListener)
//
// # Endpoints
//
//   - GET /metrics: Prometheus text exposition from a registry private to
//     the Handler: the Server's Stats and Latency read at scrape time, the
//     counters of Metrics, and the Go runtime and process collectors.
//   - GET /healthz: 200 while the process serves HTTP.
//   - GET /readyz: 200 when Options.Ready reports true, 503 otherwise.
//   - /api/v1/...: the admin API (JSON), described in docs/openapi.yaml.
//     Every request needs "Authorization: Bearer <Options.Token>"; with an
//     empty Token the whole API answers 404. Besides reading the broker's
//     state it changes it: GET and PUT /api/v1/limits show and change the
//     limits of broker.Server.SetLimits (and Options.LogLevel), and POST
//     /api/v1/reload calls Options.Reload.
//
// # Caveats
//
//   - The figures come from counters the broker keeps anyway, read at
//     scrape time; /metrics adds no work to the handling of a connection
//     or a message.
//   - Messages published through the admin API go straight to the router:
//     they are counted by midge_admin_publishes_total, not by the broker's
//     received-message figures or midge_publishes_total.
//   - midge_inflight_messages, midge_queued_messages and
//     midge_queue_depth_max walk every session at each scrape, and
//     midge_store_size_bytes asks the store: a scrape costs more as sessions
//     grow, not the broker's hot path.
//   - The Handler sets no timeouts of its own: the http.Server that serves
//     it should set ReadHeaderTimeout and friends.
//   - A topic or client id in a URL path must be percent-encoded. A topic
//     with an empty level, a leading '/' or a "." or ".." level must encode
//     its slashes as %2F, or the path is cleaned and redirected.
package web
