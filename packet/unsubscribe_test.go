package packet

import "testing"

func TestUnsubscribeVectors(t *testing.T) { runVectors(t, "unsubscribe.txt") }
