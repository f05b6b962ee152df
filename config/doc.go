// Package config reads midge.toml, the configuration file of the Midge
// broker.
//
// A file is TOML and is decoded strictly: a key that Config does not have is
// an error, as is a value of the wrong type. Every key is optional and keeps
// its default (see Defaults and DefaultsFile) when absent. Parse and Load
// report each problem as an *Error that names the file, the line and the
// key, like
//
//	midge.toml:7: unknown key "max_inflite"
//	midge.toml:3: key "max_packet_size": invalid size "1XB": ...
//
// Key names follow Mosquitto's where the concept is the same
// (max_inflight_messages, max_queued_messages). Sizes are strings with a unit
// ("1MiB") and durations strings like "10s".
//
// The package does not import the broker: cmd/midge maps a Config onto
// broker.Options.
//
// # Caveats
//
//   - max_queued_messages = 0 is accepted, but broker.Options treats 0 as
//     "use the default", so the broker then queues up to 1000 messages per
//     session; there is no way yet to turn queueing off.
//   - Line numbers come from a second, position-recording pass over the file
//     with go-toml's unstable parser API, pinned by go.mod.
package config
