package pebble

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	lg := logger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	lg.Infof("replayed %d logs", 2)
	lg.Errorf("background error: %s", "disk full")
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(r.(string), "manifest gone") {
				t.Errorf("Fatalf did not panic with its message: %v", r)
			}
		}()
		lg.Fatalf("fatal: %s", "manifest gone")
	}()
	want := []string{
		`level=DEBUG msg=pebble detail="replayed 2 logs"`,
		`level=ERROR msg=pebble detail="background error: disk full"`,
		`level=ERROR msg="pebble fatal error" detail="fatal: manifest gone"`,
	}
	for _, w := range want {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, buf.String())
		}
	}
}
