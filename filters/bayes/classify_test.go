package bayes

import (
	"math"
	"testing"

	"github.com/vigilmail/vigil/filters/store"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestChi2Q(t *testing.T) {
	tests := []struct {
		name string
		x2   float64
		v    int
		want float64
	}{
		{"zero", 0, 2, 1},
		{"negative", -1, 4, 1},
		{"2 df is exp(-x/2)", 2, 2, math.Exp(-1)},
		{"4 df is exp(-m)(1+m)", 6, 4, math.Exp(-3) * (1 + 3)},
		{"6 df", 5, 6, math.Exp(-2.5) * (1 + 2.5 + 2.5*2.5/2)},
		{"huge x2 does not underflow to garbage", 5000, 300, 0},
		{"median of 2 df", 2 * math.Ln2, 2, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chi2Q(tt.x2, tt.v); !near(got, tt.want) {
				t.Errorf("chi2Q(%v, %d) = %v, want %v", tt.x2, tt.v, got, tt.want)
			}
		})
	}
}

// robinsonF is f(w) written out for the expected values.
func robinsonF(spam, ham, nspam, nham float64) float64 {
	b, g := spam/nspam, ham/nham
	p := b / (b + g)
	n := spam + ham
	return (0.5 + n*p) / (1 + n)
}

// geometric is Robinson's geometric-mean indicator of two clues.
func geometric(f1, f2 float64) float64 {
	p := 1 - math.Sqrt((1-f1)*(1-f2))
	q := 1 - math.Sqrt(f1*f2)
	return (1 + (p-q)/(p+q)) / 2
}

func TestClassify(t *testing.T) {
	p := Params{S: 1, X: 0.5, MinDev: 0.1}
	f1 := robinsonF(10, 0, 10, 10) // (0.5+10)/11
	f2 := robinsonF(1, 4, 10, 20)  // p = 0.1/(0.1+0.2) = 1/3, f = (0.5+5/3)/6
	// Two clues: chi2Q with 4 degrees of freedom is e^-m (1+m).
	q4 := func(prod float64) float64 { m := -math.Log(prod); return prod * (1 + m) }
	s2 := 1 - q4((1-f1)*(1-f2))
	h2 := 1 - q4(f1*f2)
	tests := []struct {
		name        string
		params      Params
		nspam, nham float64
		counts      []store.Counts
		want        float64
		wantClues   int
	}{
		{"no tokens", p, 10, 10, nil, 0.5, 0},
		{"unknown tokens", p, 10, 10, []store.Counts{{}, {}}, 0.5, 0},
		{"no messages learned", p, 0, 10, []store.Counts{{Spam: 5}}, 0.5, 0},
		// One clue: S = f, H = 1-f, so the indicator is f itself.
		{"one spam clue", p, 10, 10, []store.Counts{{Spam: 10}}, f1, 1},
		{"one ham clue", p, 10, 10, []store.Counts{{Ham: 10}}, 1 - f1, 1},
		{"balanced clues", p, 10, 10, []store.Counts{{Spam: 10}, {Ham: 10}}, 0.5, 2},
		{"two clues", p, 10, 20, []store.Counts{{Spam: 10}, {Spam: 1, Ham: 4}}, (1 + s2 - h2) / 2, 2},
		// f = (0.5 + 2*0.5)/3 = 0.5: within min_dev, ignored.
		{"neutral token ignored", p, 10, 10, []store.Counts{{Spam: 1, Ham: 1}}, 0.5, 0},
		{"max clues keeps the most extreme", Params{S: 1, X: 0.5, MinDev: 0.1, MaxClues: 1}, 10, 10,
			[]store.Counts{{Spam: 2}, {Spam: 10}, {Ham: 3}}, f1, 1},
		{"counts above the message count are clamped", p, 10, 10, []store.Counts{{Spam: 50}}, (0.5 + 50) / 51, 1},
		{"min count skips rarer tokens", Params{S: 1, X: 0.5, MinDev: 0.1, MinCount: 3}, 10, 10,
			[]store.Counts{{Spam: 2}, {Spam: 10}}, f1, 1},
		// Geometric, one clue: P = f, Q = 1-f, S = (1 + (2f-1))/2 = f.
		{"geometric one clue", Params{S: 1, X: 0.5, MinDev: 0.1, Geometric: true}, 10, 10,
			[]store.Counts{{Spam: 10}}, f1, 1},
		{"geometric two clues", Params{S: 1, X: 0.5, MinDev: 0.1, Geometric: true}, 10, 20,
			[]store.Counts{{Spam: 10}, {Spam: 1, Ham: 4}},
			geometric(f1, f2), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := Classify(tt.params, tt.nspam, tt.nham, tt.counts)
			if !near(sc.Prob, tt.want) || sc.Clues != tt.wantClues {
				t.Errorf("Classify = %v with %d clues, want %v with %d", sc.Prob, sc.Clues, tt.want, tt.wantClues)
			}
		})
	}
	t.Run("many strong clues stay finite and extreme", func(t *testing.T) {
		counts := make([]store.Counts, 1000)
		for i := range counts {
			counts[i] = store.Counts{Spam: 1000}
		}
		sc := Classify(DefaultParams, 1000, 1000, counts)
		if math.IsNaN(sc.Prob) || sc.Prob < 0.999999 || sc.Prob > 1 {
			t.Errorf("prob %v", sc.Prob)
		}
	})
	t.Run("balance weighs the smaller class up", func(t *testing.T) {
		c := []store.Counts{{Ham: 45}}
		plain := Classify(Params{S: 1, X: 0.5, MinDev: 0.1}, 500, 2750, c)
		bal := Classify(Params{S: 1, X: 0.5, MinDev: 0.1, Balance: 1}, 500, 2750, c)
		// balanced n = 45*500/2750 = 8.18: f = 0.5/9.18
		if !near(bal.Prob, 0.5/(1+45*500.0/2750)) || !(bal.Prob > plain.Prob) {
			t.Errorf("balanced %v, plain %v", bal.Prob, plain.Prob)
		}
	})
}

