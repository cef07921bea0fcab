package weights

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// The synthetic symbols: SPAMMY is evidence of spam by hand at 1.5,
// HAMMY of ham at -0.5, BOTH is on every message, NOISE on a random half
// of both classes, LIST is a client-IP blocklist at 3, REP_IP_SPAM the
// address's reputation; ERRSTATE is Vigil's state, never learned.
var defaults = map[string]float64{"SPAMMY": 1.5, "HAMMY": -0.5, "BOTH": 0.3, "NOISE": 0.2, "LIST": 3, "REP_IP_SPAM": 1}

func newModel(t *testing.T, st store.WeightStore, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg, Deps{
		Store:     st,
		Learnable: func(n string) bool { _, ok := defaults[n]; return ok },
		Defaults:  defaults,
		Threshold: 5,
		Groups:    []Group{{Name: "client-ip", Symbols: []string{"LIST", "REP_IP_SPAM"}, Cap: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sym(name string) filters.Symbol { return filters.Symbol{Name: name, Score: defaults[name]} }

// message returns the symbols of a synthetic message of the class.
func message(r *rand.Rand, spam bool) []filters.Symbol {
	out := []filters.Symbol{sym("BOTH")}
	if spam {
		out = append(out, sym("SPAMMY"))
	} else {
		out = append(out, sym("HAMMY"))
	}
	if r.IntN(2) == 0 {
		out = append(out, sym("NOISE"))
	}
	return out
}

func score(t *testing.T, m *Model, syms []filters.Symbol) float64 {
	t.Helper()
	snap, err := m.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v := filters.Decide(syms, filters.Policy{Tag: 5, Reject: 15, Weights: snap})
	return v.Score
}

func learn(t *testing.T, m *Model, digest string, syms []filters.Symbol, class store.Class) store.Outcome {
	t.Helper()
	o, err := m.Learn(context.Background(), digest, syms, class)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func cfg() Config {
	c := DefaultConfig()
	c.MinReports = 0
	c.CacheTTL = 0
	return c
}

// TestConverges: on separable synthetic messages the weights learn to put
// every spam at or above the tag threshold and every ham well below it,
// though by hand neither class comes near it; the symbol on every message
// and the one on a random half of both classes are not learned.
func TestConverges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := newModel(t, store.NewMemory(), cfg())
	spam := message(r, true)
	if s := score(t, m, spam); s >= 5 {
		t.Fatalf("by hand spam scores %v: the test needs it under the threshold", s)
	}
	for i := 0; i < 600; i++ {
		isSpam := i%4 != 0 // three spam reports for one ham report
		learn(t, m, fmt.Sprintf("d%d", i), message(r, isSpam), map[bool]store.Class{true: store.Spam, false: store.Ham}[isSpam])
	}
	for i := 0; i < 20; i++ {
		if s := score(t, m, message(r, true)); s < 5 {
			t.Errorf("spam scores %v after learning, want >= 5", s)
		}
		if s := score(t, m, message(r, false)); s > 0 {
			t.Errorf("ham scores %v after learning, want <= 0", s)
		}
	}
	snap, _ := m.Current(context.Background())
	rows := map[string]Row{}
	for _, row := range snap.Rows() {
		rows[row.Name] = row
	}
	if rows["SPAMMY"].Learned <= 1.5 || rows["HAMMY"].Learned >= -0.5 {
		t.Errorf("SPAMMY %+v, HAMMY %+v: want them moved apart", rows["SPAMMY"], rows["HAMMY"])
	}
	if row, ok := rows["BOTH"]; ok && row.Learned != defaults["BOTH"] {
		t.Errorf("BOTH learned %+v: a symbol on every message must keep its weight", row)
	}
	if row := rows["NOISE"]; math.Abs(row.Learned-defaults["NOISE"]) > math.Abs(rows["SPAMMY"].Learned-defaults["SPAMMY"])/2 {
		t.Errorf("NOISE learned %+v, SPAMMY %+v: noise moved as far as evidence", row, rows["SPAMMY"])
	}
	// Explainable: the verdict's symbols carry their weights.
	v := filters.Decide(message(r, true), filters.Policy{Tag: 5, Reject: 15, Weights: snap})
	for _, s := range v.Symbols {
		if s.Name == "SPAMMY" && (s.Weight == nil || s.Weight.Default != 1.5 || s.Weight.Learned != rows["SPAMMY"].Learned || s.Weight.Used != s.Score) {
			t.Errorf("SPAMMY in the verdict: %+v %+v", s, s.Weight)
		}
	}
}

// TestMoveRestores: a report moved to the other class takes its update
// back, and is learned as if it had always been of the new class; moved
// back, the weights are what they were.
func TestMoveRestores(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var reports [][]filters.Symbol
	for i := 0; i < 80; i++ {
		reports = append(reports, message(r, i%2 == 0))
	}
	x := []filters.Symbol{sym("BOTH"), sym("SPAMMY"), sym("NOISE")}
	build := func(st store.WeightStore) *Model {
		m := newModel(t, st, cfg())
		for i, syms := range reports {
			learn(t, m, fmt.Sprintf("r%d", i), syms, map[bool]store.Class{true: store.Spam, false: store.Ham}[i%2 == 0])
		}
		return m
	}
	rows := func(m *Model) map[string]float64 {
		snap, err := m.Current(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, row := range snap.Rows() {
			out[row.Name] = row.Learned
		}
		out["#reports"] = snap.Reports().Total()
		return out
	}
	same := func(what string, a, b map[string]float64) {
		t.Helper()
		for k := range a {
			if math.Abs(a[k]-b[k]) > 1e-9 {
				t.Errorf("%s: %s is %v, want %v", what, k, a[k], b[k])
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok && math.Abs(b[k]-defaults[k]) > 1e-9 {
				t.Errorf("%s: %s missing, want %v", what, k, b[k])
			}
		}
	}
	m := build(store.NewMemory())
	asSpam := func() map[string]float64 {
		ref := build(store.NewMemory())
		learn(t, ref, "x", x, store.Spam)
		return rows(ref)
	}()
	asHam := func() map[string]float64 {
		ref := build(store.NewMemory())
		learn(t, ref, "x", x, store.Ham)
		return rows(ref)
	}()
	if o := learn(t, m, "x", x, store.Spam); o != store.Learned {
		t.Fatalf("first report: %s", o)
	}
	same("learned as spam", rows(m), asSpam)
	if o := learn(t, m, "x", x, store.Spam); o != store.Duplicate {
		t.Fatalf("same report again: %s", o)
	}
	same("duplicate", rows(m), asSpam)
	if o := learn(t, m, "x", x, store.Ham); o != store.Moved {
		t.Fatalf("moved report: %s", o)
	}
	same("moved to ham", rows(m), asHam)
	learn(t, m, "x", x, store.Spam)
	same("moved back to spam", rows(m), asSpam)
}

// TestBoundsUnderFloods: a flood of ham reports for mail on a client-IP
// list cannot make the list evidence of ham, a flood of spam reports
// cannot take the IP inputs together past their cap, and no weight moves
// further than max_shift from its hand-set value.
func TestBoundsUnderFloods(t *testing.T) {
	m := newModel(t, store.NewMemory(), cfg())
	listed := []filters.Symbol{sym("BOTH"), sym("LIST"), sym("REP_IP_SPAM")}
	// Reports of both classes first, so that the model learns at all.
	for i := 0; i < 20; i++ {
		learn(t, m, fmt.Sprintf("c%d", i), []filters.Symbol{sym("BOTH"), sym("SPAMMY")}, store.Spam)
		learn(t, m, fmt.Sprintf("d%d", i), []filters.Symbol{sym("BOTH")}, store.Ham)
	}
	for i := 0; i < 2000; i++ {
		learn(t, m, fmt.Sprintf("h%d", i), listed, store.Ham)
	}
	snap, _ := m.Current(context.Background())
	moved := 0
	for _, row := range snap.Rows() {
		if row.Name == "LIST" || row.Name == "REP_IP_SPAM" {
			if row.Learned < 0 {
				t.Errorf("%s learned %v after a ham flood: an IP list must never count for ham", row.Name, row.Learned)
			}
			if row.Learned < row.Default {
				moved++
			}
		}
	}
	if moved != 2 {
		t.Errorf("the ham flood did not lower the IP inputs (rows %+v): the test tests nothing", snap.Rows())
	}
	if s := score(t, m, listed); s < 0 {
		t.Errorf("a listed message scores %v after the ham flood", s)
	}
	for i := 0; i < 4000; i++ {
		learn(t, m, fmt.Sprintf("s%d", i), listed, store.Spam)
	}
	snap, _ = m.Current(context.Background())
	v := filters.Decide(listed, filters.Policy{Tag: 5, Reject: 15, Weights: snap})
	var ip float64
	for _, s := range v.Symbols {
		if s.Name == "LIST" || s.Name == "REP_IP_SPAM" {
			ip += s.Score
		}
	}
	if ip > 4+1e-9 {
		t.Errorf("the IP inputs score %v together after a spam flood, cap 4", ip)
	}
	for _, row := range snap.Rows() {
		if math.Abs(row.Learned-row.Default) > cfg().MaxShift+1e-9 {
			t.Errorf("%s moved from %v to %v, more than max_shift", row.Name, row.Default, row.Learned)
		}
	}
	// An operator's score wins over anything learned.
	v = filters.Decide(listed, filters.Policy{Tag: 5, Reject: 15, Weights: snap, Scores: map[string]float64{"LIST": 0.25}})
	for _, s := range v.Symbols {
		if s.Name == "LIST" && (s.Score != 0.25 || s.Weight != nil) {
			t.Errorf("LIST with scores: %+v", s)
		}
	}
	// A forced action stays forced, whatever was learned.
	forced := append([]filters.Symbol{{Name: "DMARC_POLICY_REJECT", Force: filters.Reject}}, listed...)
	if v := filters.Decide(forced, filters.Policy{Tag: 5, Reject: 15, Weights: snap}); v.Action != filters.Reject {
		t.Errorf("forced reject became %s", v.Action)
	}
	// So does an operator's deny list, even when the learned weights
	// would score the message far below the tag threshold.
	denied := append([]filters.Symbol{{Name: "MY_DENY", List: filters.ListDeny}}, listed...)
	if v := filters.Decide(denied, filters.Policy{Tag: 5, Reject: 15, Weights: snap}); v.Action != filters.Reject {
		t.Errorf("an operator's deny list became %s", v.Action)
	}
}

// TestSafeStart: until min_reports reports the hand-set scores are used;
// then the learned weights are blended in, fully at twice min_reports.
func TestSafeStart(t *testing.T) {
	c := cfg()
	c.MinReports = 100
	m := newModel(t, store.NewMemory(), c)
	r := rand.New(rand.NewPCG(5, 6))
	spam := []filters.Symbol{sym("BOTH"), sym("SPAMMY")}
	hand := score(t, m, spam)
	for i := 0; i < 99; i++ {
		learn(t, m, fmt.Sprintf("d%d", i), message(r, i%2 == 0), map[bool]store.Class{true: store.Spam, false: store.Ham}[i%2 == 0])
	}
	if s := score(t, m, spam); s != hand {
		t.Errorf("after 99 reports spam scores %v, want the hand-set %v", s, hand)
	}
	snap, _ := m.Current(context.Background())
	if snap.Blend() != 0 {
		t.Errorf("blend %v before min_reports", snap.Blend())
	}
	for i := 99; i < 150; i++ {
		learn(t, m, fmt.Sprintf("d%d", i), message(r, i%2 == 0), map[bool]store.Class{true: store.Spam, false: store.Ham}[i%2 == 0])
	}
	snap, _ = m.Current(context.Background())
	if b := snap.Blend(); math.Abs(b-0.5) > 1e-9 {
		t.Errorf("blend %v after 150 reports, want 0.5", b)
	}
	var full float64
	for _, row := range snap.Rows() {
		if row.Name == "SPAMMY" {
			full = row.Learned
			if math.Abs(row.Used-(1.5+0.5*(row.Learned-1.5))) > 1e-4 {
				t.Errorf("SPAMMY used %v, learned %v: want half way", row.Used, row.Learned)
			}
		}
	}
	if full <= 1.5 {
		t.Errorf("SPAMMY learned %v", full)
	}
}

// TestStoreDown: when the weights cannot be read the message is judged on
// hand-set scores, and a report cannot be learned.
func TestStoreDown(t *testing.T) {
	m := newModel(t, downStore{}, cfg())
	if _, err := m.Current(context.Background()); err == nil {
		t.Error("no error from a store that is down")
	}
	if _, err := m.Learn(context.Background(), "d", []filters.Symbol{sym("SPAMMY")}, store.Spam); err == nil {
		t.Error("learned into a store that is down")
	}
}

type downStore struct{}

func (downStore) Weights(context.Context) (map[string]store.Counts, error) {
	return nil, store.ErrUnavailable
}
func (downStore) WeightReport(context.Context, string) (store.Class, []store.Delta, bool, error) {
	return "", nil, false, store.ErrUnavailable
}
func (downStore) LearnWeights(context.Context, string, store.Class, []store.Key) (store.Outcome, error) {
	return "", store.ErrUnavailable
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for key, mutate := range map[string]func(*Config){
		"weights.min_reports": func(c *Config) { c.MinReports = -1 },
		"weights.rate":        func(c *Config) { c.Rate = 0 },
		"weights.temperature": func(c *Config) { c.Temperature = math.NaN() },
		"weights.ham_cost":    func(c *Config) { c.HamCost = 0 },
		"weights.max_shift":   func(c *Config) { c.MaxShift = -2 },
		"weights.cache_ttl":   func(c *Config) { c.CacheTTL = -1 },
		"weights.timeout":     func(c *Config) { c.Timeout = 0 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil || !contains(err.Error(), key+":") {
			t.Errorf("%s: Validate() = %v", key, err)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
