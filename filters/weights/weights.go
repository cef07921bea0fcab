// Package weights learns the weights of symbols from the same user reports
// that train reputation and the classifier: an online logistic model over
// the symbols of a message, in score points.
//
// Each symbol i of a message has a strength x_i (1, or for a graded symbol
// its score over its full weight: a reputation lean, the classifier's
// calibrated confidence) and a weight w_i, its score at full strength. The
// model's view of a message is p = σ((Σ w_i x_i − T)/τ): its weights are
// scores, T is the tag threshold and τ the temperature, so the model is
// trained where the verdict is taken. A report of class y moves every
// weight of the message by rate·c_y·(y − p)·x_i/τ, within the symbol's
// bounds, where c_y balances the classes by their report counts (users
// report spam far more often than ham) and charges a ham report ham_cost
// times more: a false positive costs more than a miss, and the weights
// learn to keep ham well below the threshold, not just on average. Stored is what the reports added to each weight,
// spam reports on one side and ham reports on the other, in the reputation
// store (store.WeightStore), so every node on one Redis uses the same
// weights, a report moved to the other class takes its update back, and
// old reports fade with the store's half-life: the weights drift back to
// their hand-set values when nobody reports.
package weights

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// Ids in the weight store: one per symbol, how many reports of each class
// each symbol was seen on, and the report counts.
const (
	symbolKind store.Kind = "symbol"
	seenKind   store.Kind = "seen"
	reportsID             = "model:reports"
)

// minContrast is how much more often, as a share of each class's reports,
// a symbol must be seen on one class than on the other for its weight to
// be learned. A symbol on nearly every message (DKIM_NONE on mail from
// before DKIM, SPF_NONE where nobody publishes SPF) tells nothing apart;
// learned, it would become a constant that lifts or lowers every message,
// and drift with whichever class was reported last.
const minContrast = 0.05

// minClassReports is how many reports of each class the model needs
// before it can tell whether a symbol contrasts the classes.
const minClassReports = 20

func symbolID(name string) string { return string(symbolKind) + ":" + name }

// Group is a set of symbols whose learned scores together stay within Cap
// in any one message (the client-IP inputs: the IP blocklists and the
// address and network reputation are one input, with a bounded weight).
type Group struct {
	Name    string
	Symbols []string
	Cap     float64
}

// Deps are the model's collaborators and the policy it learns under.
type Deps struct {
	// Store keeps the learned values. Required.
	Store store.WeightStore
	// Learnable says which symbols have learned weights (the catalogue's
	// symbols that report the message, not Vigil's state). Required.
	Learnable func(name string) bool
	// Defaults are the hand-set weights of symbols (their scores at full
	// strength), for listing weights without a message at hand.
	Defaults map[string]float64
	// Threshold is the tag threshold (actions.tag).
	Threshold float64
	// Fixed are the operator's scores (scores:): those symbols keep them
	// and are not learned.
	Fixed  map[string]float64
	Groups []Group
	Log    *slog.Logger
}

// Model learns and serves the weights.
type Model struct {
	cfg  Config
	deps Deps

	mu     sync.Mutex
	cached *Snapshot
	until  time.Time
}

// New returns the model over deps.Store.
func New(cfg Config, deps Deps) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Learnable == nil {
		return nil, errors.New("weights: no store or no catalogue")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &Model{cfg: cfg, deps: deps}, nil
}

// Snapshot is the model at one time. It implements filters.Weights.
type Snapshot struct {
	cfg  Config
	deps *Deps
	// dev is what reports added to each weight (learned − hand-set).
	dev map[string]float64
	// seen counts the reports of each class each symbol was seen on.
	seen map[string]store.Counts
	// reports are the learned reports by class.
	reports store.Counts
	// blend is how far the learned weights are trusted, 0..1.
	blend float64
}

var _ filters.Weights = (*Snapshot)(nil)

// blendFor is the trust in the learned weights after n reports: none
// below min_reports, then linearly more up to all at twice min_reports.
func blendFor(n, minReports float64) float64 {
	switch {
	case minReports <= 0:
		return 1
	case n < minReports:
		return 0
	}
	return math.Min(1, (n-minReports)/minReports)
}

func (m *Model) snapshotOf(values map[string]store.Counts) *Snapshot {
	s := &Snapshot{cfg: m.cfg, deps: &m.deps, dev: make(map[string]float64, len(values)), seen: map[string]store.Counts{}}
	for id, c := range values {
		if id == reportsID {
			s.reports = c
			continue
		}
		if name, ok := cutKind(id, symbolKind); ok {
			s.dev[name] = c.Spam - c.Ham
		} else if name, ok := cutKind(id, seenKind); ok {
			s.seen[name] = c
		}
	}
	s.blend = blendFor(s.reports.Total(), m.cfg.MinReports)
	return s
}

