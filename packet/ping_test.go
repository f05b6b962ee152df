package packet

import "testing"

func TestPingVectors(t *testing.T) { runVectors(t, "ping.txt") }
