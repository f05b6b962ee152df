package pebble

import (
	"context"
	"fmt"
	"log/slog"

	pdb "github.com/cockroachdb/pebble/v2"
)

// logger routes Pebble's own logging to a slog.Logger. Pebble formats its
// messages printf-style; they go in the "detail" attribute under a constant
// message, so that log processing can select them by message.
type logger struct {
	l *slog.Logger
}

var _ pdb.Logger = logger{}

// Infof logs at Debug level: Pebble reports routine events (WAL replay,
// flushes, compactions) through it, which a broker operator does not need.
func (lg logger) Infof(format string, args ...any) {
	lg.log(slog.LevelDebug, format, args)
}

// Errorf logs at Error level.
func (lg logger) Errorf(format string, args ...any) {
	lg.log(slog.LevelError, format, args)
}

// Fatalf logs at Error level, then panics: Pebble calls it on a state it
// cannot continue from, and requires that it does not return.
func (lg logger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	lg.l.Error("pebble fatal error", "detail", msg)
	panic("pebble store: fatal: " + msg)
}

func (lg logger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !lg.l.Enabled(ctx, level) {
		return
	}
	lg.l.Log(ctx, level, "pebble", "detail", fmt.Sprintf(format, args...))
}
