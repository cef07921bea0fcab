package urlcheck

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedTestdata finds ../shared/testdata/<name> by walking up from the
// package directory (the repo clone and shared/ are siblings), or skips.
func sharedTestdata(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "testdata", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("shared/testdata/%s not found above the package directory", name)
		}
		dir = parent
	}
}
