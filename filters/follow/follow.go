// Package follow is the "follow" check: it follows the
// links of a message through redirects to their landing pages with
// urlcheck/follow, and reports forbidden redirect targets, downloads,
// login forms under an unrelated domain. Where the links led is written to
// m.Facts.Links, which the reputation check learns and scores (landing
// pages learned from spam give REP_PAGE_SPAM).
package follow

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/lru"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/images"
	"github.com/vigilmail/vigil/urlcheck"
	linkfollow "github.com/vigilmail/vigil/urlcheck/follow"
)

// Name is the check's name.
const Name = "follow"

// Symbols (scores in Spec).
const (
	SymForbidden      = "FOLLOW_FORBIDDEN"
	SymExecutable     = "FOLLOW_EXECUTABLE"
	SymArchive        = "FOLLOW_ARCHIVE"
	SymScript         = "FOLLOW_SCRIPT"
	SymMacroDoc       = "FOLLOW_MACRO_DOC"
	SymLoginForm      = "FOLLOW_LOGIN_FORM"
	SymTooManyHops    = "FOLLOW_TOO_MANY_HOPS"
	SymLoop           = "FOLLOW_LOOP"
	SymUnfinished     = "FOLLOW_UNFINISHED"
	SymRedirectDomain = "FOLLOW_REDIRECT_DOMAIN"
)

// Spec declares the check and its symbols, at most one of each per
// message. Scores are modest: a landing page is evidence about the link,
// and the link may be someone else's.
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "follow",
	Symbols: []filters.SymbolSpec{
		{Name: SymExecutable, Score: 4.0, Doc: "a link downloads a program: PE, ELF, Mach-O or APK, or typed or named as one"},
		{Name: SymForbidden, Score: 3.0, Doc: "a hop points at a refused address or port; the detail has the chain and the range"},
		{Name: SymScript, Score: 3.0, Doc: "a link downloads a script: JavaScript, VBScript, HTA, PowerShell, shell"},
		{Name: SymMacroDoc, Score: 3.0, Doc: "a link downloads an office document with (possible) macros"},
		{Name: SymLoginForm, Score: 2.0, Doc: "a password form on a registrable domain unrelated to the brand the link text (or else the From display name) names"},
		{Name: SymArchive, Score: 1.0, Doc: "a link downloads an archive: zip, rar, 7z, gzip, bzip2, xz, cab"},
		{Name: SymTooManyHops, Score: 1.0, Doc: "more redirects than follow.max_hops"},
		{Name: SymLoop, Score: 1.0, Doc: "a redirect back to a URL of the chain"},
		{Name: SymUnfinished, Score: 0, State: true, Doc: "the budget ran out, or DNS answered SERVFAIL or timed out"},
		{Name: SymRedirectDomain, Score: 0, Doc: "informational: each chain's registrable domains, bit.ly>evil.example"},
	},
})

// LinkChain is where one URL of the message led (Facts.Links).
type LinkChain = filters.LinkChain

// Deps are the check's collaborators.
type Deps struct {
	// Resolver resolves every hop. Required.
	Resolver dnsrep.Querier
	// Results persists follow results beyond the in-memory cache; nil
	// keeps them in memory only.
	Results linkfollow.ResultStore
	Log     *slog.Logger
	// DialContext and RootCAs replace the network dialer and the system
	// roots (tests).
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	RootCAs     *x509.CertPool
}

// Check is the "follow" check.
type Check struct {
	cfg         Config
	log         *slog.Logger
	f           *linkfollow.Follower
	redirectors []string
	// hasher decodes and hashes fetched images; imageCache remembers
	// them by URL (nil when cache_ttl is 0).
	hasher     *images.Hasher
	imageCache *lru.Cache[string, filters.Image]

	// Counters for metrics (vigil_follow_<name>_total).
	URLs       atomic.Int64 // URLs followed (cache hits included)
	CacheHits  atomic.Int64
	Forbidden  atomic.Int64
	Unfinished atomic.Int64
	Panics     atomic.Int64
	// Remote images fetched (follow.images) and found in the cache.
	Images         atomic.Int64
	ImageCacheHits atomic.Int64
}

var _ filters.Check = (*Check)(nil)

