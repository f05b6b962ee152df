// Package bench is a load generator for MQTT brokers, in the manner of emqtt-bench: it opens many client
// connections, publishes and subscribes in a chosen pattern, and reports what the broker sustained: messages per
// second in and out, loss, duplicates, publish-to-delivery latency, and connect rate and latency.
//
// # Basics
//
// Run takes a Config and returns a Result once the run is over:
//
//	res, err := bench.Run(ctx, bench.Config{
//		Scenario:    bench.ScenarioFanIn,
//		Host:        "127.0.0.1:1883",
//		QoS:         1,
//		Publishers:  8,
//		Subscribers: 1,
//		Duration:    10 * time.Second,
//	})
//
// The zero Config is valid apart from its Scenario: Config.EnsureDefaults documents every default. A run ends on
// its own, when Config.Duration has passed or each publisher has sent Config.Count messages, or when ctx is
// canceled; every connection is closed before Run returns. Result marshals to JSON, and has text and Go benchmark
// renderings (WriteText, WriteGoBench), so benchstat can compare runs.
//
// # Scenarios
//
//   - conn: open Connections connections at ConnectRate and hold them for Duration.
//   - pub: Publishers publishers, each to TOPIC/n. No subscribers.
//   - sub: Subscribers subscribers of TOPIC/#, fed by another process (a "pub" run, say).
//   - fanin: Publishers publishers, each to its own topic TOPIC/fanin/n, all delivered to Subscribers subscribers
//     of the wildcard filter TOPIC/fanin/+.
//   - fanout: Publishers publishers of one topic TOPIC/fanout, delivered to each of Subscribers subscribers.
//   - p2p: Publishers pairs of one publisher and one subscriber, each pair with its own topic TOPIC/p2p/n.
//   - shared: Publishers publishers, each to TOPIC/shared/n, delivered to one member of the shared subscription
//     $share/GROUP/TOPIC/shared/+ that Subscribers subscribers hold.
//   - backlog: Subscribers persistent subscribers subscribe and go offline; Publishers publishers send Count
//     messages each, which the broker queues; the subscribers come back and the time to receive every queued
//     message is the drain time.
//   - spread: Subscribers subscribers, each of its own wildcard filter TOPIC/spread/n/+, fed by Publishers
//     publishers that take the subscribers' topics TOPIC/spread/n/p in turn, so that each message matches
//     exactly one subscriber: routing through a large index of wildcard subscriptions.
//
// # Measuring
//
// Every payload starts with 16 bytes: the send time (Unix nanoseconds), the publisher's number and the message's
// sequence number, each big-endian. Subscribers take the latency from the first and count loss and duplicates from
// the other two, per publisher, so nothing is looked up or allocated per message once the run is going.
//
// Without Rate, publishers send as fast as the broker takes messages: QoS 0 publishers are held back by TCP only,
// QoS 1 and 2 publishers by their window of Inflight unacknowledged messages. With Owed set the run is closed-loop:
// every publisher pauses while more than Owed deliveries are still owed to subscribers, so the figures are those
// the broker sustains without its queues growing. With Rate set the run is open-loop: each publisher sends on a
// fixed schedule and the latency is measured from the scheduled time, not the actual send time, so a broker that
// falls behind cannot hide its delay by slowing the publishers down.
//
// # Caveats
//
//   - The client runs on the same machine as the broker under test and takes CPU from it. It is written to cost
//     little (batched writes, no allocation per message; over tcp on Linux, a few epoll loops read every connection,
//     Config.ReadLoops, where other transports have a reading goroutine per connection), but the figures describe
//     the broker and the client together.
//   - Targets outside loopback (127.0.0.0/8, ::1, localhost) are refused unless Config.AllowRemote is set: a load
//     generator pointed at the wrong address is an attack.
//   - Latency needs publisher and subscriber clocks to agree: in one run they share a clock; a "sub" run fed by
//     another process relies on the system clock. Messages whose payload does not carry a plausible time are
//     counted but give no latency.
//   - At QoS 0 a broker may drop messages by design; loss is reported, not treated as an error. When QoS 0 loss keeps
//     a closed-loop run owed more than Owed deliveries for IdleTimeout, the owed count is written off and counted in
//     Result.OwedStalls, so the run carries on.
//   - Each source address gives at most about 28,000 connections to one broker address (the ephemeral port range);
//     use several (Config.Sources) for more.
package bench