func cutKind(id string, k store.Kind) (string, bool) {
	p := string(k) + ":"
	if len(id) > len(p) && id[:len(p)] == p {
		return id[len(p):], true
	}
	return "", false
}

// Current returns the weights to judge with, read from the store at most
// every cache_ttl. When the store cannot be read it returns nil and the
// error: the message is judged on hand-set scores.
func (m *Model) Current(ctx context.Context) (*Snapshot, error) {
	now := time.Now()
	m.mu.Lock()
	if m.cached != nil && now.Before(m.until) {
		s := m.cached
		m.mu.Unlock()
		return s, nil
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(m.cfg.Timeout))
	defer cancel()
	values, err := m.deps.Store.Weights(ctx)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	s := m.snapshotOf(values)
	m.mu.Lock()
	m.cached, m.until = s, now.Add(time.Duration(m.cfg.CacheTTL))
	m.mu.Unlock()
	return s, nil
}

// forget drops the cached weights (after this process learned a report).
func (m *Model) forget() {
	m.mu.Lock()
	m.cached = nil
	m.mu.Unlock()
}

// bounds are the values a learned weight may take for hand-set weight d:
// never the other sign, at most max_shift away.
func bounds(d, shift float64) (lo, hi float64) {
	switch {
	case d > 0:
		return 0, d + shift
	case d < 0:
		return d - shift, 0
	}
	return -shift, shift
}

// learned is the learned weight of a symbol with hand-set weight d.
func (s *Snapshot) learned(name string, d float64) (float64, bool) {
	dev, ok := s.dev[name]
	if !ok {
		return d, false
	}
	lo, hi := bounds(d, s.cfg.MaxShift)
	return math.Min(hi, math.Max(lo, d+dev)), true
}

// Weigh implements filters.Weights: each learnable symbol with a learned
// weight gets score = (d + blend·(w − d)) × its strength; then each group's
// learned scores are scaled down together when they exceed its cap.
func (s *Snapshot) Weigh(syms []filters.Symbol, skip func(string) bool) {
	s.weigh(syms, skip, s.blend)
}

func (s *Snapshot) weigh(syms []filters.Symbol, skip func(string) bool, blend float64) {
	if blend <= 0 {
		return
	}
	changed := false
	for i := range syms {
		sym := &syms[i]
		if (skip != nil && skip(sym.Name)) || !s.deps.Learnable(sym.Name) {
			continue
		}
		d := sym.DefaultWeight()
		w, ok := s.learned(sym.Name, d)
		if !ok {
			continue
		}
		used := d + blend*(w-d)
		x := sym.Strength()
		sym.Score = math.Round(used*x*100) / 100
		sym.Weight = &filters.SymbolWeight{Default: d, Learned: round4(w), Used: round4(used)}
		changed = true
	}
	if changed {
		s.capGroups(syms, skip)
	}
}

// capGroups scales down the learned positive scores of each group's
// symbols in syms when together they exceed the group's cap.
func (s *Snapshot) capGroups(syms []filters.Symbol, skip func(string) bool) {
	for _, g := range s.deps.Groups {
		var sum float64
		var at []int
		for i := range syms {
			if syms[i].Weight == nil || syms[i].Score <= 0 || (skip != nil && skip(syms[i].Name)) {
				continue
			}
			for _, n := range g.Symbols {
				if n == syms[i].Name {
					sum += syms[i].Score
					at = append(at, i)
					break
				}
			}
		}
		if sum <= g.Cap || sum <= 0 {
			continue
		}
		f := g.Cap / sum
		for _, i := range at {
			// Round down so the rounded sum cannot exceed the cap.
			syms[i].Score = math.Floor(syms[i].Score*f*100) / 100
		}
	}
}

func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// Reports are the reports the weights learned from, by class.
func (s *Snapshot) Reports() store.Counts { return s.reports }

// Blend is how far the learned weights are used, 0 (hand-set only) to 1.
func (s *Snapshot) Blend() float64 { return s.blend }

// Listing is every learned weight with what it was learned from: what
// `vigil weights` and the admin listener's /weights print.
type Listing struct {
	// Reports are the reports learned, by class (decayed).
	Reports struct {
		Spam float64 `json:"spam"`
		Ham  float64 `json:"ham"`
	} `json:"reports"`
	// Blend is how far the learned weights are used: 0 until min_reports
	// reports, 1 from twice that.
	Blend   float64 `json:"blend"`
	Symbols []Row   `json:"symbols"`
}

// Listing lists the snapshot.
func (s *Snapshot) Listing() Listing {
	var l Listing
	l.Reports.Spam = round4(s.reports.Spam)
	l.Reports.Ham = round4(s.reports.Ham)
	l.Blend = round4(s.blend)
	l.Symbols = s.Rows()
	return l
}

// Row is one symbol's weights in a listing.
type Row struct {
	Name    string  `json:"name"`
	Default float64 `json:"default"`
	Learned float64 `json:"learned"`
	Used    float64 `json:"used"`
}

