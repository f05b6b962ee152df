// Package lint enforces the house rules that gofmt and go vet do not.
package lint

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var rules = []struct {
	name string
	re   *regexp.Regexp
	// allowed reports whether a file may break the rule.
	allowed func(path string) bool
}{
	{
		name:    "fmt.Print outside cmd/ (libraries log through slog)",
		re:      regexp.MustCompile(`\bfmt\.Print(f|ln)?\(`),
		allowed: func(p string) bool { return strings.HasPrefix(p, "cmd/") || strings.HasSuffix(p, "_test.go") },
	},
	{
		name:    "raw atomic function (use the typed atomics)",
		re:      regexp.MustCompile(`\batomic\.(Add|Load|Store|Swap|CompareAndSwap)(Int32|Int64|Uint32|Uint64|Uintptr|Pointer)\(`),
		allowed: func(string) bool { return false },
	},
	{
		name:    "error formatted with %v in fmt.Errorf (wrap with %w)",
		re:      regexp.MustCompile(`fmt\.Errorf\("[^"]*%v[^"]*",[^)]*\berr\b`),
		allowed: func(string) bool { return false },
	},
}

// TestHouseRules scans every Go file of the module for the rules above.
func TestHouseRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			for _, r := range rules {
				if r.re.MatchString(line) && !r.allowed(rel) && !strings.HasPrefix(rel, "internal/lint/") {
					t.Errorf("%s:%d: %s", rel, i+1, r.name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