func TestSymbolize(t *testing.T) {
	sigma := func(l float64) float64 { return 1 / (1 + math.Exp(-l)) }
	def := DefaultConfig() // 0.5 / 0.5, full at log-odds ±10, +7.5 / -5
	narrow := DefaultConfig()
	narrow.SpamThreshold, narrow.HamThreshold = 0.99, 0.01
	tests := []struct {
		name      string
		cfg       Config
		prob      float64
		clues     int
		wantName  string
		wantScore float64
	}{
		{"even odds score nothing", def, 0.5, 10, "", 0},
		{"a fifth of the way", def, sigma(math.Log(0.99995/0.00005) / 5), 10, SymSpam, 1.5},
		{"half way to full spam", def, sigma(math.Log(0.99995/0.00005) / 2), 10, SymSpam, 3.75},
		{"full spam", def, 0.99995, 10, SymSpam, 7.5},
		{"beyond full stays full", def, 1, 10, SymSpam, 7.5},
		{"half way to full ham", def, sigma(-math.Log(0.99995/0.00005) / 2), 10, SymHam, -2.5},
		{"certain ham", def, 0, 10, SymHam, -5},
		{"no clues never scores", def, 1, 0, "", 0},
		{"unsure band: just below spam threshold", narrow, 0.989, 10, "", 0},
		{"unsure band: just above ham threshold", narrow, 0.011, 10, "", 0},
		{"at spam threshold", narrow, 0.99, 10, SymSpam, 0},
		{"from the threshold in log-odds", narrow, sigma((math.Log(99) + math.Log(0.99995/0.00005)) / 2), 10, SymSpam, 3.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sym, ok := Symbolize(tt.cfg, Score{Prob: tt.prob, Clues: tt.clues, Spam: 60, Ham: 70})
			if ok != (tt.wantName != "") || sym.Name != tt.wantName || math.Abs(sym.Score-tt.wantScore) > 0.011 {
				t.Errorf("Symbolize(%v) = %+v %v, want %s %v", tt.prob, sym, ok, tt.wantName, tt.wantScore)
			}
			if ok && (sym.Detail == "" || sym.Full == 0 || math.Abs(sym.Strength()*sym.Full-sym.Score) > 1e-9) {
				t.Errorf("detail %q, full %v, strength %v: want a detail and a strength that gives the score", sym.Detail, sym.Full, sym.Strength())
			}
		})
	}
}
