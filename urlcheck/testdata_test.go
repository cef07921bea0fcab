package urlcheck

import (
	"testing"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

// sharedTestdata finds ../shared/testdata/<name>, or skips.
func sharedTestdata(t testing.TB, name string) string { return sharedtest.Dir(t, name) }
