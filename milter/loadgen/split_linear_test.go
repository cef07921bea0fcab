package loadgen

import (
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters/lineartest"
)

// FuzzSplitMessageLinear: the load generator's header splitter allocates a
// bounded number of bytes per input byte for a field folded over many lines,
// a long line, many fields: it grew a folded value by concatenation per
// line before (quadratic).
func FuzzSplitMessageLinear(f *testing.F) {
	f.Add("user@example.test,")
	f.Add("x")
	f.Fuzz(func(t *testing.T, unit string) {
		unit = strings.NewReplacer("\r", "", "\n", "", ":", "").Replace(unit)
		if unit == "" || len(unit) > 64 {
			return
		}
		reps := 32<<10/(len(unit)+4) + 1
		shapes := map[string]lineartest.Input{
			"folded field": func(n int) []byte { return []byte("To: x\r\n" + strings.Repeat(" "+unit+"\r\n", n) + "\r\nbody\r\n") },
			"long line":    func(n int) []byte { return []byte("To: " + strings.Repeat(unit, n) + "\r\n\r\nbody\r\n") },
			"many fields":  func(n int) []byte { return []byte(strings.Repeat("X-F: "+unit+"\r\n", n) + "\r\nbody\r\n") },
		}
		for name, build := range shapes {
			lineartest.Check(t, name, build, reps, 64, func(b []byte) { _, _, _ = splitMessage(b) })
		}
	})
}
