package sharedtest

import (
	"strings"
	"testing"
)

// TestCorpusArchive reads the whole corpus archive (a corpus test: it
// runs in test.sh's pass without -race).
func TestCorpusArchive(t *testing.T) {
	msgs := SpamAssassin(t)
	groups := map[string]int{}
	for _, m := range msgs {
		groups[m.Group]++
		if m.Spam != strings.HasPrefix(m.Group, "spam") || len(m.Raw) == 0 {
			t.Fatalf("%s: spam=%v, %d bytes", m.Name, m.Spam, len(m.Raw))
		}
	}
	// Counts from the corpus README.
	want := map[string]int{"easy_ham": 2500, "easy_ham_2": 1400, "hard_ham": 250, "spam": 500, "spam_2": 1396}
	for g, n := range want {
		if groups[g] != n {
			t.Errorf("%s: %d messages, want %d", g, groups[g], n)
		}
	}
}
