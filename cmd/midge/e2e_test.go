package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests run the midge binary, built once per test run into
// binDir by buildMidge.
var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// e2eVersion is the version the binary is built with, through -ldflags -X.
const e2eVersion = "v0.0.0-e2e"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "midge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildMidge builds the midge binary once and returns its path.
func buildMidge(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("the end-to-end tests use SIGTERM and flock")
	}
	buildOnce.Do(func() {
		// go test puts the go command of its GOROOT first in PATH.
		binPath = filepath.Join(binDir, "midge")
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+e2eVersion, "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running midge process.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // the result of Wait, once done is closed
}

// startMidge starts the binary with args and kills it when the test ends if
// it is still running.
func startMidge(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{
		cmd:    exec.Command(buildMidge(t), args...),
		stderr: &syncBuffer{},
		done:   make(chan struct{}),
	}
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start midge: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("midge (pid %d) did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	})
	return p
}

// wait waits up to seconds for the process to exit and returns its exit
// code.
func (p *proc) wait(t *testing.T, seconds int) int {
	t.Helper()
	select {
	case <-p.done:
	case <-timeout(t, seconds):
		t.Fatalf("midge did not exit within %ds\nstderr:\n%s", seconds, p.stderr.String())
	}
	var exitErr *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exitErr):
		return exitErr.ExitCode()
	}
	t.Fatalf("wait: %v", p.err)
	return -1
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago: the test passes it to midge, which cannot report a port it picked.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// dialMidge dials addr until the broker accepts, failing the test after 10s
// or when p exits.
func dialMidge(t *testing.T, p *proc, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	pause := 5 * time.Millisecond
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			t.Cleanup(func() { nc.Close() })
			return nc
		}
		select {
		case <-p.done:
			t.Fatalf("midge exited before accepting: %v\nstderr:\n%s", p.err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("midge did not accept on %s within 10s: %v\nstderr:\n%s", addr, err, p.stderr.String())
		}
		time.Sleep(pause)
		pause = min(2*pause, 200*time.Millisecond)
	}
}

func TestE2EServe(t *testing.T) {
	data := t.TempDir()
	addr := freeAddr(t)
	first := startMidge(t, "serve", "--listen", addr, "--data", data)
	nc := dialMidge(t, first, addr)

	// An MQTT 3.1.1 CONNECT: protocol "MQTT", level 4, clean session,
	// keep-alive 60s, empty client id.
	connect := []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00}
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(connect); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	// CONNACK: session present 0, return code 0 (accepted).
	want := []byte{0x20, 0x02, 0x00, 0x00}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatalf("read CONNACK: %v\nstderr:\n%s", err, first.stderr.String())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("CONNACK = % x, want % x", got, want)
	}

	// A second process on the same data directory must refuse to start.
	second := startMidge(t, "serve", "--listen", freeAddr(t), "--data", data)
	if code := second.wait(t, 15); code != exitError {
		t.Errorf("second midge exit code %d, want %d\nstderr:\n%s", code, exitError, second.stderr.String())
	}
	wantMsg := "midge: data directory " + data + " is in use by another midge process"
	if !strings.Contains(second.stderr.String(), wantMsg) {
		t.Errorf("second midge stderr does not contain %q:\n%s", wantMsg, second.stderr.String())
	}

	// SIGTERM stops the first one cleanly.
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code := first.wait(t, 15); code != exitOK {
		t.Errorf("midge exit code after SIGTERM %d, want 0\nstderr:\n%s", code, first.stderr.String())
	}
	logs := first.stderr.String()
	for _, want := range []string{
		"msg=\"midge started\"",
		"version=" + e2eVersion,
		addr,
		"msg=\"midge stopped\"",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not contain %q:\n%s", want, logs)
		}
	}
}

func TestE2EBadConfig(t *testing.T) {
	cfg := writeFile(t, "bad.toml", "# a bad file\nlog_level = \"info\"\nmax_inflight_messages = 0\n")
	p := startMidge(t, "serve", "--config", cfg, "--data", t.TempDir())
	if code := p.wait(t, 15); code != exitError {
		t.Errorf("exit code %d, want %d", code, exitError)
	}
	want := "midge: " + cfg + `:3: key "max_inflight_messages": 0 out of range 1..65535`
	if !strings.Contains(p.stderr.String(), want) {
		t.Errorf("stderr does not contain %q:\n%s", want, p.stderr.String())
	}
}

func TestE2EVersion(t *testing.T) {
	out, err := exec.Command(buildMidge(t), "version").Output()
	if err != nil {
		t.Fatalf("midge version: %v", err)
	}
	want := fmt.Sprintf("midge %s %s %s/%s\n", e2eVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if string(out) != want {
		t.Errorf("midge version = %q, want %q", out, want)
	}
}
