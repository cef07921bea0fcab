package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/filters/weights"
)

// fakeEngine judges a message by its "X-Score:" field, lowered by one
// point for every spam report and raised by one for every ham report of
// the same "X-Campaign:" learned so far: a filter whose confusion matrix
// each test can work out by hand. "X-Force: reject" forces a reject.
type fakeEngine struct {
	mu      sync.Mutex
	learned map[string]int // campaign -> spam reports minus ham reports
	log     []string       // what was learned, in order
	policy  filters.Policy
}

func newFake() *fakeEngine {
	return &fakeEngine{learned: map[string]int{}, policy: filters.Policy{Tag: 5, Reject: 15}}
}

var fieldRE = regexp.MustCompile(`(?m)^X-(Score|Campaign|Force): (\S+)`)

func fields(raw []byte) map[string]string {
	out := map[string]string{}
	for _, m := range fieldRE.FindAllSubmatch(raw, -1) {
		out[string(m[1])] = string(m[2])
	}
	return out
}

func (f *fakeEngine) JudgeSaved(_ context.Context, r io.Reader) (*filters.Message, filters.Verdict, error) {
	raw, _ := io.ReadAll(r)
	fs := fields(raw)
	if fs["Score"] == "" {
		return nil, filters.Verdict{}, fmt.Errorf("fake: no X-Score")
	}
	s, _ := strconv.ParseFloat(fs["Score"], 64)
	f.mu.Lock()
	s += float64(f.learned[fs["Campaign"]])
	f.mu.Unlock()
	syms := []filters.Symbol{{Name: "FAKE_SCORE", Score: s}}
	if fs["Campaign"] != "" {
		syms = append(syms, filters.Symbol{Name: "CAMPAIGN_" + strings.ToUpper(fs["Campaign"])})
	}
	if fs["Force"] == "reject" {
		syms = append(syms, filters.Symbol{Name: "FORCED", Force: filters.Reject})
	}
	return &filters.Message{}, filters.Decide(syms, f.policy), nil
}

func (f *fakeEngine) LearnRaw(_ context.Context, raw []byte, class store.Class) (engine.LearnOutcome, error) {
	fs := fields(raw)
	f.mu.Lock()
	defer f.mu.Unlock()
	d := -1
	if class == store.Spam {
		d = 1
	}
	f.learned[fs["Campaign"]] += d
	f.log = append(f.log, fs["Score"]+"/"+string(class))
	return engine.LearnOutcome{}, nil
}

func (f *fakeEngine) PrepareReport(_ context.Context, r io.Reader, class store.Class) (*engine.Report, error) {
	raw, _ := io.ReadAll(r)
	if fields(raw)["Score"] == "" {
		return nil, fmt.Errorf("fake: no X-Score")
	}
	// The fake keeps the raw message where a real report keeps the
	// parsed one: in a side table keyed by the report.
	rep := &engine.Report{}
	f.mu.Lock()
	pending[rep] = pendingReport{raw: raw, class: class}
	f.mu.Unlock()
	return rep, nil
}

type pendingReport struct {
	raw   []byte
	class store.Class
}

var pending = map[*engine.Report]pendingReport{}

func (f *fakeEngine) LearnReport(ctx context.Context, rep *engine.Report) (engine.LearnOutcome, error) {
	f.mu.Lock()
	p := pending[rep]
	delete(pending, rep)
	f.mu.Unlock()
	return f.LearnRaw(ctx, p.raw, p.class)
}

func (f *fakeEngine) Weights(context.Context) (*weights.Snapshot, error) { return nil, nil }

// msg is a labelled test message with a score, a date (day of June 2002)
// and a campaign.
func msg(name string, spam bool, score float64, day int, campaign string, extra ...string) Message {
	raw := fmt.Sprintf("From: a@example.org\nDate: %d Jun 2002 10:00:00 +0000\nX-Score: %g\nX-Campaign: %s\n%s\nbody\n",
		day, score, campaign, strings.Join(extra, "\n"))
	return Message{Source: name, Spam: spam, Raw: []byte(raw)}
}