// New returns the check for cfg (validated here too).
func New(cfg Config, deps Deps) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	allow, _ := cfg.allowNetworks()
	ports := make([]uint16, 0, len(cfg.AllowPorts))
	for _, p := range cfg.AllowPorts {
		ports = append(ports, uint16(p))
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	ttl := cfg.CacheTTL
	if ttl == 0 {
		ttl = -1 // the library's "off"
	}
	f, err := linkfollow.New(linkfollow.Options{
		Resolver:           deps.Resolver,
		Guard:              linkfollow.Guard{Allow: allow, Ports: ports},
		MaxHops:            cfg.MaxHops,
		Timeout:            cfg.Timeout,
		MaxBody:            cfg.MaxBody,
		PerHostConcurrency: cfg.PerHostConcurrency,
		UserAgent:          cfg.UserAgent,
		CacheTTL:           ttl,
		CacheSize:          cfg.CacheSize,
		Store:              deps.Results,
		DialContext:        deps.DialContext,
		RootCAs:            deps.RootCAs,
		Log:                deps.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("follow: %w", err)
	}
	c := &Check{cfg: cfg, log: deps.Log, f: f}
	if cfg.Images {
		c.hasher = images.NewHasher(remoteImageLimits(cfg.MaxBody), cfg.CacheSize)
		if cfg.CacheTTL > 0 {
			c.imageCache = lru.New[string, filters.Image](cfg.CacheSize)
		}
	}
	for _, h := range append(append([]string(nil), DefaultRedirectors...), cfg.RedirectorHosts...) {
		c.redirectors = append(c.redirectors, strings.ToLower(strings.TrimRight(strings.TrimSpace(h), ".")))
	}
	return c, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// budgetReserve is kept from the check's deadline to build the symbols.
const budgetReserve = 50 * time.Millisecond

// Run implements filters.Check. It returns within ctx and message_budget
// whatever the servers do; URLs not finished by then are FOLLOW_UNFINISHED.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	if !c.cfg.Enabled {
		return nil, nil
	}
	if c.cfg.Images {
		// Remote images while the links are followed, within the same
		// budget.
		ictx, cancel := context.WithDeadline(ctx, c.deadline(ctx))
		defer cancel()
		done := make(chan []filters.Image, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					c.Panics.Add(1)
					c.log.Error("follow: panic", "panic", p, "stack", string(debug.Stack()))
					done <- nil
				}
			}()
			done <- c.remoteImages(ictx, m)
		}()
		defer func() { m.Facts.RemoteImages = <-done }()
	}
	chains := c.follow(ctx, m)
	m.Facts.Links = chains
	return c.symbols(m, chains), nil
}

// deadline is when following must stop for this message: message_budget
// from now, or earlier when the check's own deadline says so.
func (c *Check) deadline(ctx context.Context) time.Time {
	deadline := time.Now().Add(c.cfg.MessageBudget)
	if d, ok := ctx.Deadline(); ok && d.Add(-budgetReserve).Before(deadline) {
		deadline = d.Add(-budgetReserve)
	}
	return deadline
}

// candidates returns the URLs to follow, deduplicated, at most max_urls.
func (c *Check) candidates(m *filters.Message) []string {
	seen := map[string]bool{}
	var out []string
	for _, u := range m.Facts.Content.URLs {
		if len(out) >= c.cfg.MaxURLs {
			break
		}
		n, err := urlcheck.Normalize(u.URL)
		if err != nil || (n.Scheme != "http" && n.Scheme != "https") {
			continue
		}
		key := linkfollow.CacheKey(n)
		if seen[key] {
			continue
		}
		if c.cfg.Mode == ModeRedirectors && !c.isRedirector(n.Host) {
			continue
		}
		seen[key] = true
		out = append(out, key)
	}
	return out
}

func (c *Check) isRedirector(host string) bool {
	for _, r := range c.redirectors {
		if host == r || strings.HasSuffix(host, "."+r) {
			return true
		}
	}
	return false
}

type indexed struct {
	i int
	r linkfollow.Result
}

