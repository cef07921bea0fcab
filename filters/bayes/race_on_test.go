//go:build race

package bayes

// raceEnabled: the corpus measurement is single-threaded and ~5x slower
// under the race detector; it runs only without -race.
const raceEnabled = true
