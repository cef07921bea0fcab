package eval

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/weights"
)

// Result is what `vigil eval --json` prints.
type Result struct {
	Mode string `json:"mode"`
	// Feedback is the rule of online mode.
	Feedback string `json:"feedback,omitempty"`
	// Learned are the learn-set messages learned before judging.
	Learned ClassCount `json:"learned"`
	// Reports are the judged messages learned after their verdict
	// (online mode).
	Reports ClassCount `json:"reports"`
	Spam    Tally      `json:"spam"`
	Ham     Tally      `json:"ham"`
	// Recall is spam.caught / spam.judged; FPRate is ham.caught / ham.judged.
	Recall float64 `json:"recall"`
	FPRate float64 `json:"fp_rate"`
	// AtFP is, for false-positive rates 0, 0.1% and 1%, the lowest score
	// threshold whose false positives stay within the rate, and the
	// recall there (messages caught by a forced action count as caught at
	// every threshold).
	AtFP []AtFP `json:"at_fp"`
	// AfterWarmup counts what was judged after the first Warmup messages
	// (online mode).
	AfterWarmup *Span `json:"after_warmup,omitempty"`
	// Curve is the run in windows of judged messages (online mode).
	Curve   []Span       `json:"curve,omitempty"`
	Symbols []SymbolHits `json:"symbols"`
	// Errors are the misjudged messages, in the order judged.
	Errors []Miss `json:"errors"`
	// Unreadable are messages that could not be learned or judged.
	Unreadable []Unreadable `json:"unreadable"`
	// Weights are the learned symbol weights at the end of the run.
	Weights *WeightsOut `json:"weights,omitempty"`

	// scores are the judged messages' scores, spam then ham, for pooling
	// the at_fp figures of several runs (Pool).
	spamScores, hamScores []scored
}

// Pool returns the at_fp figures of several runs judged together (the
// folds of a cross-validation): the threshold and recall for each rate
// over all their messages.
func Pool(rs ...*Result) []AtFP {
	var spam, ham []scored
	for _, r := range rs {
		spam = append(spam, r.spamScores...)
		ham = append(ham, r.hamScores...)
	}
	var out []AtFP
	for _, rate := range fpRates {
		out = append(out, atFP(rate, spam, ham))
	}
	return out
}

// PoolAt is Pool at any false-positive rate.
func PoolAt(rate float64, rs ...*Result) AtFP {
	var spam, ham []scored
	for _, r := range rs {
		spam = append(spam, r.spamScores...)
		ham = append(ham, r.hamScores...)
	}
	return atFP(rate, spam, ham)
}

// ClassCount counts messages by label.
type ClassCount struct {
	Spam int `json:"spam"`
	Ham  int `json:"ham"`
}

func (c *ClassCount) add(spam bool) {
	if spam {
		c.Spam++
	} else {
		c.Ham++
	}
}

// Tally is the verdicts on one label.
type Tally struct {
	Judged int `json:"judged"`
	// Caught are those tagged, quarantined or rejected.
	Caught     int `json:"caught"`
	Tag        int `json:"tag"`
	Quarantine int `json:"quarantine"`
	Reject     int `json:"reject"`
	TempFail   int `json:"tempfail"`
}

// AtFP is the best threshold at one false-positive rate.
type AtFP struct {
	MaxFPRate float64 `json:"max_fp_rate"`
	// Threshold is nil when no threshold keeps the rate (ham caught by
	// forced actions alone exceed it).
	Threshold *float64 `json:"threshold"`
	Recall    float64  `json:"recall"`
	FP        int      `json:"fp"`
}

// Span counts the verdicts on a stretch of judged messages: [From, To).
type Span struct {
	From       int `json:"from"`
	To         int `json:"to"`
	Spam       int `json:"spam"`
	SpamCaught int `json:"spam_caught"`
	Ham        int `json:"ham"`
	HamCaught  int `json:"ham_caught"`
	// Reported are the messages of the span learned after their verdict.
	Reported int `json:"reported"`
}

// SymbolHits counts the judged messages a symbol fired on.
type SymbolHits struct {
	Name     string `json:"name"`
	SpamHits int    `json:"spam_hits"`
	HamHits  int    `json:"ham_hits"`
}

// Miss is one misjudged message.
type Miss struct {
	Path   string  `json:"path"`
	Label  string  `json:"label"`
	Action string  `json:"action"`
	Score  float64 `json:"score"`
	// Symbols are the verdict's symbol names.
	Symbols []string `json:"symbols"`
}

// Unreadable is a message the engine could not take.
type Unreadable struct {
	Path  string `json:"path"`
	Label string `json:"label"`
	Error string `json:"error"`
}

