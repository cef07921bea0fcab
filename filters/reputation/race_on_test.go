//go:build race

package reputation

// raceEnabled: the race detector slows the corpus evaluation ~4x; it is a
// single-goroutine measurement, so it runs only without -race.
const raceEnabled = true
