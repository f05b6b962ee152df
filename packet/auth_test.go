package packet

import "testing"

func TestAuthVectors(t *testing.T) { runVectors(t, "auth.txt") }