// WeightsOut are the learned weights at the end of a run.
type WeightsOut struct {
	Reports ClassCount    `json:"reports"`
	Blend   float64       `json:"blend"`
	Symbols []weights.Row `json:"symbols"`
}

// fpRates are the rates of at_fp.
var fpRates = []float64{0, 0.001, 0.01}

func (r *Result) tally(test []Message, js []judgement, o Options) {
	hits := map[string]*SymbolHits{}
	var spamScores, hamScores []scored
	r.Errors, r.Symbols = []Miss{}, []SymbolHits{}
	if r.Unreadable == nil {
		r.Unreadable = []Unreadable{}
	}
	var window *Span
	for i := range test {
		m, j := &test[i], &js[i]
		if j.err != "" {
			r.Unreadable = append(r.Unreadable, Unreadable{Path: m.Source, Label: label(m.Spam), Error: j.err})
			continue
		}
		t := &r.Ham
		if m.Spam {
			t = &r.Spam
		}
		t.Judged++
		switch j.v.WouldBe {
		case filters.Tag:
			t.Tag++
		case filters.Quarantine:
			t.Quarantine++
		case filters.Reject:
			t.Reject++
		case filters.TempFail:
			t.TempFail++
		}
		if j.caught {
			t.Caught++
		}
		if j.reported {
			r.Reports.add(m.Spam)
		}
		sc := scored{score: j.v.Score, forced: j.forced, held: j.held}
		if m.Spam {
			spamScores = append(spamScores, sc)
		} else {
			hamScores = append(hamScores, sc)
		}
		seen := map[string]bool{}
		for _, s := range j.v.Symbols {
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			h := hits[s.Name]
			if h == nil {
				h = &SymbolHits{Name: s.Name}
				hits[s.Name] = h
			}
			if m.Spam {
				h.SpamHits++
			} else {
				h.HamHits++
			}
		}
		if j.caught != m.Spam {
			r.Errors = append(r.Errors, Miss{Path: m.Source, Label: label(m.Spam), Action: string(j.v.WouldBe),
				Score: j.v.Score, Symbols: j.v.SymbolNames()})
		}
		if o.Mode == Online {
			n := r.Spam.Judged + r.Ham.Judged - 1 // this message's place
			if window == nil || n >= window.To {
				r.Curve = append(r.Curve, Span{From: n, To: n + o.Window})
				window = &r.Curve[len(r.Curve)-1]
			}
			window.count(m.Spam, j)
			if n >= o.Warmup {
				if r.AfterWarmup == nil {
					r.AfterWarmup = &Span{From: o.Warmup}
				}
				r.AfterWarmup.count(m.Spam, j)
			}
		}
	}
	if n := len(r.Curve); n > 0 {
		last := &r.Curve[n-1]
		last.To = last.From + last.Spam + last.Ham
	}
	if r.AfterWarmup != nil {
		r.AfterWarmup.To = r.Spam.Judged + r.Ham.Judged
	}
	r.Recall = ratio(r.Spam.Caught, r.Spam.Judged)
	r.FPRate = ratio(r.Ham.Caught, r.Ham.Judged)
	for _, h := range hits {
		r.Symbols = append(r.Symbols, *h)
	}
	sort.Slice(r.Symbols, func(i, j int) bool { return r.Symbols[i].Name < r.Symbols[j].Name })
	for _, rate := range fpRates {
		r.AtFP = append(r.AtFP, atFP(rate, spamScores, hamScores))
	}
	r.spamScores, r.hamScores = spamScores, hamScores
}

