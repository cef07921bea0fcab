// Package bayes is the "bayes" check: a statistical content classifier
// learned from the same user feedback as the reputation store. Tokens are
// taken from what a reader sees and the sender controls (visible text,
// Subject, selected headers, URL hosts, images); their spam and ham counts
// live in the reputation store under their own key kind, and a message is
// scored with Robinson's chi-square combining, as SpamBayes and Bogofilter
// do.
package bayes

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// Name is the check's name.
const Name = "bayes"

// Symbols.
const (
	SymSpam = "BAYES_SPAM"
	SymHam  = "BAYES_HAM"
)

// Spec declares the check and its symbols; their scores scale with the
// classifier's confidence between the threshold and the bound.
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "bayes",
	Symbols: []filters.SymbolSpec{
		{Name: SymSpam, ScoreDoc: "0 to bayes.max_score", Doc: "the spam probability is at or above bayes.spam_threshold: 0 there, rising linearly in log-odds to max_score at bayes.spam_full and beyond"},
		{Name: SymHam, ScoreDoc: "0 to bayes.min_score", Doc: "the spam probability is at or below bayes.ham_threshold: 0 there, falling linearly in log-odds to min_score at bayes.ham_full and below"},
	},
})

// KindToken is the reputation key kind of classifier tokens. Token values
// are hashed (64-bit FNV-1a, base64url): keys have a fixed small size and
// the store holds no readable words of anyone's mail.
const KindToken store.Kind = "bayes"

// messagesID is the key counting learned spam and ham messages. '#' is not
// a base64url character, so no token hash can take this id.
const messagesID = string(KindToken) + ":" + messagesValue

// digestPrefix keeps the classifier's learned-message records apart from
// the reputation records of the same message in the same store.
const digestPrefix = "bayes:"

// messagesValue is the key value of messagesID.
const messagesValue = "#messages"

// TokenID is the store id of a token: "bayes:" and its hash. It is built
// in one buffer (one allocation per token: the classifier makes an id for
// every token of every message).
func TokenID(tok string) string {
	const prefix = string(KindToken) + ":"
	var b [len(prefix) + tokenValueLen]byte
	copy(b[:], prefix)
	putTokenValue(b[len(prefix):], tok)
	return string(b[:])
}

// tokenValueLen is the length of a token's key value: 8 bytes in
// unpadded base64url.
const tokenValueLen = 11

// tokenValue is the key value of a token: 64-bit FNV-1a, base64url (11
// characters).
func tokenValue(tok string) string {
	var b [tokenValueLen]byte
	putTokenValue(b[:], tok)
	return string(b[:])
}

// putTokenValue writes tok's key value into dst (tokenValueLen bytes):
// FNV-1a (64-bit) over the token's bytes, big-endian, base64url without
// padding. FNV-1a is computed inline (hash/fnv's Write would copy the
// token into a byte slice).
func putTokenValue(dst []byte, tok string) {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(tok); i++ {
		h ^= uint64(tok[i])
		h *= prime64
	}
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], h)
	base64.RawURLEncoding.Encode(dst, sum[:])
}

// Params are Robinson's parameters (Gary Robinson, "A Statistical Approach
// to the Spam Problem", Linux Journal 2003): a token seen n times has
// probability f = (S*X + n*p)/(S + n); only tokens with |f-0.5| >= MinDev
// count, at most MaxClues of them (0: all, as Bogofilter), the most extreme
// first.
type Params struct {
	S        float64
	X        float64
	MinDev   float64
	MaxClues int
	// Balance in [0, 1] scales the evidence n of a token towards units of
	// the smaller class: at 1, with 500 spam and 2750 ham learned, a word
	// seen in 45 ham and no spam weighs like one seen in 8 spam and no
	// ham; at 0 (Robinson) like one seen in 45, so the bigger class's
	// words are the most extreme.
	Balance float64
	// Geometric selects Robinson's earlier geometric-mean combining
	// (P = 1 - (Π(1-f))^(1/k), Q = 1 - (Π f)^(1/k), S = (1 + (P-Q)/(P+Q))/2)
	// instead of the chi-square (Fisher) indicator; compared in cv_test.go.
	Geometric bool
	// MinCount skips tokens learned fewer than MinCount times in all
	// (hapaxes at 2); 0 keeps every token, as SpamBayes does.
	MinCount float64
}

// DefaultParams are the textbook s=1, x=0.5, min_dev 0.1, with every clue
// rather than SpamBayes's 150 most extreme: chosen by cross-validation
// inside the training folders of the SpamAssassin corpus (README.md).
var DefaultParams = Params{S: 1, X: 0.5, MinDev: 0.1, MaxClues: 0}

// Score is the classifier's answer for one message.
type Score struct {
	// Prob is the chi-square indicator in [0, 1]: near 1 spam, near 0 ham,
	// 0.5 when the evidence is absent or balanced.
	Prob float64
	// Clues is the number of tokens that took part.
	Clues int
	// Spam and Ham are the learned message counts the probabilities used.
	Spam, Ham float64
}

