//go:build !race

package bayes

const raceEnabled = false