// Rows lists every symbol with a learned weight, by name: its hand-set
// weight (deps.Defaults, 0 when unknown), the learned one and the one used.
func (s *Snapshot) Rows() []Row {
	out := make([]Row, 0, len(s.dev))
	for name := range s.dev {
		d := s.deps.Defaults[name]
		w, _ := s.learned(name, d)
		out = append(out, Row{Name: name, Default: d, Learned: round4(w), Used: round4(d + s.blend*(w-d))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Learn learns one report: syms are the message's symbols as its checks
// reported them (before any weight or override), judged before the report
// itself was learned anywhere, so the model sees the message as it would
// have been judged. A report already learned as the same class is a
// duplicate; one learned as the other class is moved: its earlier update
// is taken back, and the new one is computed on the weights without it.
func (m *Model) Learn(ctx context.Context, digest string, syms []filters.Symbol, class store.Class) (store.Outcome, error) {
	if _, err := store.ParseClass(string(class)); err != nil {
		return "", err
	}
	digest = "weights:" + digest
	oldClass, contrib, had, err := m.deps.Store.WeightReport(ctx, digest)
	if err != nil {
		return "", fmt.Errorf("weights: %w", err)
	}
	if had && oldClass == class {
		return store.Duplicate, nil
	}
	values, err := m.deps.Store.Weights(ctx)
	if err != nil {
		return "", fmt.Errorf("weights: %w", err)
	}
	for _, d := range contrib {
		c := values[d.ID]
		c.Spam = math.Max(0, c.Spam-d.Spam)
		c.Ham = math.Max(0, c.Ham-d.Ham)
		values[d.ID] = c
	}
	keys := m.update(m.snapshotOf(values), syms, class)
	outcome, err := m.deps.Store.LearnWeights(ctx, digest, class, keys)
	if err != nil {
		return "", fmt.Errorf("weights: %w", err)
	}
	m.forget()
	return outcome, nil
}

// update is the logistic step for one report on the weights of s: the
// store keys to learn, each with the amount the report adds to its
// class's side.
func (m *Model) update(s *Snapshot, raw []filters.Symbol, class store.Class) []store.Key {
	syms := make([]filters.Symbol, len(raw))
	copy(syms, raw)
	skip := func(name string) bool { _, ok := m.deps.Fixed[name]; return ok }
	// The model's view: every learnable symbol at its learned weight, in
	// full (the blend is for verdicts, not for learning), groups capped.
	s.weigh(syms, skip, 1)
	var score float64
	for i := range syms {
		if f, ok := m.deps.Fixed[syms[i].Name]; ok {
			syms[i].Score = f
		}
		score += syms[i].Score
	}
	p := sigmoid((score - m.deps.Threshold) / m.cfg.Temperature)
	y := 0.0
	if class == store.Spam {
		y = 1
	}
	// Balance the classes by their report counts (one virtual report
	// each): with ten spam reports per ham report, a ham report weighs
	// about ten times more, so the weights follow the evidence and not
	// the reporting habits.
	n := s.reports.Total()
	ny := s.reports.Ham
	if class == store.Spam {
		ny = s.reports.Spam
	}
	cost := (n + 2) / (2 * (ny + 1))
	if class == store.Ham {
		cost *= m.cfg.HamCost
	}
	step := m.cfg.Rate * cost * (y - p) / m.cfg.Temperature

	keys := []store.Key{{Kind: "model", Value: "reports", Weight: 1}}
	seen := map[string]bool{}
	for _, sym := range raw {
		if seen[sym.Name] || skip(sym.Name) || !m.deps.Learnable(sym.Name) {
			continue
		}
		seen[sym.Name] = true
		keys = append(keys, store.Key{Kind: seenKind, Value: sym.Name, Weight: 1})
		if !s.contrasts(sym.Name) {
			continue
		}
		x := sym.Strength()
		if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		d := sym.DefaultWeight()
		w, _ := s.learned(sym.Name, d)
		lo, hi := bounds(d, m.cfg.MaxShift)
		u := step * x
		// Clip at the bounds, so what is stored stays within them.
		u = math.Min(hi-w, math.Max(lo-w, u))
		if math.Abs(u) < 1e-6 {
			continue
		}
		// A spam report only raises weights and a ham report only lowers
		// them (strengths are positive): the class says the side.
		keys = append(keys, store.Key{Kind: symbolKind, Value: sym.Name, Weight: math.Abs(u)})
	}
	return keys
}

// contrasts says whether the symbol is seen on a share of one class's
// reports at least minContrast above its share of the other's.
func (s *Snapshot) contrasts(name string) bool {
	if s.reports.Spam < minClassReports || s.reports.Ham < minClassReports {
		return false
	}
	c := s.seen[name]
	return math.Abs(c.Spam/s.reports.Spam-c.Ham/s.reports.Ham) >= minContrast
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
