package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/midgemq/midge/config"
)

// runArgs calls run with args and returns its exit code and outputs.
func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeFile writes content to name in a new temporary directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	good := writeFile(t, "good.toml", "log_level = \"debug\"\n[[listener]]\naddress = \"127.0.0.1:1883\"\n")
	bad := writeFile(t, "bad.toml", "# comment\nlog_level = \"debug\"\nmax_inflite = 3\n")
	badValues := writeFile(t, "values.toml", "max_connections = 0\n\nlog_format = \"xml\"\n")

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string   // exact, when not empty
		stdoutHas  []string // substrings of stdout
		stderrHas  []string // substrings of stderr
		stderrNone bool     // stderr must be empty
	}{
		{
			name:       "version",
			args:       []string{"version"},
			code:       exitOK,
			stdout:     "midge devel " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
			stderrNone: true,
		},
		{
			name:      "version with an argument",
			args:      []string{"version", "x"},
			code:      exitUsage,
			stderrHas: []string{"no arguments"},
		},
		{
			name:       "config defaults",
			args:       []string{"config", "defaults"},
			code:       exitOK,
			stdout:     config.DefaultsFile(),
			stderrNone: true,
		},
		{
			name:       "config check good file",
			args:       []string{"config", "check", good},
			code:       exitOK,
			stdout:     good + ": ok\n",
			stderrNone: true,
		},
		{
			name:      "config check bad file",
			args:      []string{"config", "check", bad},
			code:      exitError,
			stderrHas: []string{"midge: " + bad + `:3: unknown key "max_inflite"`},
		},
		{
			name: "config check bad values",
			args: []string{"config", "check", badValues},
			code: exitError,
			stderrHas: []string{
				"midge: " + badValues + `:1: key "max_connections"`,
				"\nmidge: " + badValues + `:3: key "log_format": unknown format "xml"`,
			},
		},
		{
			name:      "config check good and bad files",
			args:      []string{"config", "check", good, bad},
			code:      exitError,
			stdout:    good + ": ok\n",
			stderrHas: []string{bad + ":3:"},
		},
		{
			name:      "config check missing file",
			args:      []string{"config", "check", filepath.Join(t.TempDir(), "none.toml")},
			code:      exitError,
			stderrHas: []string{"none.toml", "no such file"},
		},
		{
			name:      "config check without a file",
			args:      []string{"config", "check"},
			code:      exitUsage,
			stderrHas: []string{"Usage: midge config check"},
		},
		{
			name:      "config without subcommand",
			args:      []string{"config"},
			code:      exitUsage,
			stderrHas: []string{"needs a subcommand"},
		},
		{
			name:      "config unknown subcommand",
			args:      []string{"config", "frobnicate"},
			code:      exitUsage,
			stderrHas: []string{`unknown config subcommand "frobnicate"`},
		},
		{
			name:       "help",
			args:       []string{"help"},
			code:       exitOK,
			stdoutHas:  []string{"midge config check FILE", "midge version", "midge [serve]"},
			stderrNone: true,
		},
		{
			name:      "-h",
			args:      []string{"-h"},
			code:      exitOK,
			stdoutHas: []string{"Usage:"},
		},
		{
			name:      "unknown command",
			args:      []string{"frobnicate"},
			code:      exitUsage,
			stderrHas: []string{`midge: unknown command "frobnicate"`, "Usage:"},
		},
		{
			name:      "bad flag",
			args:      []string{"serve", "--bogus"},
			code:      exitUsage,
			stderrHas: []string{"flag provided but not defined: -bogus", "Usage: midge serve"},
		},
		{
			name:      "bad flag without serve",
			args:      []string{"--bogus"},
			code:      exitUsage,
			stderrHas: []string{"-bogus"},
		},
		{
			name:      "serve with an argument",
			args:      []string{"serve", "extra"},
			code:      exitUsage,
			stderrHas: []string{"serve takes no arguments"},
		},
		{
			name:      "serve -h",
			args:      []string{"serve", "-h"},
			code:      exitOK,
			stderrHas: []string{"-listen ADDR", "-config FILE", "-data DIR", "-log-level LEVEL", "-log-format FORMAT"},
		},
		{
			name:      "serve with a bad config file",
			args:      []string{"serve", "--config", bad},
			code:      exitError,
			stderrHas: []string{"midge: " + bad + `:3: unknown key "max_inflite"`},
		},
		{
			name:      "serve with a missing config file",
			args:      []string{"serve", "--config", filepath.Join(t.TempDir(), "none.toml")},
			code:      exitError,
			stderrHas: []string{"midge: config: read", "none.toml"},
		},
		{
			name:      "serve with a bad log level flag",
			args:      []string{"serve", "--log-level", "loud"},
			code:      exitError,
			stderrHas: []string{`midge: invalid flag --log-level: unknown level "loud"`},
		},
		{
			name:      "serve with a bad listen flag",
			args:      []string{"serve", "--listen", "1883", "--log-format", "xml"},
			code:      exitError,
			stderrHas: []string{"midge: invalid flag --log-format", "\nmidge: invalid flag --listen: want host:port"},
		},
		{
			name:      "serve with an empty data flag",
			args:      []string{"--data", ""},
			code:      exitError,
			stderrHas: []string{"midge: invalid flag --data: must not be empty"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if tc.stdout != "" && stdout != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tc.stdout)
			}
			for _, s := range tc.stdoutHas {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, stderr)
				}
			}
			if tc.stderrNone && stderr != "" {
				t.Errorf("stderr is not empty:\n%s", stderr)
			}
		})
	}
}

