package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/phishing"
	"github.com/vigilmail/vigil/filters/sharedtest"
)

// phishingArtefacts are the symbols the anonymisation of the Phishing
// Pot corpus produces whatever the mail: the honeypot's address was
// replaced by "phishing@pot" in signed header fields and bodies, which
// breaks every DKIM signature and ARC seal over them, and the signers'
// keys are gone (the resolver answers NXDOMAIN, so no signature can be
// verified at all, the intact ones included). The corpus runs score
// them 0 through `scores:`, as the configuration lets any operator do;
// phishingCorpus reports the rates with their default scores as well.
var phishingArtefacts = map[string]float64{"DKIM_PERMERROR": 0, "DKIM_FAIL": 0, "ARC_FAIL": 0}

// corpusTallies are the verdicts on one corpus, with the symbols that
// fired.
type corpusTallies struct {
	n, flagged int
	// byPhishing counts the messages flagged that would not have been
	// without the phishing check's symbols.
	byPhishing int
	// errors counts messages with a <CHECK>_ERROR symbol or a tempfail.
	errors  int
	errored []string
	hits    map[string]int
}

// runCorpus judges every message of one corpus with rt.
func runCorpus(tb testing.TB, c config.Config, rt *runtime, raws [][]byte, names []string, rcpts []string) *corpusTallies {
	t := &corpusTallies{hits: map[string]int{}}
	policy := c.FiltersPolicy()
	for i, raw := range raws {
		m, err := filters.ParseMessageWith(bytes.NewReader(raw), c.MessageLimits())
		if err != nil {
			tb.Fatalf("%s: %v", names[i], err)
		}
		m.Envelope.ClientIP = mustAddr("203.0.113.9")
		m.Envelope.Rcpts = rcpts
		v := rt.engine.Judge(context.Background(), m)
		t.n++
		flagged := v.Action == filters.Tag || v.Action == filters.Quarantine || v.Action == filters.Reject
		if flagged {
			t.flagged++
		}
		seen := map[string]bool{}
		var rest []filters.Symbol
		bad := v.Action == filters.TempFail
		for _, s := range v.Symbols {
			if !seen[s.Name] {
				seen[s.Name] = true
				t.hits[s.Name]++
			}
			if strings.HasSuffix(s.Name, "_ERROR") {
				bad = true
			}
			if !strings.HasPrefix(s.Name, "PHISH_") {
				rest = append(rest, s)
			}
		}
		if bad {
			t.errors++
			t.errored = append(t.errored, names[i])
		}
		if flagged {
			if w := filters.Decide(rest, policy); w.Action == filters.Accept {
				t.byPhishing++
			}
		}
	}
	return t
}

func (t *corpusTallies) rate() float64 { return 100 * float64(t.flagged) / float64(max(1, t.n)) }