// Classify computes the chi-square indicator of a message from the counts
// of its tokens and the counts of learned messages.
//
// For each token with spam count b and ham count g out of nspam and nham
// messages: p = (b/nspam) / (b/nspam + g/nham), f = (s*x + n*p)/(s + n)
// with n = b + g. With the k kept clues, S = 1 - C⁻¹(-2 Σ ln(1-f), 2k) and
// H = 1 - C⁻¹(-2 Σ ln f, 2k), where C⁻¹ is the upper tail of the
// chi-square distribution; the indicator is (1 + S - H)/2 (SpamBayes
// chi2_spamprob; Robinson's I = (1 + H' - S') with his H', S' named for
// the opposite tails).
func Classify(p Params, nspam, nham float64, counts []store.Counts) Score {
	sc := Score{Prob: 0.5, Spam: nspam, Ham: nham}
	if nspam <= 0 || nham <= 0 {
		return sc
	}
	ws, wh := 1.0, 1.0
	if p.Balance > 0 {
		ws, wh = math.Pow(math.Min(1, nham/nspam), p.Balance), math.Pow(math.Min(1, nspam/nham), p.Balance)
	}
	fs := make([]float64, 0, len(counts))
	for _, c := range counts {
		n := c.Spam*ws + c.Ham*wh
		if n <= 0 || c.Spam+c.Ham < p.MinCount {
			continue
		}
		b := math.Min(c.Spam/nspam, 1)
		g := math.Min(c.Ham/nham, 1)
		if b+g == 0 {
			continue
		}
		pw := b / (b + g)
		f := (p.S*p.X + n*pw) / (p.S + n)
		if math.Abs(f-0.5) < p.MinDev || math.IsNaN(f) {
			continue
		}
		fs = append(fs, f)
	}
	sort.Slice(fs, func(i, j int) bool { return math.Abs(fs[i]-0.5) > math.Abs(fs[j]-0.5) })
	if p.MaxClues > 0 && len(fs) > p.MaxClues {
		fs = fs[:p.MaxClues]
	}
	if len(fs) == 0 {
		return sc
	}
	var lnS, lnH float64
	for _, f := range fs {
		// Clamp so one token seen only in one class cannot make a log
		// infinite (f is never exactly 0 or 1 when s > 0, but s may be 0).
		f = math.Min(math.Max(f, 1e-9), 1-1e-9)
		lnS += math.Log(1 - f)
		lnH += math.Log(f)
	}
	k := len(fs)
	sc.Clues = k
	if p.Geometric {
		pp := 1 - math.Exp(lnS/float64(k))
		q := 1 - math.Exp(lnH/float64(k))
		sc.Prob = 0.5
		if pp+q > 0 {
			sc.Prob = (1 + (pp-q)/(pp+q)) / 2
		}
		return sc
	}
	s := 1 - chi2Q(-2*lnS, 2*k)
	h := 1 - chi2Q(-2*lnH, 2*k)
	sc.Prob = (1 + s - h) / 2
	sc.Clues = k
	return sc
}

// chi2Q is the probability that a chi-square variable with v (even)
// degrees of freedom exceeds x2: the Poisson tail Σ_{i<v/2} e^-m m^i / i!
// with m = x2/2. Terms are computed in log space, so a large x2 does not
// underflow e^-m before the sum is taken.
func chi2Q(x2 float64, v int) float64 {
	if x2 <= 0 || math.IsNaN(x2) {
		return 1
	}
	m := x2 / 2
	lnM := math.Log(m)
	logTerm := -m
	sum := math.Exp(logTerm)
	for i := 1; i < v/2; i++ {
		logTerm += lnM - math.Log(float64(i))
		sum += math.Exp(logTerm)
	}
	return math.Min(sum, 1)
}

// Check is the "bayes" check. It reads Facts.Content, so it runs after the
// content check.
type Check struct {
	st     store.Store
	cfg    Config
	params Params
	log    *slog.Logger

	// gate remembers, for gateTTL, that too few messages were learned for
	// the classifier to speak, so an untrained classifier costs neither
	// tokenizing nor a large store read per message.
	gateMu    sync.Mutex
	gateUntil time.Time
	gateTTL   time.Duration
}

// gateTTL is how long "not enough learned yet" is trusted.
const gateTTL = 10 * time.Second

// Deps are the check's collaborators.
type Deps struct {
	// Store holds the token counts; without one the check is silent.
	Store store.Store
	Log   *slog.Logger
}

var _ filters.Check = (*Check)(nil)