// TestServeListenFailure checks that a listener that cannot listen stops
// serve with an error naming it, and releases the data directory.
func TestServeListenFailure(t *testing.T) {
	dir := t.TempDir()
	// The second listener's address is taken, which only listening finds.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := writeFile(t, "two.toml", `[[listener]]
name = "good"
address = "127.0.0.1:0"
[[listener]]
name = "broken"
address = "`+taken.Addr().String()+`"
`)
	var stderr bytes.Buffer
	code := serve(context.Background(), []string{"--config", cfg, "--data", dir, "--log-level", "error"}, &stderr)
	if code != exitError {
		t.Errorf("exit code %d, want %d", code, exitError)
	}
	if want := `midge: listener "broken": listen tcp`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
	}
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("data directory still locked after serve returned: %v", err)
	}
	unlock()
}

// TestServeInProcess starts serve in this process and stops it through its
// context, checking the logs of a start and a clean stop.
func TestServeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(t.TempDir(), "nested", "data")
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, []string{"--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json"}, stderr)
	}()
	waitFor(t, func() bool { return strings.Contains(stderr.String(), `"msg":"midge started"`) })
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); err != nil {
		t.Errorf("no LOCK file in the data directory: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit code %d, want 0\n%s", code, stderr.String())
		}
	case <-timeout(t, 15):
		t.Fatalf("serve did not return after cancel\n%s", stderr.String())
	}
	for _, want := range []string{`"addresses":["127.0.0.1:`, `"version":"devel"`, `"msg":"midge stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("logs do not contain %s:\n%s", want, stderr.String())
		}
	}
}

// TestFlagsOverrideConfigFile sets data_dir, log_level, log_format and the
// listener's address in a file and the same settings by flag: the flags win.
func TestFlagsOverrideConfigFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fileDir, flagDir := t.TempDir(), t.TempDir()
	cfg := writeFile(t, "midge.toml", fmt.Sprintf(`data_dir = %q
log_level = "error"
log_format = "text"
[[listener]]
address = "127.0.0.1:1"
`, fileDir))
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, []string{"--config", cfg, "--listen", "127.0.0.1:0", "--data", flagDir,
			"--log-level", "info", "--log-format", "json"}, stderr)
	}()
	// The start line is at info level and in JSON: both flags won.
	waitFor(t, func() bool { return strings.Contains(stderr.String(), `"msg":"midge started"`) })
	if _, err := os.Stat(filepath.Join(flagDir, "LOCK")); err != nil {
		t.Errorf("no LOCK file in the --data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fileDir, "LOCK")); err == nil {
		t.Errorf("the file's data_dir was used")
	}
	if strings.Contains(stderr.String(), "127.0.0.1:1\"") {
		t.Errorf("the file's listener address was used:\n%s", stderr.String())
	}
	cancel()
	select {
	case <-done:
	case <-timeout(t, 15):
		t.Fatalf("serve did not return after cancel\n%s", stderr.String())
	}
}