// phishingCorpus judges the Phishing Pot development corpus and the
// SpamAssassin ham with a loopback resolver that answers NXDOMAIN to
// every name, nothing learned and the given score overrides. It returns
// the phishing tally and one per ham folder.
func phishingCorpus(tb testing.TB, scores map[string]float64) (*corpusTallies, map[string]*corpusTallies) {
	dns := dnstest.NewServer(tb, "")
	var ov []string
	for k, v := range scores {
		ov = append(ov, fmt.Sprintf("%s: %g", k, v))
	}
	sort.Strings(ov)
	yaml := fmt.Sprintf("dns: {servers: [%q], timeout: 300ms}\nreputation: {path: %s}\nscores: {%s}\n", dns.Addr(), memTempDir(tb), strings.Join(ov, ", "))
	c, err := config.Parse(strings.NewReader(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	rt, _, done, err := openRuntime(c, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	if err != nil {
		tb.Fatal(err)
	}
	defer done()
	var raws [][]byte
	var names []string
	for _, m := range sharedtest.PhishingPot(tb) {
		raws, names = append(raws, m.Raw), append(names, m.Name)
	}
	// The corpus' anonymisation put phishing@pot where the honeypot's
	// address was: that is the recipient.
	phish := runCorpus(tb, c, rt, raws, names, []string{"phishing@pot"})
	groups := map[string][][]byte{}
	gnames := map[string][]string{}
	for _, m := range sharedtest.SpamAssassin(tb) {
		if !m.Spam {
			groups[m.Group] = append(groups[m.Group], m.Raw)
			gnames[m.Group] = append(gnames[m.Group], m.Name)
		}
	}
	ham := map[string]*corpusTallies{}
	for g, rs := range groups {
		ham[g] = runCorpus(tb, c, rt, rs, gnames[g], nil)
	}
	return phish, ham
}

// TestCorpusPhishing checks the figures of filters/phishing/README.md and
// README.md: the share of the Phishing Pot development corpus tagged or
// rejected, the SpamAssassin ham flagged because of the phishing
// signals, no error on any message, and each signal's hits.
func TestCorpusPhishing(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus test (-short)")
	}
	if raceEnabled {
		t.Skip("corpus test: runs without -race (test.sh's corpus pass, or go test -run TestCorpusPhishing ./cmd/vigil)")
	}
	phish, ham := phishingCorpus(t, phishingArtefacts)
	hamN, hamFlagged, hamByPhishing, errs := 0, 0, 0, phish.errors
	for _, g := range []string{"easy_ham", "easy_ham_2", "hard_ham"} {
		h := ham[g]
		hamN += h.n
		hamFlagged += h.flagged
		hamByPhishing += h.byPhishing
		errs += h.errors
		t.Logf("%s: %d judged, %d tagged or rejected, %d of them by the phishing signals", g, h.n, h.flagged, h.byPhishing)
	}
	t.Logf("phishing: %d judged, %d tagged or rejected (%.2f%%), %d of them only with the phishing signals; errors %v",
		phish.n, phish.flagged, phish.rate(), phish.byPhishing, phish.errored)
	t.Logf("ham: %d judged, %d tagged or rejected (%.3f%%), %d by the phishing signals", hamN, hamFlagged, 100*float64(hamFlagged)/float64(hamN), hamByPhishing)
	if phish.n != 988 || hamN != 4150 {
		t.Errorf("judged %d phishing and %d ham messages, want 988 and 4150", phish.n, hamN)
	}
	const doc = "filters/phishing/README.md"
	sharedtest.Claim{Doc: doc, Text: "**29.8%** of the 988 messages tagged or rejected", Value: 29.8}.AtLeast(t, phish.rate(), 1)
	sharedtest.Claim{Doc: "README.md", Text: "29.8% of the Phishing Pot development corpus", Value: 29.8}.AtLeast(t, phish.rate(), 1)
	sharedtest.Claim{Doc: doc, Text: "ham tagged or rejected because of these signals: **1 of 4,150**", Value: 1}.AtMost(t, float64(hamByPhishing), 0)
	sharedtest.Claim{Doc: doc, Text: "of the hard_ham folder: **1 of 250**", Value: 1}.AtMost(t, float64(ham["hard_ham"].byPhishing), 0)
	sharedtest.Claim{Doc: doc, Text: "errors on any message of either corpus: **0**", Value: 0}.Equal(t, float64(errs))
	// The per-signal table: a row a symbol, its hits on the phishing
	// corpus (a floor) and on each ham folder (ceilings).
	var rows []string
	for _, s := range phishing.Spec.Symbols {
		row := fmt.Sprintf("| `%s` | %d | %d | %d | %d |", s.Name, phish.hits[s.Name], ham["easy_ham"].hits[s.Name], ham["easy_ham_2"].hits[s.Name], ham["hard_ham"].hits[s.Name])
		rows = append(rows, row)
	}
	t.Logf("per-signal table:\n%s", strings.Join(rows, "\n"))
	for i, s := range phishing.Spec.Symbols {
		c := sharedtest.Claim{Doc: doc, Text: rows[i]}
		c.Value = float64(phish.hits[s.Name])
		c.AtLeast(t, float64(phish.hits[s.Name]), 0)
		for _, g := range []string{"easy_ham", "easy_ham_2", "hard_ham"} {
			c.Value = float64(ham[g].hits[s.Name])
			c.AtMost(t, float64(ham[g].hits[s.Name]), 0)
		}
	}
}

// BenchmarkCorpusPhishing measures the same with the anonymisation
// artefacts at their default scores too (logged, not guarded). Run:
//
//	go test -run '^$' -bench CorpusPhishing -benchtime 1x ./cmd/vigil
func BenchmarkCorpusPhishing(b *testing.B) {
	for i := 0; i < b.N; i++ {
		for _, run := range []struct {
			name   string
			scores map[string]float64
		}{{"artefacts scored 0", phishingArtefacts}, {"default scores", nil}} {
			phish, ham := phishingCorpus(b, run.scores)
			flagged := 0
			for _, h := range ham {
				flagged += h.flagged
			}
			b.Logf("%s: phishing %d of %d (%.2f%%), ham %d of 4150", run.name, phish.flagged, phish.n, phish.rate(), flagged)
		}
	}
}
