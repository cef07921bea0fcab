package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters/eval"
	"github.com/vigilmail/vigil/filters/sharedtest"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/filters/weights"
)

// evalRuntime is the engine `vigil eval --offline` builds: the default
// configuration adapted as eval adapts it, over an empty store in memory,
// with DNS answered by the offline server on loopback (every query is
// NXDOMAIN: the corpus' domains are gone). mutate, when set, changes the
// configuration first. done releases it (a store of the corpus is a few
// hundred MB; measurements that build many release each at once).
func evalRuntime(tb testing.TB, mutate func(*config.Config)) (rt *runtime, done func()) {
	tb.Helper()
	srv, err := dnsrep.StartOffline(nil)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := config.Parse(strings.NewReader(fmt.Sprintf("dns: {servers: [%q], timeout: 300ms}\n", srv.Addr())))
	if err != nil {
		tb.Fatal(err)
	}
	if mutate != nil {
		mutate(&c)
	}
	evalConfig(&c)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err = build(c, log, store.NewMemory())
	if err != nil {
		srv.Close()
		tb.Fatal(err)
	}
	var once sync.Once
	done = func() { once.Do(func() { rt.close(); srv.Close() }) }
	tb.Cleanup(done)
	return rt, done
}

// saMessages are the SpamAssassin corpus messages of groups, labelled,
// named group/file as the files are in the corpus.
func saMessages(tb testing.TB, groups ...string) []eval.Message {
	want := map[string]bool{}
	for _, g := range groups {
		want[g] = true
	}
	var out []eval.Message
	for _, cm := range sharedtest.SpamAssassin(tb) {
		if want[cm.Group] {
			out = append(out, eval.Message{Source: cm.Name, Spam: cm.Spam, Raw: cm.Raw})
		}
	}
	return out
}

// timeSplit runs eval on the classic time split: learn easy_ham,
// hard_ham and spam; judge easy_ham_2 and spam_2.
func timeSplit(tb testing.TB, o eval.Options, mutate func(*config.Config)) *eval.Result {
	tb.Helper()
	rt, done := evalRuntime(tb, mutate)
	defer done()
	learn := saMessages(tb, "easy_ham", "hard_ham", "spam")
	test := saMessages(tb, "easy_ham_2", "spam_2")
	res, err := eval.Run(context.Background(), rt.engine, learn, test, o)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func logResult(tb testing.TB, what string, r *eval.Result) {
	tb.Helper()
	var b strings.Builder
	r.WriteText(&b)
	tb.Logf("%s:\n%s", what, b.String())
}

// cvVariant is a configuration compared in cross-validation.
type cvVariant struct {
	name   string
	mutate func(*config.Config)
}

// cvFolds splits the learn set (easy_ham, hard_ham, spam) into five folds:
// ham interleaved; spam interleaved too, or, blocked, in five contiguous
// runs of the corpus order (files are numbered in collection order, so a
// campaign stays in one fold, as a later month's spam is not in the
// learned one).
func cvFolds(learn []eval.Message, blocked bool) [5][]eval.Message {
	var folds [5][]eval.Message
	nspam := 0
	for _, m := range learn {
		if m.Spam {
			nspam++
		}
	}
	si := 0
	for i, m := range learn {
		k := i % 5
		if m.Spam && blocked {
			k = si * 5 / nspam
			si++
		}
		folds[k] = append(folds[k], m)
	}
	return folds
}

// crossValidate runs static eval on each fold, learning the other four.
func crossValidate(tb testing.TB, v cvVariant, blocked bool, o eval.Options) []*eval.Result {
	learn := saMessages(tb, "easy_ham", "hard_ham", "spam")
	folds := cvFolds(learn, blocked)
	var out []*eval.Result
	for k := range folds {
		var tr []eval.Message
		for j := range folds {
			if j != k {
				tr = append(tr, folds[j]...)
			}
		}
		rt, done := evalRuntime(tb, v.mutate)
		res, err := eval.Run(context.Background(), rt.engine, tr, folds[k], o)
		done()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, res)
	}
	return out
}

