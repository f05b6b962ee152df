package broker_test

import (
	"errors"
	"os"
)

var errNotYet = errors.New("not yet")

// isCI reports whether the tests run in CI, where every tool they need must
// be installed.
func isCI() bool { return os.Getenv("CI") != "" }
