package memory_test

import (
	"testing"

	"github.com/midgemq/midge/store"
	"github.com/midgemq/midge/store/memory"
	"github.com/midgemq/midge/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memory.New() },
		// A memory store outlives Close within the process.
		func(_ *testing.T, s store.Store) store.Store { s.Close(); return s })
}
