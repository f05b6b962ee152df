package packet

import "testing"

func TestConnackVectors(t *testing.T) { runVectors(t, "connack.txt") }
