//go:build race

package engine

// raceEnabled: the race detector makes learning the corpus several times
// slower; the corpus tests run only without -race.
const raceEnabled = true
