package reputation

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// SymbolUnavailable is reported (score 0) when the store could not be read in
// time; the message is then judged without reputation.
const SymbolUnavailable = "REP_UNAVAILABLE"

// family groups kinds under one symbol prefix: at most one symbol per
// family and message.
type family struct {
	prefix   string // REP_<prefix>_SPAM / _HAM
	kinds    []Kind
	spamOnly bool
}

var families = []family{
	{prefix: "IP", kinds: []Kind{KindIP}},
	{prefix: "NET", kinds: []Kind{KindNet}},
	{prefix: "SENDER", kinds: []Kind{KindSender, KindSenderUnauth}},
	{prefix: "DOMAIN", kinds: []Kind{KindDomain}},
	{prefix: "NS", kinds: []Kind{KindNS, KindNSIP}},
	{prefix: "URL", kinds: []Kind{KindURL}},
	{prefix: "CONTENT", kinds: []Kind{KindContent}},
	// An image that users marked as ham says little (logos and spacers
	// appear in spam too); only its spam side scores.
	{prefix: "IMAGE", kinds: []Kind{KindImage}, spamOnly: true},
	// Likewise a landing page: a page reported as ham proves nothing about
	// the next message linking to it.
	{prefix: "PAGE", kinds: []Kind{KindPage}, spamOnly: true},
}

// minLean is how far from 50/50 a key's smoothed spam share must be
// (as 2p-1) to score at all.
const minLean = 0.2

// Check is the "reputation" check (stage reputation): it reads the counts of
// every key of the message in one store call and reports REP_* symbols.
type Check struct {
	store Store
	cfg   Config
	log   *slog.Logger
	cache *countCache

	// Unavailable counts messages scored without reputation because the
	// store failed (for metrics: vigil_reputation_unavailable_total).
	Unavailable atomic.Int64
	lastWarn    atomic.Int64
}

// NewCheck returns the check over store with cfg's thresholds and caps.
func NewCheck(store Store, cfg Config, log *slog.Logger) *Check {
	if log == nil {
		log = slog.Default()
	}
	c := &Check{store: store, cfg: cfg, log: log}
	if cfg.CacheTTL > 0 {
		c.cache = &countCache{ttl: time.Duration(cfg.CacheTTL), max: 100000, m: map[string]cachedCounts{}}
	}
	return c
}

// Name implements filters.Check.
func (c *Check) Name() string { return "reputation" }

// Run implements filters.Check. A store error yields REP_UNAVAILABLE
// (score 0), a rate-limited warning and filters.ErrIncomplete: the message
// is judged without reputation, or tempfailed when policy.fail_closed
// lists "reputation".
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	keys := Keys(m)
	if len(keys) == 0 {
		return nil, nil
	}
	counts, err := c.counts(ctx, keys)
	if err != nil {
		c.Unavailable.Add(1)
		now := time.Now().UnixNano()
		if last := c.lastWarn.Load(); now-last > int64(10*time.Second) && c.lastWarn.CompareAndSwap(last, now) {
			c.log.Warn("reputation store unavailable; scoring without reputation", "queue_id", m.Envelope.QueueID, "err", err, "unavailable_total", c.Unavailable.Load())
		}
		return []filters.Symbol{{Name: SymbolUnavailable, Detail: err.Error()}}, fmt.Errorf("reputation: %w: %w", filters.ErrIncomplete, err)
	}
	return Score(c.cfg, keys, counts), nil
}

func (c *Check) counts(ctx context.Context, keys []Key) ([]Counts, error) {
	out := make([]Counts, len(keys))
	var missIDs []string
	var missAt []int
	now := time.Now()
	for i, k := range keys {
		if cc, ok := c.cache.get(k.ID(), now); ok {
			out[i] = cc
			continue
		}
		missIDs = append(missIDs, k.ID())
		missAt = append(missAt, i)
	}
	if len(missIDs) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	got, err := c.store.Counts(ctx, missIDs)
	if err != nil {
		return nil, err
	}
	if len(got) != len(missIDs) {
		return nil, fmt.Errorf("%w: store returned %d counts for %d keys", ErrUnavailable, len(got), len(missIDs))
	}
	for j, i := range missAt {
		out[i] = got[j]
		c.cache.put(missIDs[j], got[j], now)
	}
	return out, nil
}

// evidenceTolerance is how far below min_evidence decayed counts may be.
const evidenceTolerance = 0.01

// keyScore is the smoothed lean of one key towards spam (+) or ham (-),
// scaled by its kind's cap.
func keyScore(cfg Config, k Key, c Counts) (float64, bool) {
	n := c.Total()
	// The tolerance keeps decay from hiding fresh evidence: three reports
	// learned seconds ago decay to 2.99999 and must still meet 3.
	if n < cfg.MinEvidence-evidenceTolerance || n <= 0 {
		return 0, false
	}
	// Laplace smoothing (one virtual spam and one virtual ham): a key needs
	// consistent evidence to lean far, and leans further with more of it.
	p := (c.Spam + 1) / (n + 2)
	lean := 2*p - 1
	if math.Abs(lean) < minLean {
		return 0, false
	}
	return cfg.Caps.of(k.Kind) * lean, true
}

// Score turns keys and their counts into symbols: per family at most one
// REP_<F>_SPAM or REP_<F>_HAM. When a family has both spammy and hammy keys
// only the spam side scores: a spammer can cheaply add links to reputable
// sites, not remove its own.
func Score(cfg Config, keys []Key, counts []Counts) []filters.Symbol {
	var out []filters.Symbol
	for _, f := range families {
		var spam, ham *filters.Symbol
		for i, k := range keys {
			if !f.has(k.Kind) || i >= len(counts) {
				continue
			}
			s, ok := keyScore(cfg, k, counts[i])
			if !ok {
				continue
			}
			sym := filters.Symbol{
				Score:  math.Round(s*100) / 100,
				Detail: fmt.Sprintf("%s spam=%.1f ham=%.1f", k.ID(), counts[i].Spam, counts[i].Ham),
			}
			switch {
			case s > 0 && (spam == nil || sym.Score > spam.Score):
				sym.Name = "REP_" + f.prefix + "_SPAM"
				spam = &sym
			case s < 0 && !f.spamOnly && (ham == nil || sym.Score < ham.Score):
				sym.Name = "REP_" + f.prefix + "_HAM"
				ham = &sym
			}
		}
		switch {
		case spam != nil:
			out = append(out, *spam)
		case ham != nil:
			out = append(out, *ham)
		}
	}
	return out
}

func (f family) has(k Kind) bool {
	for _, x := range f.kinds {
		if x == k {
			return true
		}
	}
	return false
}

// countCache keeps counts read on the message path for a short time, so a
// burst of one campaign costs one store read per key.
type countCache struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[string]cachedCounts
}

type cachedCounts struct {
	c   Counts
	exp time.Time
}

func (cc *countCache) get(id string, now time.Time) (Counts, bool) {
	if cc == nil {
		return Counts{}, false
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[id]
	if !ok || now.After(e.exp) {
		return Counts{}, false
	}
	return e.c, true
}

func (cc *countCache) put(id string, c Counts, now time.Time) {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.m) >= cc.max {
		// Simplest bound: start over. Entries live seconds anyway.
		clear(cc.m)
	}
	cc.m[id] = cachedCounts{c: c, exp: now.Add(cc.ttl)}
}
