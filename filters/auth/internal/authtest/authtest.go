// Package authtest holds test support shared by the authentication checks.
package authtest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestdataDir finds shared/testdata/<sub> by walking up from the working
// directory (the repository is a sibling of shared/ in development and CI),
// and skips the test when it is absent.
func TestdataDir(tb testing.TB, sub string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		for _, cand := range []string{
			filepath.Join(dir, "shared", "testdata", sub),
			filepath.Join(dir, "..", "shared", "testdata", sub),
		} {
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skipf("shared/testdata/%s not found above the package directory; skipping conformance suite", sub)
			return ""
		}
		dir = parent
	}
}