func TestParseFeedback(t *testing.T) {
	for in, want := range map[string]Feedback{
		"":            {ErrorsOnly: true, Share: 1},
		"errors":      {ErrorsOnly: true, Share: 1},
		"all":         {Share: 1},
		"0.1":         {Share: 0.1},
		"1":           {Share: 1},
		"errors:0.25": {ErrorsOnly: true, Share: 0.25},
	} {
		got, err := ParseFeedback(in)
		if err != nil || got != want {
			t.Errorf("ParseFeedback(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if in != "" && in != "1" && got.String() != in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, bad := range []string{"0", "-0.5", "1.5", "some", "errors:0", "errors:x", "NaN"} {
		if _, err := ParseFeedback(bad); err == nil {
			t.Errorf("ParseFeedback(%q) accepted", bad)
		}
	}
}

// TestStaticConfusion: a confusion matrix worked out by hand, the
// thresholds at fixed false-positive rates, the symbol counts and the
// misjudged messages.
func TestStaticConfusion(t *testing.T) {
	learn := []Message{msg("l1", true, 0, 1, "x"), msg("l2", false, 0, 2, "y")}
	test := []Message{
		msg("s1", true, 9, 3, "a"),                    // caught (tag)
		msg("s2", true, 16, 4, "a"),                   // caught (reject)
		msg("s3", true, 5, 5, "a"),                    // caught (tag, at the threshold)
		msg("s4", true, 3, 6, "b"),                    // missed
		msg("s5", true, 1, 7, "b", "X-Force: reject"), // caught by force
		msg("h1", false, 0, 3, "c"),
		msg("h2", false, 6, 4, "c"), // false positive
		msg("h3", false, 2, 5, "c"),
		msg("h4", false, 4.5, 6, "c"),
	}
	f := newFake()
	r, err := Run(context.Background(), f, learn, test, Options{Mode: Static})
	if err != nil {
		t.Fatal(err)
	}
	if r.Learned != (ClassCount{Spam: 1, Ham: 1}) || len(f.log) != 2 {
		t.Errorf("learned %+v, log %v", r.Learned, f.log)
	}
	if r.Spam != (Tally{Judged: 5, Caught: 4, Tag: 2, Reject: 2}) {
		t.Errorf("spam %+v", r.Spam)
	}
	if r.Ham != (Tally{Judged: 4, Caught: 1, Tag: 1}) {
		t.Errorf("ham %+v", r.Ham)
	}
	if r.Recall != 0.8 || r.FPRate != 0.25 {
		t.Errorf("recall %v fp_rate %v", r.Recall, r.FPRate)
	}
	// At FP 0 the threshold must clear the highest ham (6): 6.01 catches
	// s1, s2 and the forced s5. At 1% of 4 ham (0 allowed), the same.
	want := []struct {
		th     float64
		recall float64
		fp     int
	}{{6.01, 0.6, 0}, {6.01, 0.6, 0}, {6.01, 0.6, 0}}
	for i, w := range want {
		a := r.AtFP[i]
		if a.Threshold == nil || *a.Threshold != w.th || a.Recall != w.recall || a.FP != w.fp {
			t.Errorf("at_fp[%d] = %+v (threshold %v), want %+v", i, a, deref(a.Threshold), w)
		}
	}
	// More ham, with a rate that allows one false positive: 1% of 100.
	many := append([]Message(nil), test...)
	for i := 0; i < 96; i++ {
		many = append(many, msg(fmt.Sprintf("hx%d", i), false, 0, 8, "c"))
	}
	r2, err := Run(context.Background(), newFake(), nil, many, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a := r2.AtFP[2]; a.Threshold == nil || *a.Threshold != 4.51 || a.FP != 1 || a.Recall != 0.8 {
		t.Errorf("at 1%% of 100 ham: %+v (threshold %v), want 4.51, 1 FP, recall 0.8", a, deref(a.Threshold))
	}
	var misses []string
	for _, e := range r.Errors {
		misses = append(misses, e.Path+":"+e.Label+":"+e.Action)
	}
	if got := strings.Join(misses, " "); got != "h2:ham:tag s4:spam:accept" { // in Date order
		t.Errorf("errors %q", got)
	}
	hits := map[string]SymbolHits{}
	for _, s := range r.Symbols {
		hits[s.Name] = s
	}
	if hits["CAMPAIGN_A"] != (SymbolHits{Name: "CAMPAIGN_A", SpamHits: 3}) || hits["FAKE_SCORE"].HamHits != 4 || hits["FORCED"].SpamHits != 1 {
		t.Errorf("symbols %+v", r.Symbols)
	}
	if r.AfterWarmup != nil || r.Curve != nil {
		t.Errorf("static run with online figures: %+v %+v", r.AfterWarmup, r.Curve)
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// TestOnlineFeedbackRules: messages are judged in Date order, and what is
// learned after each verdict follows the rule.
func TestOnlineFeedbackRules(t *testing.T) {
	// One spam campaign arriving every day, scoring 3 (missed) until two
	// spam reports lift it to 5; ham of one list scoring 4.
	var test []Message
	for d := 1; d <= 6; d++ {
		test = append(test, msg(fmt.Sprintf("s%d", d), true, 3, d, "spam"))
		test = append(test, msg(fmt.Sprintf("h%d", d), false, 4, d, "list"))
	}
	// Given in reverse: the Date order must win.
	for i, j := 0, len(test)-1; i < j; i, j = i+1, j-1 {
		test[i], test[j] = test[j], test[i]
	}
	cases := []struct {
		feedback     string
		spamCaught   int
		hamCaught    int
		reportsSpam  int
		reportsHam   int
		learnedOrder string
	}{
		// errors: s1 and s2 are missed and reported; from s3 on, 3+2 = 5.
		{"errors", 4, 0, 2, 0, "3/spam 3/spam"},
		// all: every message is reported; each ham report lowers the list,
		// each spam report lifts the campaign: s1 missed (3), s2 missed (4),
		// s3 caught (5) ...
		{"all", 4, 0, 6, 6, ""},
		// A share of all messages, chosen by hash: the same whatever the
		// order of the input; 1 = all.
		{"1", 4, 0, 6, 6, ""},
	}
	for _, c := range cases {
		t.Run(c.feedback, func(t *testing.T) {
			fb, err := ParseFeedback(c.feedback)
			if err != nil {
				t.Fatal(err)
			}
			f := newFake()
			r, err := Run(context.Background(), f, nil, test, Options{Mode: Online, Feedback: fb, Warmup: 4, Window: 4})
			if err != nil {
				t.Fatal(err)
			}
			if r.Spam.Caught != c.spamCaught || r.Ham.Caught != c.hamCaught || r.Reports.Spam != c.reportsSpam || r.Reports.Ham != c.reportsHam {
				t.Errorf("caught %d spam %d ham, reports %+v; want %d, %d, %d+%d",
					r.Spam.Caught, r.Ham.Caught, r.Reports, c.spamCaught, c.hamCaught, c.reportsSpam, c.reportsHam)
			}
			if c.learnedOrder != "" && strings.Join(f.log, " ") != c.learnedOrder {
				t.Errorf("learned %v, want %s", f.log, c.learnedOrder)
			}
			if len(r.Curve) != 3 || r.Curve[0].From != 0 || r.Curve[2].To != 12 || r.AfterWarmup == nil || r.AfterWarmup.From != 4 || r.AfterWarmup.To != 12 {
				t.Fatalf("curve %+v after warmup %+v", r.Curve, r.AfterWarmup)
			}
			sum := 0
			for _, s := range r.Curve {
				sum += s.Spam + s.Ham
			}
			if sum != 12 {
				t.Errorf("curve covers %d messages, want 12", sum)
			}
		})
	}

	// A share: the chosen messages depend on the messages, not on the
	// order they are given in, and about that share is chosen.
	var many []Message
	for i := 0; i < 2000; i++ {
		many = append(many, msg(fmt.Sprintf("m%d", i), i%2 == 0, 0, 1+i%28, fmt.Sprintf("c%d", i)))
	}
	fb := Feedback{Share: 0.1}
	chosen := 0
	for i := range many {
		if fb.reports(&many[i], false) {
			chosen++
		}
	}
	if chosen < 150 || chosen > 250 {
		t.Errorf("share 0.1 chose %d of 2000", chosen)
	}
	r1, _ := Run(context.Background(), newFake(), nil, many, Options{Mode: Online, Feedback: fb})
	rev := append([]Message(nil), many...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	r2, _ := Run(context.Background(), newFake(), nil, rev, Options{Mode: Online, Feedback: fb})
	if r1.Reports != r2.Reports || r1.Reports.Spam+r1.Reports.Ham != chosen {
		t.Errorf("reports %+v and %+v, want %d both", r1.Reports, r2.Reports, chosen)
	}
	// errors:P reports a share of the misjudged only.
	fbe := Feedback{ErrorsOnly: true, Share: 0.5}
	for i := range many {
		if fbe.reports(&many[i], false) {
			t.Fatal("errors:0.5 reported a message judged right")
		}
	}
}

// TestDeterministicJSON: the same input gives the same output, byte for
// byte, also when static judging runs in parallel.
func TestDeterministicJSON(t *testing.T) {
	var test []Message
	for i := 0; i < 300; i++ {
		test = append(test, msg(fmt.Sprintf("m%03d", i), i%3 == 0, math.Mod(float64(i)*7.3, 17), 1+i%28, fmt.Sprintf("c%d", i%5)))
	}
	var outs []string
	for _, o := range []Options{{Workers: 1}, {Workers: 8}, {Workers: 3}} {
		r, err := Run(context.Background(), newFake(), nil, test, o)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		outs = append(outs, string(b))
	}
	if outs[0] != outs[1] || outs[1] != outs[2] {
		t.Error("static runs with different workers differ")
	}
	for _, must := range []string{`"spam":{"judged":100`, `"at_fp":[{"max_fp_rate":0`, `"errors":[`, `"symbols":[`, `"recall":`, `"fp_rate":`} {
		if !strings.Contains(outs[0], must) {
			t.Errorf("JSON lacks %s: %.300s", must, outs[0])
		}
	}
}

// TestUnreadable: a message the engine cannot take is listed, not fatal.
func TestUnreadable(t *testing.T) {
	bad := Message{Source: "bad.eml", Spam: true, Raw: []byte("no score here\n")}
	r, err := Run(context.Background(), newFake(), []Message{bad}, []Message{bad, msg("ok", false, 0, 1, "c")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Unreadable) != 2 || r.Spam.Judged != 0 || r.Ham.Judged != 1 || r.Learned.Spam != 0 {
		t.Errorf("unreadable %+v, spam %+v, ham %+v, learned %+v", r.Unreadable, r.Spam, r.Ham, r.Learned)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "2 unreadable") {
		t.Errorf("text: %v\n%s", err, b.String())
	}
}

func TestDateOrder(t *testing.T) {
	ms := []Message{
		{Source: "c", Raw: []byte("Date: Tue, 4 Jun 2002 10:00:00 +0000\n\nx")},
		{Source: "a", Raw: []byte("From x@y Tue Jun  4 10:00:00 2002\nDate: Mon, 3 Jun 2002 23:00:00 -0500\n\nx")},
		{Source: "b", Raw: []byte("Received: from a by b; Mon, 3 Jun 2002 12:00:00 +0000\n\nno date")},
		{Source: "z", Raw: []byte("Date: garbage\n\nx")},
		{Source: "y", Raw: []byte("Date: Tue, 4 Jun 2002 10:00:00 +0000\n\nsame time as c, given later")},
	}
	var got []string
	for _, m := range Ordered(ms) {
		got = append(got, m.Source)
	}
	// z has no usable time: first. a is 04:00 UTC on the 4th.
	if s := strings.Join(got, ""); s != "zbacy" {
		t.Errorf("order %s, want zbacy", s)
	}
}