// follow follows the candidates with a bounded worker pool within the
// message budget. It always returns one chain per candidate.
func (c *Check) follow(ctx context.Context, m *filters.Message) []LinkChain {
	urls := c.candidates(m)
	if len(urls) == 0 {
		return nil
	}
	bctx, cancel := context.WithDeadline(ctx, c.deadline(ctx))
	defer cancel()

	jobs := make(chan int)
	done := make(chan indexed, len(urls)) // buffered: a late worker never blocks
	workers := min(c.cfg.Workers, len(urls))
	for w := 0; w < workers; w++ {
		go func() {
			cur := -1
			defer func() {
				if p := recover(); p != nil {
					c.Panics.Add(1)
					c.log.Error("follow: panic", "panic", p, "stack", string(debug.Stack()))
					if cur >= 0 {
						done <- indexed{cur, linkfollow.Result{URL: urls[cur], Outcome: linkfollow.OutcomeFailed, Detail: fmt.Sprint("internal error: ", p)}}
					}
				}
			}()
			for i := range jobs {
				cur = i
				done <- indexed{i, c.f.Follow(bctx, urls[i])}
				cur = -1
			}
		}()
	}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				c.Panics.Add(1)
			}
		}()
		defer close(jobs)
		for i := range urls {
			select {
			case jobs <- i:
			case <-bctx.Done():
				return
			}
		}
	}()

	results := make([]linkfollow.Result, len(urls))
	got := make([]bool, len(urls))
	for n := 0; n < len(urls); {
		select {
		case r := <-done:
			results[r.i], got[r.i] = r.r, true
			n++
		case <-bctx.Done():
			// Follow honours bctx, so the workers return promptly; take
			// what has arrived, the rest is unfinished.
			for drained := false; !drained; {
				select {
				case r := <-done:
					results[r.i], got[r.i] = r.r, true
				default:
					drained = true
				}
			}
			n = len(urls)
		}
	}
	chains := make([]LinkChain, len(urls))
	for i, r := range results {
		if !got[i] {
			r = linkfollow.Result{URL: urls[i], Outcome: linkfollow.OutcomeUnfinished, Detail: "message budget exhausted"}
		}
		c.URLs.Add(1)
		if r.Cached {
			c.CacheHits.Add(1)
		}
		switch r.Outcome {
		case linkfollow.OutcomeForbidden:
			c.Forbidden.Add(1)
		case linkfollow.OutcomeUnfinished:
			c.Unfinished.Add(1)
		}
		chains[i] = chainOf(r)
		c.log.Debug("follow", "url", r.URL, "outcome", r.Outcome, "hops", len(r.Hops), "cached", r.Cached, "detail", r.Detail)
	}
	return chains
}

func chainOf(r linkfollow.Result) LinkChain {
	hops := make([]filters.LinkHop, len(r.Hops))
	for i, h := range r.Hops {
		hops[i] = filters.LinkHop{URL: h.URL, Host: h.Host, Domain: h.Domain, Addr: h.Addr, Status: h.Status, Via: string(h.Via)}
	}
	ch := LinkChain{
		URL: r.URL, Outcome: string(r.Outcome), Detail: r.Detail, Hops: hops,
		Kind: string(r.Sniffed.Kind), ContentType: r.ContentType, Sniffed: r.Sniffed.MIME,
		LoginForm: r.PasswordForm, Cached: r.Cached,
	}
	if r.Sniffed.Magic != "" {
		ch.Sniffed += " (" + r.Sniffed.Magic + ")"
	}
	if !r.Fingerprint.IsZero() {
		ch.Fingerprint = filters.PageFingerprint{Hash: r.Fingerprint.Hash, Sim: r.Fingerprint.Sim}
	}
	return ch
}

// linkTexts maps the follow key of each URL of m (linkfollow.CacheKey, the
// URL of its chain) to the first anchor text it was linked with.
func linkTexts(m *filters.Message) map[string]string {
	out := map[string]string{}
	for _, u := range m.Facts.Content.URLs {
		if u.Text == "" {
			continue
		}
		n, err := urlcheck.Normalize(u.URL)
		if err != nil {
			continue
		}
		if key := linkfollow.CacheKey(n); out[key] == "" {
			out[key] = u.Text
		}
	}
	return out
}

