package packet

import "testing"

func TestDisconnectVectors(t *testing.T) { runVectors(t, "disconnect.txt") }
