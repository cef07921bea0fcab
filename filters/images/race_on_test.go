//go:build race

package images

// raceEnabled: the race detector slows the measurement several times; it
// is single-goroutine, so under -race it runs on a few pictures only.
const raceEnabled = true
