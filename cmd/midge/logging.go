package main

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger returns a logger that writes to w at level ("debug", "info",
// "warn" or "error") in format ("text" or "json"), the values that
// config.Validate accepts.
// The level can change while the logger runs, through the returned
// LevelVar.
func newLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := setLevel(lv, level); err != nil {
		return nil, nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	}
	return nil, nil, fmt.Errorf("unknown log format %q", format)
}

// setLevel sets lv to the level named level.
func setLevel(lv *slog.LevelVar, level string) error {
	switch level {
	case "debug":
		lv.Set(slog.LevelDebug)
	case "info":
		lv.Set(slog.LevelInfo)
	case "warn":
		lv.Set(slog.LevelWarn)
	case "error":
		lv.Set(slog.LevelError)
	default:
		return fmt.Errorf("unknown log level %q", level)
	}
	return nil
}
