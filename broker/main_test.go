package broker_test

import (
	"testing"

	"github.com/midgemq/midge/internal/leakcheck"
)

// TestMain fails the package when broker goroutines outlive the tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m, "github.com/midgemq/midge/broker")
}
