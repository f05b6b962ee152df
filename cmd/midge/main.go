// Command midge is the Midge MQTT broker.
//
// Usage:
//
//	midge [serve] [flags]     run the broker (the default command)
//	midge config defaults     print the complete default configuration file
//	midge config check FILE   check a configuration file
//	midge passwd FILE USER    add a user or change its password (-D deletes)
//	midge bench SCENARIO      load a broker and report what it sustained
//	midge version             print the version
//	midge help                print the usage
//
// Run "midge serve -h" for the flags of serve, and "midge bench -h" for the
// scenarios and flags of bench.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// version is the version of this build, set with
// -ldflags "-X main.version=v1.2.3".
var version = "devel"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usage = `Midge is an MQTT broker.

Usage:
  midge [serve] [flags]     run the broker (the default command)
  midge config defaults     print the complete default configuration file
  midge config check FILE   check a configuration file
  midge passwd FILE USER    add a user or change its password (-D deletes)
  midge bench SCENARIO      load a broker and report what it sustained
  midge version             print the version
  midge help                print this help

Run "midge serve -h" for the flags of serve, and "midge bench -h" for the
scenarios and flags of bench.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the process's exit code. It
// writes results to stdout and diagnostics to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return serve(context.Background(), nil, stderr)
	}
	switch cmd := args[0]; {
	case cmd == "serve":
		return serve(context.Background(), args[1:], stderr)
	case cmd == "version":
		return runVersion(args[1:], stdout, stderr)
	case cmd == "config":
		return runConfig(args[1:], stdout, stderr)
	case cmd == "passwd":
		return runPasswd(args[1:], stdin, stdout, stderr)
	case cmd == "bench":
		return runBench(args[1:], stdout, stderr)
	case cmd == "help" || cmd == "-h" || cmd == "-help" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case strings.HasPrefix(cmd, "-"):
		// Flags without a command are flags of serve.
		return serve(context.Background(), args, stderr)
	default:
		fmt.Fprintf(stderr, "midge: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// runVersion prints the version, the Go version and the platform.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "midge: version takes no arguments\n")
		return exitUsage
	}
	fmt.Fprintf(stdout, "midge %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// printErr writes err to stderr, one "midge: " line per error that it
// joins, so that each configuration problem gets its own line.
func printErr(stderr io.Writer, err error) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		fmt.Fprintf(stderr, "midge: %v\n", e)
	}
}