// loginBrand decides whether r, a landing page with a password form, is
// on a domain unrelated to the brand the reader was promised. The link
// text is what the reader clicked ("Sign in to PayPal"), so it speaks
// first; when it names no brand or domain ("click here", or no text), the
// From display name does ("PayPal Service <x@evil.example>"). A hint that
// names the brand the page does belong to settles it: no mismatch.
func loginBrand(r linkfollow.Result, linkText, fromName string) (brand, source string, mismatch bool) {
	for _, h := range []struct{ text, source string }{{linkText, "link text"}, {fromName, "From"}} {
		brand, bad := r.LoginMismatch(h.text)
		if bad {
			return brand, h.source, true
		}
		if brand != "" {
			return brand, h.source, false
		}
	}
	return "", "", false
}

// brandHint is the From display name, which names the brand a phish
// impersonates ("PayPal Service <x@evil.example>"): the brand hint for
// links whose text names none.
func brandHint(m *filters.Message) string { return m.Identities().Author().Name }

// maxDetail bounds a symbol detail.
const maxDetail = 600

// symbols turns chains into symbols: at most one per name, its detail
// naming up to three URLs, so a message with many bad links does not stack
// scores.
func (c *Check) symbols(m *filters.Message, chains []LinkChain) []filters.Symbol {
	details := map[string][]string{}
	add := func(name, detail string) { details[name] = append(details[name], detail) }
	hint := brandHint(m)
	texts := linkTexts(m)
	var domainChains []string
	for _, ch := range chains {
		if len(ch.Hops) > 1 {
			var ds []string
			for _, h := range ch.Hops {
				d := h.Domain
				if d == "" {
					d = h.Host
				}
				if len(ds) == 0 || ds[len(ds)-1] != d {
					ds = append(ds, d)
				}
			}
			domainChains = append(domainChains, strings.Join(ds, ">"))
		}
		switch linkfollow.Outcome(ch.Outcome) {
		case linkfollow.OutcomeForbidden:
			add(SymForbidden, chainText(ch)+": "+ch.Detail)
		case linkfollow.OutcomeLoop:
			add(SymLoop, chainText(ch))
		case linkfollow.OutcomeTooManyHops:
			add(SymTooManyHops, ch.URL)
		case linkfollow.OutcomeUnfinished:
			add(SymUnfinished, ch.URL)
		case linkfollow.OutcomeLanded:
			last := ch.Hops[len(ch.Hops)-1].URL
			switch linkfollow.Kind(ch.Kind) {
			case linkfollow.KindExecutable:
				add(SymExecutable, last+" "+ch.Sniffed)
			case linkfollow.KindArchive:
				add(SymArchive, last+" "+ch.Sniffed)
			case linkfollow.KindScript:
				add(SymScript, last+" "+ch.Sniffed)
			case linkfollow.KindMacroDoc:
				add(SymMacroDoc, last+" "+ch.Sniffed)
			}
			if ch.LoginForm {
				hops := make([]linkfollow.Hop, len(ch.Hops))
				for i, h := range ch.Hops {
					hops[i] = linkfollow.Hop{URL: h.URL, Host: h.Host, Domain: h.Domain, Addr: h.Addr, Status: h.Status, Via: linkfollow.Via(h.Via)}
				}
				r := linkfollow.Result{Hops: hops, PasswordForm: true}
				if brand, source, ok := loginBrand(r, texts[ch.URL], hint); ok {
					add(SymLoginForm, fmt.Sprintf("%s on %s, brand %q named in %s", last, r.FinalDomain(), brand, source))
				}
			}
		}
	}
	var out []filters.Symbol
	for name, ds := range details {
		out = append(out, Spec.Symbol(name, joinDetail(ds)))
	}
	if len(domainChains) > 0 {
		out = append(out, Spec.Symbol(SymRedirectDomain, joinDetail(domainChains)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func chainText(ch LinkChain) string {
	var parts []string
	for _, h := range ch.Hops {
		s := h.URL
		if h.Addr.IsValid() && h.Status == 0 {
			s += " [" + h.Addr.String() + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " -> ")
}

func joinDetail(ds []string) string {
	sort.Strings(ds)
	extra := 0
	if len(ds) > 3 {
		extra = len(ds) - 3
		ds = ds[:3]
	}
	s := strings.Join(ds, "; ")
	if extra > 0 {
		s += fmt.Sprintf("; +%d more", extra)
	}
	if len(s) > maxDetail {
		s = s[:maxDetail] + "..."
	}
	return s
}
