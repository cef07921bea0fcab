package sharedtest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// CI reports whether the tests run under continuous integration: the
// environment variable CI is "true" or "1", as CI services set it and as
// .ci/run sets it.
func CI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v == "true" || v == "1"
}

// Unavailable reports that something a test cannot run without is
// missing: a program (postfix, redis-server), a service that would not
// start, or a data set. Under CI it fails the test, because CI installs
// every dependency and a skip there would hide that the test never ran.
// Elsewhere it skips, with a message that starts with "MISSING" so the skip
// stands out in test.sh's summary.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		tb.Fatalf("MISSING under CI=true (a failure, not a skip): %s", msg)
	}
	tb.Skipf("MISSING: %s (under CI=true this fails)", msg)
}