// New returns the check reading token counts from the store.
func New(cfg Config, deps Deps) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &Check{st: deps.Store, cfg: cfg, params: DefaultParams, log: deps.Log, gateTTL: gateTTL}, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Run implements filters.Check: one batched store read (the message
// counts and every token), then the classifier.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	if !c.cfg.Enabled || c.st == nil {
		return nil, nil
	}
	sc, err := c.Score(ctx, m)
	if err != nil {
		return nil, err
	}
	if sym, ok := c.symbol(sc); ok {
		return []filters.Symbol{sym}, nil
	}
	return nil, nil
}

// Score tokenises m and classifies it; the Score has Prob 0.5 and no
// clues when fewer than min_spam/min_ham messages were learned.
func (c *Check) Score(ctx context.Context, m *filters.Message) (Score, error) {
	if c.untrained(ctx) {
		return Score{Prob: 0.5}, nil
	}
	toks := messageTokens(m, c.cfg.MaxTokens)
	ids := make([]string, 1, len(toks)+1)
	ids[0] = messagesID
	for _, t := range toks {
		ids = append(ids, TokenID(t))
	}
	// Sorted ids read a B+tree (bbolt) in key order, page after page;
	// the classifier does not care about the order of its clues.
	sort.Strings(ids[1:])
	ctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	counts, err := c.st.Counts(ctx, ids)
	if err != nil {
		return Score{}, fmt.Errorf("bayes: reading token counts: %w", err)
	}
	if len(counts) != len(ids) {
		return Score{}, fmt.Errorf("bayes: store returned %d counts for %d ids", len(counts), len(ids))
	}
	nspam, nham := counts[0].Spam, counts[0].Ham
	if nspam < c.cfg.MinSpam || nham < c.cfg.MinHam {
		c.closeGate()
		return Score{Prob: 0.5, Spam: nspam, Ham: nham}, nil
	}
	return Classify(c.params, nspam, nham, counts[1:]), nil
}

// untrained reports whether the classifier is known (within gateTTL) to
// have too few learned messages. It never reads the store itself: the
// first message after the gate expires takes the full path, whose single
// read tells again.
func (c *Check) untrained(context.Context) bool {
	c.gateMu.Lock()
	defer c.gateMu.Unlock()
	return time.Now().Before(c.gateUntil)
}

// Learned tells the check that this process learned a report: the gate
// opens at once, so the classifier speaks as soon as enough is learned
// (not up to gateTTL later), and replays that learn and judge in turn
// (vigil eval) do not depend on the clock.
func (c *Check) Learned() {
	c.gateMu.Lock()
	c.gateUntil = time.Time{}
	c.gateMu.Unlock()
}

func (c *Check) closeGate() {
	c.gateMu.Lock()
	c.gateUntil = time.Now().Add(c.gateTTL)
	c.gateMu.Unlock()
}

// symbol maps a score to BAYES_SPAM / BAYES_HAM, or nothing in the unsure
// band.
func (c *Check) symbol(sc Score) (filters.Symbol, bool) {
	return Symbolize(c.cfg, sc)
}

// Symbolize is the symbol of a score under cfg's thresholds and bounds.
// The chi-square indicator is not a probability: its log-odds spread over
// tens of units where a calibrated probability would spread over a few.
// So the score grows linearly in log-odds, from 0 at the threshold to the
// full score at spam_full (ham_full) and stays there beyond: a message the
// classifier is sure of scores max_score, enough to tag on its own, and
// one it leans on scores in proportion. The points were chosen by
// cross-validation inside the training folders (README.md).
func Symbolize(cfg Config, sc Score) (filters.Symbol, bool) {
	if sc.Clues == 0 {
		return filters.Symbol{}, false
	}
	detail := fmt.Sprintf("prob=%.6f clues=%d learned spam=%.0f ham=%.0f", sc.Prob, sc.Clues, sc.Spam, sc.Ham)
	l := logit(sc.Prob)
	switch {
	case sc.Prob >= cfg.SpamThreshold && sc.Prob > 0.5:
		s := strength(l, logit(cfg.SpamThreshold), logit(cfg.SpamFull))
		return filters.Symbol{Name: SymSpam, Score: round2(cfg.MaxScore * s), Full: cfg.MaxScore, Detail: detail}, true
	case sc.Prob <= cfg.HamThreshold && sc.Prob < 0.5:
		s := strength(-l, -logit(cfg.HamThreshold), -logit(cfg.HamFull))
		return filters.Symbol{Name: SymHam, Score: round2(cfg.MinScore * s), Full: cfg.MinScore, Detail: detail}, true
	}
	return filters.Symbol{}, false
}

// logit is the log-odds of p, kept finite (the indicator reaches 0 and 1).
func logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-15), 1-1e-15)
	return math.Log(p / (1 - p))
}

// strength is where l lies between from (0) and to (1), clamped.
func strength(l, from, to float64) float64 {
	if to <= from {
		return 1
	}
	return clamp01((l - from) / (to - from))
}

func clamp01(f float64) float64 { return math.Min(math.Max(f, 0), 1) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }
