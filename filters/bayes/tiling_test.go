package bayes

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/vigilmail/vigil/filters/store"
)

// BenchmarkCorpusSweepTiling is a measurement: it compares the default
// scoring, where a text word and the word pairs that contain it are all
// clues, with SpamBayes-style tiling: the most extreme of the word and pair
// clues are taken first, and a word position already covered by a kept
// clue is not counted again, so correlated clues are not counted twice. Run:
//
//	go test -run '^$' -bench 'CorpusSweepTiling$' -benchtime 1x ./filters/bayes
func BenchmarkCorpusSweepTiling(b *testing.B) {
	for i := 0; i < b.N; i++ {
		corpusSweepTiling(b)
	}
}

func corpusSweepTiling(t testing.TB) {
	msgs := loadCorpus(t)
	for _, blocked := range []bool{false, true} {
		saved := cvBlocked
		cvBlocked = blocked
		cs := newCVSet(msgs, 2000)
		cvBlocked = saved
		// The text words of each training message, in the order of cs.docs.
		var words [][]string
		for _, cm := range msgs {
			if isTrainGroup(cm.Group) {
				words = append(words, splitWords(cm.Msg.Facts.Content.Text, maxTextWords))
			}
		}
		p := DefaultParams
		plain := cs.score(p)
		var tiled []scored
		for di, d := range cs.docs {
			n := cs.nFold[d.fold]
			ns, nh := cs.nTotal.Spam-n.Spam, cs.nTotal.Ham-n.Ham
			count := func(id string) store.Counts {
				c, f := cs.total[id], cs.fold[d.fold][id]
				return store.Counts{Spam: c.Spam - f.Spam, Ham: c.Ham - f.Ham}
			}
			in := map[string]bool{}
			for _, id := range d.toks {
				in[id] = true
			}
			// Tiling: text word and pair tokens become position spans.
			type cand struct {
				id         string
				start, len int
				dev        float64
			}
			var cands []cand
			textTok := map[string]bool{}
			ws := words[di]
			for i, w := range ws {
				if id := TokenID(prefixText + w); in[id] {
					textTok[id] = true
					cands = append(cands, cand{id, i, 1, dev(p, ns, nh, count(id))})
				}
				if i+1 < len(ws) {
					if id := TokenID(prefixBigram + w + " " + ws[i+1]); in[id] {
						textTok[id] = true
						cands = append(cands, cand{id, i, 2, dev(p, ns, nh, count(id))})
					}
				}
			}
			var kept []store.Counts
			for _, id := range d.toks {
				if !textTok[id] {
					kept = append(kept, count(id))
				}
			}
			sort.SliceStable(cands, func(i, j int) bool { return cands[i].dev > cands[j].dev })
			used := make([]bool, len(ws))
			taken := map[string]bool{}
			for _, c := range cands {
				if taken[c.id] || used[c.start] || (c.len == 2 && used[c.start+1]) {
					continue
				}
				// A word or pair seen again elsewhere in the text is one
				// clue, as in the default scoring.
				taken[c.id] = true
				for k := 0; k < c.len; k++ {
					used[c.start+k] = true
				}
				kept = append(kept, count(c.id))
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
func dev(p Params, ns, nh float64, c store.Counts) float64 {
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
