package reputation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vigilmail/vigil/dnsrep/lru"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/images"
	"github.com/vigilmail/vigil/filters/store"
)

// Name is the check's name.
const Name = "reputation"

// SymbolUnavailable is reported (score 0) when the store could not be read in
// time; the message is then judged without reputation.
const SymbolUnavailable = "REP_UNAVAILABLE"

// family groups kinds under one symbol prefix: at most one symbol per
// family and message.
type family struct {
	prefix   string // REP_<prefix>_SPAM / _HAM
	kinds    []store.Kind
	spamOnly bool
	cap      string // the caps: key of its score
	what     string // what its keys are, for the documentation
}

var families = []family{
	{prefix: "IP", kinds: []store.Kind{KindIP}, cap: "ip", what: "the client address"},
	{prefix: "NET", kinds: []store.Kind{KindNet}, cap: "net", what: "the client's /24 or /64"},
	{prefix: "SENDER", kinds: []store.Kind{KindSender, KindSenderUnauth}, cap: "sender (unauth for unauthenticated identities)", what: "a sender identity"},
	{prefix: "DOMAIN", kinds: []store.Kind{KindDomain}, cap: "domain", what: "a linked registrable domain"},
	{prefix: "NS", kinds: []store.Kind{KindNS, KindNSIP}, cap: "ns", what: "a nameserver name or address behind a linked or sender domain"},
	{prefix: "URL", kinds: []store.Kind{KindURL}, cap: "url", what: "a URL's host and path"},
	{prefix: "CONTENT", kinds: []store.Kind{KindContent}, cap: "content", what: "a band of the text's near-duplicate fingerprint"},
	// Likewise a landing page: a page reported as ham proves nothing about
	// the next message linking to it.
	{prefix: "PAGE", kinds: []store.Kind{KindPage}, spamOnly: true, cap: "url", what: "a followed link's landing page text"},
}

// Spec declares the check and its symbols: per family at most one, the
// spam side winning.
var Spec = filters.Declare(filters.CheckSpec{Name: Name, Config: "reputation", Symbols: symbolSpecs()})

func symbolSpecs() []filters.SymbolSpec {
	var out []filters.SymbolSpec
	for _, f := range families {
		out = append(out, filters.SymbolSpec{Name: "REP_" + f.prefix + "_SPAM", ScoreDoc: "up to caps." + f.cap,
			Doc: "users reported mail with " + f.what + " as spam"})
		if !f.spamOnly {
			out = append(out, filters.SymbolSpec{Name: "REP_" + f.prefix + "_HAM", ScoreDoc: "down to -caps." + f.cap,
				Doc: "users reported mail with " + f.what + " as not spam"})
		}
	}
	out = append(out,
		filters.SymbolSpec{Name: SymImageSpam, ScoreDoc: "up to caps.image",
			Doc: "users reported mail with a picture of this message (the same bytes, or " + fmt.Sprint(images.NearBands) + " bands of its perceptual hash) as spam"},
		filters.SymbolSpec{Name: SymImageOnlySpam, ScoreDoc: "up to caps.image_only",
			Doc: "the same in image-heavy mail (little text, and an image shown or a large picture attached), where the pictures are the message"},
		filters.SymbolSpec{Name: SymImageOnlyHam, ScoreDoc: "down to -caps.image_only",
			Doc: "image-heavy mail whose pictures users reported as not spam, at least half of its decoded picture area, and none as spam"},
	)
	return append(out, filters.SymbolSpec{Name: SymbolUnavailable, State: true,
		Doc: "the store did not answer within reputation.timeout: the message was judged without reputation"})
}

// FullWeights are the weights of the reputation symbols at full strength
// under cfg: each family's cap (negative for the ham side).
func FullWeights(cfg Config) map[string]float64 {
	out := map[string]float64{}
	for _, f := range families {
		var cp float64
		for _, k := range f.kinds {
			cp = max(cp, cfg.Caps.of(k))
		}
		out["REP_"+f.prefix+"_SPAM"] = cp
		if !f.spamOnly {
			out["REP_"+f.prefix+"_HAM"] = -cp
		}
	}
	return out
}

// countCacheSize bounds the cached counts (about 100 bytes each).
const countCacheSize = 100000

