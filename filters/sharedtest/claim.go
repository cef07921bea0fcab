package sharedtest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// reporter is the part of testing.TB a Claim uses (a fake in its tests).
type reporter interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
}

// Claim is a figure that a README of this repository states, checked by
// the test that measures it. Each call logs one "figure:" line, which
// test.sh collects into the table it prints at the end of a run, so a CI
// log shows every guarded figure next to what was measured.
//
// Text ties the guard to the README: it must occur in Doc (runs of
// whitespace compare equal), so a figure edited in the README without its
// guard, or in the guard without the README, fails the test.
type Claim struct {
	// Doc is the README's path from the repository root.
	Doc string
	// Text is the figure as Doc writes it, with enough context to be
	// unambiguous: "66.40%", "198 / 203".
	Text string
	// Value is the figure in the unit the test measures (66.40, 198).
	Value float64
}

// AtLeast fails tb when got is below the claim by more than slack: a floor
// within slack of the README (one case, or one percentage point).
func (c Claim) AtLeast(tb reporter, got, slack float64) {
	tb.Helper()
	c.check(tb, got, got >= c.Value-slack-1e-9, fmt.Sprintf("floor %s", num(c.Value-slack)))
}

// AtMost fails tb when got is above the claim by more than slack: a
// ceiling, for false positives and error counts.
func (c Claim) AtMost(tb reporter, got, slack float64) {
	tb.Helper()
	c.check(tb, got, got <= c.Value+slack+1e-9, fmt.Sprintf("ceiling %s", num(c.Value+slack)))
}

// Equal fails tb unless got is the claim: for deterministic counts, such
// as the entries of a conformance suite that pass, where any change (a
// regression, or a divergence that starts passing) must update the README.
func (c Claim) Equal(tb reporter, got float64) {
	tb.Helper()
	c.check(tb, got, math.Abs(got-c.Value) < 1e-9, "exact")
}

func (c Claim) check(tb reporter, got float64, ok bool, bound string) {
	tb.Helper()
	tb.Logf("figure: %s %q: measured %s, README %s, %s", c.Doc, c.Text, num(got), num(c.Value), bound)
	if !ok {
		tb.Errorf("%s claims %q (%s); measured %s, outside the guard (%s): fix the regression, or measure again and update the README and this claim together",
			c.Doc, c.Text, num(c.Value), num(got), bound)
	}
	if err := docContains(c.Doc, c.Text); err != nil {
		tb.Errorf("figure guard out of date: %v", err)
	}
}

func num(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", f), "0"), ".")
}

var (
	docMu    sync.Mutex
	docCache = map[string]string{}
)

// docContains reports an error unless the README at rel (from the
// repository root) contains text, comparing runs of whitespace as one
// space (READMEs wrap lines anywhere).
func docContains(rel, text string) error {
	docMu.Lock()
	defer docMu.Unlock()
	body, ok := docCache[rel]
	if !ok {
		root, err := repoRoot()
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		body = strings.Join(strings.Fields(string(raw)), " ")
		docCache[rel] = body
	}
	if !strings.Contains(body, strings.Join(strings.Fields(text), " ")) {
		return fmt.Errorf("%s no longer says %q", rel, text)
	}
	return nil
}

// repoRoot is the nearest directory above the working directory (a
// package directory under go test) that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("sharedtest: no go.mod above the working directory")
		}
		dir = parent
	}
}
