package packet

import "testing"

func TestAckVectors(t *testing.T) { runVectors(t, "ack.txt") }