// minLean is how far from 50/50 a key's smoothed spam share must be
// (as 2p-1) to score at all. Chosen by cross-validation inside the
// training folders of the SpamAssassin corpus (README.md): below 0.5, on
// either side, a key is as likely to be on the other class as on its own
// (From domains of free mail, big link domains), above it the evidence
// holds.
const minLean = 0.5

// Check is the "reputation" check: it reads the counts of
// every key of the message in one store call and reports REP_* symbols.
type Check struct {
	st  store.Store
	cfg Config
	log *slog.Logger
	// cache keeps counts read on the message path for cache_ttl, so a
	// burst of one campaign costs one store read per key; nil when off.
	cache *lru.Cache[string, store.Counts]

	// Unavailable counts messages scored without reputation because the
	// store failed (for metrics: vigil_reputation_unavailable_total).
	Unavailable atomic.Int64
	lastWarn    atomic.Int64
}

// Deps are the check's collaborators.
type Deps struct {
	// Store holds the learned counts. Required.
	Store store.Store
	Log   *slog.Logger
}

var _ filters.Check = (*Check)(nil)

// New returns the check over the store with cfg's thresholds and caps.
func New(cfg Config, deps Deps) (*Check, error) {
	if deps.Store == nil {
		return nil, errors.New("reputation: no store")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	c := &Check{st: deps.Store, cfg: cfg, log: deps.Log}
	if cfg.CacheTTL > 0 {
		c.cache = lru.New[string, store.Counts](countCacheSize)
	}
	return c, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Run implements filters.Check. A store error yields REP_UNAVAILABLE
// (score 0), a rate-limited warning and filters.ErrIncomplete: the message
// is judged without reputation, or tempfailed when policy.fail_closed
// lists "reputation".
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	keys := Keys(m)
	if len(keys) == 0 {
		return nil, nil
	}
	var scopes []string
	if c.cfg.Scope == ScopeRcptDomain {
		scopes = rcptScopes(m.Envelope.Rcpts)
	}
	// One read for the shared counts, the report totals, the tenants of
	// the shared keys, and every recipient domain's own counts.
	ids := evidenceIDs(keys)
	shared := len(ids)
	for _, d := range scopes {
		for _, k := range keys {
			ids = append(ids, k.In(d).ID())
		}
	}
	counts, err := c.counts(ctx, ids)
	if err != nil {
		c.Unavailable.Add(1)
		now := time.Now().UnixNano()
		if last := c.lastWarn.Load(); now-last > int64(10*time.Second) && c.lastWarn.CompareAndSwap(last, now) {
			c.log.Warn("reputation store unavailable; scoring without reputation", "queue_id", m.Envelope.QueueID, "err", err, "unavailable_total", c.Unavailable.Load())
		}
		return []filters.Symbol{Spec.Symbol(SymbolUnavailable, err.Error())}, fmt.Errorf("reputation: %w: %w", filters.ErrIncomplete, err)
	}
	ev := evidenceOf(keys, counts[:shared])
	pics := Pictures(m)
	if len(scopes) == 0 {
		return c.scoreAll(keys, ev, nil, pics, m.Facts.Content.ImageHeavy), nil
	}
	return c.scoreScopes(keys, ev, counts[shared:], scopes, pics, m.Facts.Content.ImageHeavy), nil
}

// scoreAll is the symbols of keys with their counts, the pictures' among
// them; whose[i] is the scope whose reports counts[i] are (see score).
func (c *Check) scoreAll(keys []store.Key, ev Evidence, whose []string, pics []Picture, imageHeavy bool) []filters.Symbol {
	byID := make(map[string]store.Counts, len(keys))
	for i, k := range keys {
		byID[k.ID()] = ev.Counts[i]
	}
	syms := score(c.cfg, keys, ev, whose)
	return append(syms, ScoreImages(c.cfg, pics, imageHeavy, byID)...)
}

// maxScopes bounds the recipient domains whose own reports are read for
// one message; a message to more domains is judged on the shared
// reports alone.
const maxScopes = 20

// rcptScopes are the distinct recipient domains of rcpts, sorted; none
// when there are more than maxScopes.
func rcptScopes(rcpts []string) []string {
	var out []string
	for _, r := range rcpts {
		if d := filters.RcptDomain(r); d != "" && !slices.Contains(out, d) {
			if len(out) == maxScopes {
				return nil
			}
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// scoreScopes scores each recipient domain on its own counts where it
// has evidence enough (min_evidence) and on the shared ones elsewhere:
// a domain's own reputation counts before the global one. ev holds the
// shared keys' evidence, scoped each scope's counts in the order of
// scopes; the report totals and the tenants are the shared ones.
// The symbols count for the recipients of their domain
// (filters.Symbol.Rcpt); when every domain gets the same ones, they
// count for all.
func (c *Check) scoreScopes(keys []store.Key, ev Evidence, scoped []store.Counts, scopes []string, pics []Picture, imageHeavy bool) []filters.Symbol {
	n := len(keys)
	var per [][]filters.Symbol
	same := true
	for j, d := range scopes {
		cs := make([]store.Counts, n)
		whose := make([]string, n)
		for i := range keys {
			own := scoped[n*j+i]
			if own.Total() >= c.cfg.MinEvidence-evidenceTolerance && own.Total() > 0 {
				cs[i], whose[i] = own, d
			} else {
				cs[i] = ev.Counts[i]
			}
		}
		syms := c.scoreAll(keys, Evidence{Counts: cs, Totals: ev.Totals, Tenants: ev.Tenants}, whose, pics, imageHeavy)
		same = same && (j == 0 || slices.Equal(syms, per[0]))
		per = append(per, syms)
	}
	if same {
		return per[0]
	}
	var out []filters.Symbol
	for j, d := range scopes {
		for _, s := range per[j] {
			s.Rcpt = d
			out = append(out, s)
		}
	}
	return out
}

// Evidence is what the store holds about the keys of a message.
type Evidence struct {
	// Counts are the keys' spam and ham counts, in the order of the keys.
	Counts []store.Counts
	// Totals are the reports learned, by class (TotalsID).
	Totals store.Counts
	// Tenants is, per key, the number of distinct registrable domains seen
	// behind it in reports (TenantsID); 0 for kinds that are not shared
	// infrastructure.
	Tenants []float64
}

// evidenceIDs are the store ids read for keys: each key, the totals, and
// the tenant count of each key of a shared kind.
func evidenceIDs(keys []store.Key) []string {
	ids := make([]string, 0, 2*len(keys)+1)
	for _, k := range keys {
		ids = append(ids, k.ID())
	}
	ids = append(ids, TotalsID)
	for _, k := range keys {
		if sharedKind(k.Kind) {
			ids = append(ids, TenantsID(k))
		}
	}
	return ids
}

// evidenceOf splits the counts read for evidenceIDs(keys).
func evidenceOf(keys []store.Key, counts []store.Counts) Evidence {
	ev := Evidence{Counts: counts[:len(keys)], Totals: counts[len(keys)], Tenants: make([]float64, len(keys))}
	j := len(keys) + 1
	for i, k := range keys {
		if sharedKind(k.Kind) && j < len(counts) {
			ev.Tenants[i] = counts[j].Spam
			j++
		}
	}
	return ev
}

func (c *Check) counts(ctx context.Context, ids []string) ([]store.Counts, error) {
	out := make([]store.Counts, len(ids))
	var missIDs []string
	var missAt []int
	now := time.Now()
	for i, id := range ids {
		if cc, _, ok := c.cache.Get(id, now); ok {
			out[i] = cc
			continue
		}
		missIDs = append(missIDs, id)
		missAt = append(missAt, i)
	}
	if len(missIDs) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	got, err := c.st.Counts(ctx, missIDs)
	if err != nil {
		return nil, err
	}
	if len(got) != len(missIDs) {
		return nil, fmt.Errorf("%w: store returned %d counts for %d keys", store.ErrUnavailable, len(got), len(missIDs))
	}
	for j, i := range missAt {
		out[i] = got[j]
		c.cache.Put(missIDs[j], got[j], now.Add(time.Duration(c.cfg.CacheTTL)))
	}
	return out, nil
}

// evidenceTolerance is how far below min_evidence decayed counts may be.
const evidenceTolerance = 0.01

// minTotals is how many reports of each class must have been learned
// before a key's counts are read relative to them: until then the raw
// counts are (a store learned before totals were kept has none yet).
const minTotals = 50

// keyScore is the smoothed lean of one key towards spam (+) or ham (-),
// scaled by its kind's cap.
func keyScore(cfg Config, k store.Key, c store.Counts, totals store.Counts, tenants float64) (float64, bool) {
	l, ok := fairLean(cfg, c, totals, tenants)
	return cfg.Caps.of(k.Kind) * l, ok
}

// lean is fairLean on raw counts, without totals or tenants (pictures).
func lean(cfg Config, c store.Counts) (float64, bool) {
	return fairLean(cfg, c, store.Counts{}, 0)
}

// fairLean is 2p−1 of counts c: +1 all spam, −1 all ham; false when there
// is too little evidence or it leans too little.
//
// Users report spam far more often than ham, so raw counts lean every
// busy key towards spam. As the classifier does (Robinson), the share of
// spam is read from each class's rate, b/nspam against g/nham, and the
// evidence from the raw count n: f = (2·½ + n·p)/(2 + n), the Laplace
// smoothing of one virtual spam and one virtual ham when the classes are
// balanced. A key of shared infrastructure (a nameserver, an address) seen
// behind more than shared_domains distinct domains leans less, by
// sqrt(shared_domains/t): it tells little about any one of them.
func fairLean(cfg Config, c store.Counts, totals store.Counts, tenants float64) (float64, bool) {
	n := c.Total()
	// The tolerance keeps decay from hiding fresh evidence: three reports
	// learned seconds ago decay to 2.99999 and must still meet 3.
	if n < cfg.MinEvidence-evidenceTolerance || n <= 0 {
		return 0, false
	}
	p := c.Spam / n
	if totals.Spam >= minTotals && totals.Ham >= minTotals {
		rs, rh := c.Spam/totals.Spam, c.Ham/totals.Ham
		p = rs / (rs + rh)
	}
	f := (1 + n*p) / (2 + n)
	l := 2*f - 1
	if k := cfg.SharedDomains; k > 0 && tenants > k {
		l *= math.Sqrt(k / tenants)
	}
	if math.Abs(l) < minLean {
		return 0, false
	}
	return l, true
}

// Score turns keys and their evidence into symbols: per family at most one
// REP_<F>_SPAM or REP_<F>_HAM. When a family has both spammy and hammy keys
// only the spam side scores: a spammer can cheaply add links to reputable
// sites, not remove its own.
func Score(cfg Config, keys []store.Key, ev Evidence) []filters.Symbol {
	return score(cfg, keys, ev, nil)
}

// score is Score where the counts of key i may be the reports of scope
// whose[i] (nil or "": the shared ones), which its symbol's detail names.
func score(cfg Config, keys []store.Key, ev Evidence, whose []string) []filters.Symbol {
	var out []filters.Symbol
	for _, f := range families {
		var spam, ham *filters.Symbol
		for i, k := range keys {
			if !f.has(k.Kind) || i >= len(ev.Counts) {
				continue
			}
			var tenants float64
			if i < len(ev.Tenants) {
				tenants = ev.Tenants[i]
			}
			s, ok := keyScore(cfg, k, ev.Counts[i], ev.Totals, tenants)
			if !ok {
				continue
			}
			cp := cfg.Caps.of(k.Kind)
			id := k.ID()
			if i < len(whose) {
				id = k.In(whose[i]).ID()
			}
			sym := filters.Symbol{
				Score:  math.Round(s*100) / 100,
				Detail: fmt.Sprintf("%s spam=%.1f ham=%.1f", id, ev.Counts[i].Spam, ev.Counts[i].Ham),
			}
			if tenants > 0 {
				sym.Detail += fmt.Sprintf(" domains=%.0f", tenants)
			}
			switch {
			case s > 0 && (spam == nil || sym.Score > spam.Score):
				sym.Name = "REP_" + f.prefix + "_SPAM"
				sym.Full = cp
				spam = &sym
			case s < 0 && !f.spamOnly && (ham == nil || sym.Score < ham.Score):
				sym.Name = "REP_" + f.prefix + "_HAM"
				sym.Full = -cp
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

func (f family) has(k store.Kind) bool {
	for _, x := range f.kinds {
		if x == k {
			return true
		}
	}
	return false
}