// cvRow summarises the folds: caught at the default thresholds, and the
// recall at the thresholds that keep 0 and at most 2 of the 2,750 ham
// (under 0.1%).
func cvRow(rs []*eval.Result) string {
	var spam, caught, ham, fp int
	for _, r := range rs {
		spam += r.Spam.Judged
		caught += r.Spam.Caught
		ham += r.Ham.Judged
		fp += r.Ham.Caught
	}
	z := eval.PoolAt(0, rs...)
	two := eval.PoolAt(2.5/float64(max(1, ham)), rs...)
	th := func(a eval.AtFP) string {
		if a.Threshold == nil {
			return "none"
		}
		return fmt.Sprintf("%.2f", *a.Threshold)
	}
	return fmt.Sprintf("caught %.1f%% FP %d | FP 0: %.1f%% at %s | FP<=2: %.1f%% at %s",
		100*float64(caught)/float64(spam), fp, 100*z.Recall, th(z), 100*two.Recall, th(two))
}

// onlineCV is the online protocol inside the learn set: its messages in
// Date order, the first 60% learned as reports, the rest judged online
// with the feedback rule of o.
func onlineCV(tb testing.TB, v cvVariant, o eval.Options) *eval.Result {
	learn := saMessages(tb, "easy_ham", "hard_ham", "spam")
	ordered := eval.Ordered(learn)
	cut := len(ordered) * 6 / 10
	rt, done := evalRuntime(tb, v.mutate)
	defer done()
	o.Mode = eval.Online
	res, err := eval.Run(context.Background(), rt.engine, ordered[:cut], ordered[cut:], o)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func onlineRow(r *eval.Result) string {
	a := r.AfterWarmup
	if a == nil {
		a = &eval.Span{}
	}
	return fmt.Sprintf("caught %.1f%% (%d/%d) FP %d | after %d: spam %.1f%% ham caught %d | reports %d+%d",
		100*r.Recall, r.Spam.Caught, r.Spam.Judged, r.Ham.Caught, a.From,
		100*float64(a.SpamCaught)/float64(max(1, a.Spam)), a.HamCaught, r.Reports.Spam, r.Reports.Ham)
}

// TestCorpusEval checks the whole product's figures of README.md, measured
// as `vigil eval --offline` measures them (the engine evalRuntime builds),
// on the SpamAssassin time split and the phishing corpus.
func TestCorpusEval(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus test (-short)")
	}
	if raceEnabled {
		t.Skip("corpus test: runs without -race (test.sh's corpus pass, or go test -run TestCorpusEval ./cmd/vigil)")
	}
	claim := func(text string, v float64) sharedtest.Claim {
		return sharedtest.Claim{Doc: "README.md", Text: text, Value: v}
	}
	pct := func(n, of int) float64 { return 100 * float64(n) / float64(max(1, of)) }
	t.Run("static", func(t *testing.T) {
		r := timeSplit(t, eval.Options{}, nil)
		logResult(t, "static", r)
		if r.Spam.Judged != 1396 || r.Ham.Judged != 1400 || len(r.Unreadable) != 0 {
			t.Fatalf("judged %d spam and %d ham, %d unreadable; want 1396, 1400, 0", r.Spam.Judged, r.Ham.Judged, len(r.Unreadable))
		}
		claim("static: 69.9% of spam caught", 69.9).AtLeast(t, pct(r.Spam.Caught, r.Spam.Judged), 1)
		claim("0 of 1,400 ham caught |", 0).AtMost(t, float64(r.Ham.Caught), 0)
	})
	t.Run("static weights off", func(t *testing.T) {
		r := timeSplit(t, eval.Options{}, func(c *config.Config) { c.Weights.Enabled = false })
		logResult(t, "static, weights off", r)
		claim("hand-set weights: 64.7% of spam", 64.7).AtLeast(t, pct(r.Spam.Caught, r.Spam.Judged), 1)
		claim("64.7% of spam caught with 1 of 1,400 ham", 1).AtMost(t, float64(r.Ham.Caught), 0)
	})
	t.Run("online errors", func(t *testing.T) {
		r := timeSplit(t, eval.Options{Mode: eval.Online}, nil)
		logResult(t, "online, feedback errors", r)
		a := r.AfterWarmup
		if a == nil || a.From != 200 {
			t.Fatalf("no span after the first 200 messages: %+v", a)
		}
		claim("online: 91.4% of spam caught", 91.4).AtLeast(t, 100*r.Recall, 1)
		claim("2 ham caught after the first 200 messages", 2).AtMost(t, float64(a.HamCaught), 0)
	})
	t.Run("phishing", func(t *testing.T) {
		rt, done := evalRuntime(t, nil)
		defer done()
		var phish []eval.Message
		for _, cm := range sharedtest.PhishingPot(t) {
			phish = append(phish, eval.Message{Source: "phishing/" + cm.Name, Spam: true, Raw: cm.Raw})
		}
		learn := saMessages(t, "easy_ham", "hard_ham", "spam")
		test := append(saMessages(t, "easy_ham_2"), phish...)
		fb, err := eval.ParseFeedback("0.1")
		if err != nil {
			t.Fatal(err)
		}
		r, err := eval.Run(context.Background(), rt.engine, learn, test, eval.Options{Mode: eval.Online, Feedback: fb})
		if err != nil {
			t.Fatal(err)
		}
		logResult(t, "phishing, online, feedback 0.1", r)
		if r.Spam.Judged != 988 {
			t.Fatalf("judged %d phishing messages, want 988", r.Spam.Judged)
		}
		claim("phishing: 97.7% of 988 caught", 97.7).AtLeast(t, 100*r.Recall, 1)
		claim("0 of 1,400 ham caught, phishing run", 0).AtMost(t, float64(r.Ham.Caught), 0)
	})
}

