package packet

import "testing"

func TestSubscribeVectors(t *testing.T) { runVectors(t, "subscribe.txt") }
