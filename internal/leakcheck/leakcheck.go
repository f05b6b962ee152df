// Package leakcheck fails a test binary whose goroutines outlive its tests:
// every goroutine Midge starts has an owner that must wait for it.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests of m and then, if they passed, waits up to five
// seconds for the goroutines running code of the given packages (import
// paths, such as "github.com/midgemq/midge/broker") to end; if some are
// left it prints their stacks and exits 1. Call it from TestMain.
func Main(m *testing.M, packages ...string) {
	code := m.Run()
	if code == 0 {
		if err := check(5*time.Second, packages); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func check(d time.Duration, packages []string) error {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "leakcheck.check") {
				continue
			}
			for _, p := range packages {
				if strings.Contains(g, p+".") {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked goroutines:\n%s", strings.Join(leaked, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