// BenchmarkEvalCV is how the weight model's settings were chosen: each
// variant by 5-fold cross-validation inside the learn set of the time
// split (ham interleaved, spam interleaved or in contiguous blocks), and
// online over its later 40% in Date order; the test half is never used.
// VIGIL_CV selects variants by name, separated by commas. Run:
//
//	VIGIL_CV=defaults go test -run '^$' -bench EvalCV -benchtime 1x ./cmd/vigil
func BenchmarkEvalCV(b *testing.B) {
	w := func(f func(*weights.Config)) func(*config.Config) {
		return func(c *config.Config) { f(&c.Weights) }
	}
	all := []cvVariant{
		{"weights off", w(func(c *weights.Config) { c.Enabled = false })},
		{"defaults", nil},
		{"ham_cost 30", w(func(c *weights.Config) { c.HamCost = 30 })},
		{"ham_cost 3", w(func(c *weights.Config) { c.HamCost = 3 })},
		{"ham_cost 50", w(func(c *weights.Config) { c.HamCost = 50 })},
		{"ham_cost 100", w(func(c *weights.Config) { c.HamCost = 100 })},
		{"rate 0.03", w(func(c *weights.Config) { c.Rate = 0.03 })},
		{"temperature 2", w(func(c *weights.Config) { c.Temperature = 2 })},
	}
	for _, v := range all {
		if sel := os.Getenv("VIGIL_CV"); sel != "" && !slices.Contains(strings.Split(sel, ","), v.name) {
			continue
		}
		b.Logf("%-16s online  %s", v.name, onlineRow(onlineCV(b, v, eval.Options{})))
		for _, blocked := range []bool{false, true} {
			b.Logf("%-16s blocked=%-5v %s", v.name, blocked, cvRow(crossValidate(b, v, blocked, eval.Options{})))
		}
	}
}

// BenchmarkCorpusEval is the throughput of `vigil eval --offline` on the
// static time split (learn 3,250 messages, judge 2,796; DNS answered
// NXDOMAIN on loopback), reported as messages/s. Run:
//
//	go test -run '^$' -bench CorpusEval -benchtime 1x ./cmd/vigil
func BenchmarkCorpusEval(b *testing.B) {
	learn := saMessages(b, "easy_ham", "hard_ham", "spam")
	test := saMessages(b, "easy_ham_2", "spam_2")
	for i := 0; i < b.N; i++ {
		rt, done := evalRuntime(b, nil)
		start := time.Now()
		if _, err := eval.Run(context.Background(), rt.engine, learn, test, eval.Options{}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(learn)+len(test))/time.Since(start).Seconds(), "msgs/s")
		done()
	}
}
