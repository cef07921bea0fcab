package bayes

import (
	"fmt"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/vigilmail/vigil/filters/reputation"
)

// TestCorpusSweepTiling (BAYES_SWEEP5=1) compares the default scoring,
// where a text word and the word pairs that contain it are all clues,
// with SpamBayes-style tiling: the most extreme of the word and pair
// clues are taken first, and a word position already covered by a kept
// clue is not counted again, so correlated clues are not counted twice.
func TestCorpusSweepTiling(t *testing.T) {
	if os.Getenv("BAYES_SWEEP5") == "" || raceEnabled || testing.Short() {
		t.Skip("BAYES_SWEEP5=1 runs the tiling comparison")
	}
	msgs := loadCorpus(t)
	type doc struct {
		spam  bool
		toks  []string
		words []string
		fold  int
	}
	for _, blocked := range []bool{false, true} {
		saved := cvBlocked
		cvBlocked = blocked
		var docs []doc
		per := map[bool]int{}
		for _, cm := range msgs {
			if !isTrainGroup(cm.Group) {
				continue
			}
			docs = append(docs, doc{cm.Spam, tokenize(cm.Msg, 2000, defaultTokenOptions), splitWords(cm.Msg.Facts.Content.Text, maxTextWords), cvFold(per[cm.Spam], cm.Spam)})
			per[cm.Spam]++
		}
		cvBlocked = saved
		total := map[string]reputation.Counts{}
		fold := make([]map[string]reputation.Counts, cvFolds)
		for i := range fold {
			fold[i] = map[string]reputation.Counts{}
		}
		var nT reputation.Counts
		nF := make([]reputation.Counts, cvFolds)
		for _, d := range docs {
			for _, tok := range d.toks {
				c, f := total[tok], fold[d.fold][tok]
				if d.spam {
					c.Spam++
					f.Spam++
				} else {
					c.Ham++
					f.Ham++
				}
				total[tok], fold[d.fold][tok] = c, f
			}
			if d.spam {
				nT.Spam++
				nF[d.fold].Spam++
			} else {
				nT.Ham++
				nF[d.fold].Ham++
			}
		}
		p := DefaultParams
		var plain, tiled []scored
		for _, d := range docs {
			ns, nh := nT.Spam-nF[d.fold].Spam, nT.Ham-nF[d.fold].Ham
			count := func(tok string) reputation.Counts {
				c, f := total[tok], fold[d.fold][tok]
				return reputation.Counts{Spam: c.Spam - f.Spam, Ham: c.Ham - f.Ham}
			}
			var all []reputation.Counts
			in := map[string]bool{}
			for _, tok := range d.toks {
				all = append(all, count(tok))
				in[tok] = true
			}
			plain = append(plain, scored{d.spam, Classify(p, ns, nh, all).Prob})

			// Tiling: text word and pair tokens become position spans.
			type cand struct {
				tok        string
				start, len int
				dev        float64
			}
			var cands []cand
			textTok := map[string]bool{}
			for i, w := range d.words {
				if tok := prefixText + w; in[tok] {
					textTok[tok] = true
					cands = append(cands, cand{tok, i, 1, dev(p, ns, nh, count(tok))})
				}
				if i+1 < len(d.words) {
					if tok := prefixBigram + w + " " + d.words[i+1]; in[tok] {
						textTok[tok] = true
						cands = append(cands, cand{tok, i, 2, dev(p, ns, nh, count(tok))})
					}
				}
			}
			var kept []reputation.Counts
			for _, tok := range d.toks {
				if !textTok[tok] {
					kept = append(kept, count(tok))
				}
			}
			sort.SliceStable(cands, func(i, j int) bool { return cands[i].dev > cands[j].dev })
			used := make([]bool, len(d.words))
			taken := map[string]bool{}
			for _, c := range cands {
				if taken[c.tok] || used[c.start] || (c.len == 2 && used[c.start+1]) {
					continue
				}
				// A word or pair seen again elsewhere in the text is one
				// clue, as in the default scoring.
				taken[c.tok] = true
				for k := 0; k < c.len; k++ {
					used[c.start+k] = true
				}
				kept = append(kept, count(c.tok))
			}
			tiled = append(tiled, scored{d.spam, Classify(p, ns, nh, kept).Prob})
		}
		for _, v := range []struct {
			name string
			res  []scored
		}{{"words + pairs (default)", plain}, {"tiled words/pairs", tiled}} {
			th, rc := bestAt(v.res, 2)
			line := ""
			for _, x := range []float64{0.5, 0.9, 0.99, 0.999} {
				r := measure(v.res, x, 0.01)
				line += " " + formatRate(x, r)
			}
			t.Logf("blocked=%v %-26s fp<=2 at %g: %.1f%% |%s", blocked, v.name, th, rc, line)
		}
	}
}

// dev is |f - 0.5| of a token under p, 0 for an unseen token.
func dev(p Params, ns, nh float64, c reputation.Counts) float64 {
	n := c.Spam + c.Ham
	if n <= 0 || ns <= 0 || nh <= 0 {
		return 0
	}
	b, g := math.Min(c.Spam/ns, 1), math.Min(c.Ham/nh, 1)
	if b+g == 0 {
		return 0
	}
	f := (p.S*p.X + n*b/(b+g)) / (p.S + n)
	return math.Abs(f - 0.5)
}

func formatRate(th float64, r rates) string {
	return fmt.Sprintf("%g: fp%d %.1f%%", th, r.fp, r.recallPct())
}
