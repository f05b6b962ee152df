package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// auditFile is the destination of the audit log: a file opened for
// appending, which Reopen opens again by name so that a rotated file is let
// go, or a writer such as stderr, which Reopen leaves alone.
type auditFile struct {
	path   string
	logger *slog.Logger

	mu sync.Mutex
	w  io.Writer
	f  *os.File // nil when w is not a file of ours
}

// openAudit opens the audit log that path names: "" for none (Logger
// returns nil), "-" for stderr, or a file.
func openAudit(path string, stderr io.Writer) (*auditFile, error) {
	a := &auditFile{path: path}
	switch path {
	case "":
		return a, nil
	case "-":
		a.w = stderr
	default:
		f, err := openAppend(path)
		if err != nil {
			return nil, err
		}
		a.w, a.f = f, f
	}
	a.logger = slog.New(slog.NewJSONHandler(a, nil))
	return a, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit_log: %w", err)
	}
	return f, nil
}

// Logger returns the audit logger, nil without an audit log.
func (a *auditFile) Logger() *slog.Logger { return a.logger }

// Write writes one record.
func (a *auditFile) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.w.Write(p)
}

// Reopen opens the audit file again by its name. On failure the open file
// stays in use.
func (a *auditFile) Reopen() error {
	if a.path == "" || a.path == "-" {
		return nil
	}
	// The file is made under the lock: a line written once the new file
	// exists goes to it, not to the old one.
	a.mu.Lock()
	f, err := openAppend(a.path)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	old := a.f
	if old == nil { // closed meanwhile
		a.mu.Unlock()
		return f.Close()
	}
	a.w, a.f = f, f
	a.mu.Unlock()
	return old.Close()
}

// Close closes the audit file, if it is one.
func (a *auditFile) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.w, a.f = io.Discard, nil
	return err
}