func (s *Span) count(spam bool, j *judgement) {
	if spam {
		s.Spam++
		if j.caught {
			s.SpamCaught++
		}
	} else {
		s.Ham++
		if j.caught {
			s.HamCaught++
		}
	}
	if j.reported {
		s.Reported++
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return round6(float64(a) / float64(b))
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

type scored struct {
	score  float64
	forced bool
	held   bool
}

// caughtAt: caught by a threshold t, or whatever it is.
func (s scored) caughtAt(t float64) bool {
	return s.forced || (!s.held && s.score >= t)
}

// atFP finds the lowest threshold (scores have two decimals) whose false
// positives are at most rate of the ham, and the recall there.
func atFP(rate float64, spam, ham []scored) AtFP {
	out := AtFP{MaxFPRate: rate}
	allowed := int(math.Floor(rate*float64(len(ham)) + 1e-9))
	forced := 0
	var free []float64
	for _, h := range ham {
		switch {
		case h.forced:
			forced++
		case !h.held:
			free = append(free, h.score)
		}
	}
	if forced > allowed {
		return out
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(free)))
	// Every ham above the threshold is a false positive: the threshold is
	// just above the (allowed-forced+1)-th highest ham score.
	k := allowed - forced
	var t float64
	if k < len(free) {
		t = math.Round(free[k]*100)/100 + 0.01
	} else {
		// Every ham may be caught: the lowest score of all.
		t = math.Inf(1)
		for _, s := range append(append([]scored(nil), spam...), ham...) {
			t = math.Min(t, s.score)
		}
		if math.IsInf(t, 1) {
			t = 0
		}
	}
	t = math.Round(t*100) / 100
	out.Threshold = &t
	caught := 0
	for _, s := range spam {
		if s.caughtAt(t) {
			caught++
		}
	}
	for _, h := range ham {
		if h.caughtAt(t) {
			out.FP++
		}
	}
	out.Recall = ratio(caught, len(spam))
	return out
}

// WriteText prints the result for a person: the confusion table, the
// thresholds at fixed false-positive rates, the curve, the symbols that
// fired most, and how many messages were misjudged.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "mode %s", r.Mode)
	if r.Feedback != "" {
		fmt.Fprintf(w, ", feedback %s", r.Feedback)
	}
	fmt.Fprintf(w, "; learned before judging: %d spam, %d ham", r.Learned.Spam, r.Learned.Ham)
	if r.Mode == string(Online) {
		fmt.Fprintf(w, "; reported while judging: %d spam, %d ham", r.Reports.Spam, r.Reports.Ham)
	}
	fmt.Fprint(w, "\n\n")
	fmt.Fprintln(tw, "\tjudged\tcaught\trate\ttag\tquarantine\treject\ttempfail\t")
	for _, row := range []struct {
		name string
		t    Tally
	}{{"spam", r.Spam}, {"ham", r.Ham}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t\n", row.name, row.t.Judged, row.t.Caught,
			pct(ratio(row.t.Caught, row.t.Judged)), row.t.Tag, row.t.Quarantine, row.t.Reject, row.t.TempFail)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nrecall %s, false positives %s (caught: tag, quarantine or reject)\n\n", pct(r.Recall), pct(r.FPRate))
	fmt.Fprintln(tw, "false positives at most\tthreshold\tfalse positives\trecall\t")
	for _, a := range r.AtFP {
		th := "none"
		if a.Threshold != nil {
			th = fmt.Sprintf("%.2f", *a.Threshold)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t\n", pct(a.MaxFPRate), th, a.FP, pct(a.Recall))
	}
	tw.Flush()
	if r.AfterWarmup != nil {
		a := r.AfterWarmup
		fmt.Fprintf(w, "\nafter the first %d messages: spam caught %d of %d (%s), ham caught %d of %d\n",
			a.From, a.SpamCaught, a.Spam, pct(ratio(a.SpamCaught, a.Spam)), a.HamCaught, a.Ham)
	}
	if len(r.Curve) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "messages\tspam\tcaught\trecall\tham\tcaught\treported\t")
		for _, s := range r.Curve {
			fmt.Fprintf(tw, "%d-%d\t%d\t%d\t%s\t%d\t%d\t%d\t\n", s.From+1, s.To, s.Spam, s.SpamCaught,
				pct(ratio(s.SpamCaught, s.Spam)), s.Ham, s.HamCaught, s.Reported)
		}
		tw.Flush()
	}
	top := append([]SymbolHits(nil), r.Symbols...)
	sort.SliceStable(top, func(i, j int) bool {
		return top[i].SpamHits+top[i].HamHits > top[j].SpamHits+top[j].HamHits
	})
	if len(top) > 15 {
		top = top[:15]
	}
	if len(top) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "symbol\ton spam\ton ham\t")
		for _, s := range top {
			fmt.Fprintf(tw, "%s\t%d\t%d\t\n", s.Name, s.SpamHits, s.HamHits)
		}
		tw.Flush()
	}
	if r.Weights != nil {
		fmt.Fprintf(w, "\nlearned weights: %d symbols from %d spam and %d ham reports, used at %s\n",
			len(r.Weights.Symbols), r.Weights.Reports.Spam, r.Weights.Reports.Ham, pct(r.Weights.Blend))
	}
	fmt.Fprintf(w, "\n%d misjudged, %d unreadable (--json lists them)\n", len(r.Errors), len(r.Unreadable))
	if len(r.Unreadable) > 0 {
		fmt.Fprintf(w, "first unreadable: %s: %s\n", r.Unreadable[0].Path, strings.TrimSpace(r.Unreadable[0].Error))
	}
	return nil
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }
