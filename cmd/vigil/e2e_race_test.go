//go:build race

package main

// raceEnabled: the tests run with -race, so the e2e tests build Vigil with
// -race too.
const raceEnabled = true
