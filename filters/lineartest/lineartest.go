// Package lineartest checks that a parser's cost grows linearly with its
// input. It counts the bytes the parser allocates, not the time it takes:
// allocation is the same on a quiet and on a loaded machine, and the
// quadratic patterns it guards against (a string grown by += per folded
// header line, a buffer copied per line) show in it at once.
package lineartest

import (
	"runtime"
	"testing"
)

// AllocBytes returns the bytes allocated while f runs (in this process;
// keep other goroutines quiet meanwhile).
func AllocBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Input builds the input of one size: reps repetitions of the shape under
// test.
type Input func(reps int) []byte

// Check runs parse on the input built with reps and with 4*reps
// repetitions and fails t when the marginal cost, the extra bytes allocated
// per extra input byte, exceeds maxPerByte. A linear parser allocates a
// small constant per input byte whatever the size; a quadratic one
// allocates more per byte the larger the input, and at a few hundred KiB
// it exceeds any sensible constant by orders of magnitude. The fixed cost
// of one call (setup, maps, pools) cancels out in the difference.
func Check(t testing.TB, name string, build Input, reps int, maxPerByte float64, parse func([]byte)) {
	t.Helper()
	small, large := build(reps), build(4*reps)
	if len(large) <= len(small) {
		return // the shape does not grow with reps (the fuzzer's input was empty)
	}
	parse(small) // warm up: first-call allocations (pools, lazy tables)
	a := AllocBytes(func() { parse(small) })
	b := AllocBytes(func() { parse(large) })
	if b < a {
		return
	}
	per := float64(b-a) / float64(len(large)-len(small))
	if per > maxPerByte {
		t.Errorf("%s: %d input bytes allocate %d bytes, %d allocate %d: %.1f extra bytes per extra input byte, want at most %.0f (cost is not linear in size)",
			name, len(small), a, len(large), b, per, maxPerByte)
	}
}
