// Package dnsbl is the "dnsbl" check: the client IP, the
// registrable domains a message links to and is sent from, and the
// nameservers behind them (from m.Facts.Infra, written by the
// "nameservers" check) queried in DNS blocklists (RFC 5782). Each list
// reports its own symbol; the detail carries the evidence chain
// `URL host -> domain -> NS host -> NS IP -> list -> code`.
package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/urlcheck"
)

// Name is the check's name.
const Name = "dnsbl"

// SymbolBudget says list queries or domains were skipped by the budgets.
const SymbolBudget = "DNSBL_BUDGET"

// Suffixes of the per-list symbols: each list reports its configured name,
// and these after it.
const (
	SuffixUnknown   = "_UNKNOWN"
	SuffixError     = "_ERROR"
	SuffixUnhealthy = "_UNHEALTHY"
)

// Placeholder is the family placeholder of the per-list symbols in the
// catalogue: filters.Catalogue(map[string][]string{Placeholder: names}).
const Placeholder = "LIST"

// Spec declares the check and its symbols. A list's own symbol scores
// what its returns/score say; the others weigh nothing.
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "blocklists, dnsbl",
	Symbols: []filters.SymbolSpec{
		{Name: "<" + Placeholder + ">", ScoreDoc: "returns / score", Doc: "listed: one symbol per list, the highest score of its items; the detail is the evidence chain URL host -> domain -> NS host -> NS IP -> zone -> code (TXT reason)"},
		{Name: "<" + Placeholder + ">" + SuffixUnknown, State: true, Doc: "a query got SERVFAIL or no answer: not listed and not clean; forces tempfail when the list is required"},
		{Name: "<" + Placeholder + ">" + SuffixError, State: true, Doc: "the list answered a refusal code (127.255.255.x, outside 127/8, or one of its refused codes): never a listing; the list is unhealthy until its next good probe"},
		{Name: "<" + Placeholder + ">" + SuffixUnhealthy, State: true, Doc: "the list failed its RFC 5782 §5 test points or refused a query, and was skipped"},
		{Name: SymbolBudget, State: true, Doc: "domains or queries were skipped by dnsbl.max_domains / max_queries"},
	},
})

// maxDetailItems caps the evidence chains shown in one symbol detail.
const maxDetailItems = 5

type list struct {
	List
	zone    string
	returns []code
	refused []netip.Addr
}

type code struct {
	prefix netip.Prefix
	score  float64
}

// Check is the "dnsbl" check. It is safe for concurrent use.
type Check struct {
	q       dnsrep.Querier
	lists   []list
	budgets Budgets
	log     *slog.Logger
	// parallel bounds concurrent list queries of one message.
	parallel int
	// probeRetry: see ProbeLoop (tests shorten it).
	probeRetry time.Duration

	mu     sync.Mutex
	health map[string]dnsrep.ListHealth // by list name; absent = not probed yet
}

// Config is the check's configuration: the top-level `blocklists:` list
// and `dnsbl:` section.
type Config struct {
	Lists   []List
	Budgets Budgets
}

// Deps are the check's collaborators.
type Deps struct {
	// Resolver asks the lists. Required.
	Resolver dnsrep.Querier
	Log      *slog.Logger
}

var _ filters.Check = (*Check)(nil)

// New returns the check over the enabled lists. Lists are used until a probe
// (Probe, ProbeLoop) or a refusal code marks them unhealthy.
func New(cfg Config, deps Deps) (*Check, error) {
	if err := ValidateLists(cfg.Lists); err != nil {
		return nil, err
	}
	if err := cfg.Budgets.Validate(); err != nil {
		return nil, err
	}
	if deps.Resolver == nil {
		return nil, errors.New("dnsbl: no resolver")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	c := &Check{q: deps.Resolver, budgets: cfg.Budgets, log: deps.Log, parallel: 16, health: map[string]dnsrep.ListHealth{}, probeRetry: probeRetry}
	for _, l := range cfg.Lists {
		if !l.IsEnabled() {
			continue
		}
		cl := list{List: l, zone: strings.ToLower(strings.TrimSuffix(l.Zone, "."))}
		for k, s := range l.Returns {
			p, _ := parseCode(k) // validated above
			cl.returns = append(cl.returns, code{p, s})
		}
		for _, r := range l.Refused {
			cl.refused = append(cl.refused, netip.MustParseAddr(r)) // validated above
		}
		// Longest prefix first so the most specific entry matches.
		slices.SortFunc(cl.returns, func(a, b code) int { return b.prefix.Bits() - a.prefix.Bits() })
		c.lists = append(c.lists, cl)
	}
	return c, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Probe checks every enabled list with its RFC 5782 §5 test points, records
// the result, logs unhealthy lists at error level, and returns the table
// (for `vigil doctor`), in config order.
func (c *Check) Probe(ctx context.Context) []dnsrep.ListHealth {
	out := make([]dnsrep.ListHealth, len(c.lists))
	var wg sync.WaitGroup
	for i, l := range c.lists {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					c.log.Error("dnsbl: panic in probe", "list", l.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					out[i] = dnsrep.ListHealth{Zone: l.zone, Problem: "probe panicked", Checked: time.Now()}
				}
			}()
			out[i] = dnsrep.ProbeList(ctx, c.q, l.zone, dnsrep.ProbeOptions{
				Domain: l.Check == KindDomain || l.Check == KindNSName, Listed: l.TestPoint, Refused: l.refused})
		})
	}
	wg.Wait()
	for i, l := range c.lists {
		out[i].List = l.Name
	}
	c.mu.Lock()
	for i, l := range c.lists {
		prev, had := c.health[l.Name]
		switch {
		case out[i].Unanswered:
			// No answer proves nothing about the list: keep what the
			// last answer said (healthy until proven otherwise).
			c.log.Warn("dnsbl: list probe got no answer; keeping its last known health and probing again soon",
				"list", l.Name, "zone", l.zone, "problem", out[i].Problem, "healthy", !had || prev.Healthy)
			continue
		case !out[i].Healthy:
			c.log.Error("dnsbl: list is unhealthy and will be skipped", "list", l.Name, "zone", l.zone, "problem", out[i].Problem)
		case had && !prev.Healthy:
			c.log.Info("dnsbl: list is healthy again", "list", l.Name, "zone", l.zone)
		}
		c.health[l.Name] = out[i]
	}
	c.mu.Unlock()
	return out
}

// probeRetry is the first wait before probing again after a probe that got
// no answer; it doubles up to dnsbl.probe_interval.
const probeRetry = 10 * time.Second

// ProbeLoop probes now and every dnsbl.probe_interval until ctx ends. After
// a round in which some list got no answer it probes again after
// probeRetry, doubling, so lists are checked again soon after DNS returns.
func (c *Check) ProbeLoop(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("dnsbl: panic in probe loop", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	interval := c.budgets.ProbeInterval
	retry := min(c.probeRetry, interval)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		unanswered := 0
		for _, h := range c.Probe(pctx) {
			if h.Unanswered {
				unanswered++
			}
		}
		cancel()
		next := interval
		if unanswered > 0 {
			next, retry = retry, min(2*retry, interval)
		} else {
			retry = min(c.probeRetry, interval)
		}
		t.Reset(next)
	}
}

// Health returns the last probe result of each enabled list, in config
// order; lists never probed are reported healthy with a zero Checked time.
func (c *Check) Health() []dnsrep.ListHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]dnsrep.ListHealth, len(c.lists))
	for i, l := range c.lists {
		h, ok := c.health[l.Name]
		if !ok {
			h = dnsrep.ListHealth{Zone: l.zone, Healthy: true}
		}
		out[i] = h
	}
	return out
}

func (c *Check) healthOf(name string) (dnsrep.ListHealth, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.health[name]
	return h, !ok || h.Healthy
}

func (c *Check) markRefused(l list, err error) {
	c.mu.Lock()
	c.health[l.Name] = dnsrep.ListHealth{Zone: l.zone, Problem: err.Error(), Checked: time.Now()}
	c.mu.Unlock()
	c.log.Error("dnsbl: list refused a query; marked unhealthy until its next good probe "+
		"(public resolver, over quota or wrong zone?)", "list", l.Name, "zone", l.zone, "error", err.Error())
}

// item is one thing to look up, with the evidence chain that led to it.
type item struct {
	key   string // IP or domain, the dedupe key
	ip    netip.Addr
	chain string
}

// items returns what each kind of list is asked about, deduplicated, in
// message order, and whether max_domains cut domains.
func (c *Check) items(m *filters.Message) (map[Kind][]item, string) {
	out := map[Kind][]item{}
	seen := map[Kind]map[string]bool{KindIP: {}, KindDomain: {}, KindNSIP: {}, KindNSName: {}}
	add := func(k Kind, it item) {
		if seen[k][it.key] {
			return
		}
		seen[k][it.key] = true
		out[k] = append(out[k], it)
	}
	if ip := m.Envelope.ClientIP.Unmap(); global(ip) {
		chain := "client " + ip.String()
		if ip.Is6() {
			// Reputation per address means little in IPv6: the /64 is
			// the unit an operator can act on.
			p, _ := ip.Prefix(64)
			chain += " (/64 " + p.String() + ")"
		}
		add(KindIP, item{key: ip.String(), ip: ip, chain: chain})
	}

	// The registrable domains (Site scope: lists list a hosting tenant's
	// name, never the shared parent) of where the message comes from, then
	// of what it links to, each once.
	var sources []source
	named := map[string]bool{}
	for _, d := range m.Domains() {
		if !d.Role.Origin() && !d.Role.Linked() {
			continue
		}
		if reg := d.Registrable(urlcheck.Site); reg != "" && !named[reg] {
			named[reg] = true
			sources = append(sources, source{NamedDomain: d, domain: reg})
		}
	}
	var skipped string
	if limit := c.budgets.MaxDomains; len(sources) > limit {
		skipped = fmt.Sprintf("%d of %d domains not checked (dnsbl.max_domains %d)", len(sources)-limit, len(sources), limit)
		sources = sources[:limit]
	}
	chains := map[string]string{}
	for _, s := range sources {
		chain := s.chain()
		chains[s.domain] = chain
		add(KindDomain, item{key: s.domain, chain: chain})
	}
	// Infra is sorted by domain; walk it linked domains first, then sender
	// domains, so a nameserver shared by both is shown behind the link: what
	// a message links to is the evidence this check exists for.
	infra := map[string]filters.DomainInfra{}
	for _, d := range m.Facts.Infra.Domains {
		infra[d.Domain] = d
	}
	linkedFirst := slices.Clone(sources)
	slices.SortStableFunc(linkedFirst, func(a, b source) int {
		return boolInt(!a.Role.Linked()) - boolInt(!b.Role.Linked())
	})
	for _, s := range linkedFirst {
		d, ok := infra[s.domain]
		if !ok {
			continue
		}
		for _, ns := range d.NS {
			host := strings.ToLower(strings.TrimSuffix(ns.Name, "."))
			nsChain := chains[s.domain] + " -> NS " + host
			add(KindNSName, item{key: host, chain: nsChain})
			if reg := urlcheck.RegistrableDomain(host, urlcheck.Site); reg != "" && reg != host {
				add(KindNSName, item{key: reg, chain: nsChain + " -> " + reg})
			}
			for _, a := range ns.Addrs {
				if a = a.Unmap(); global(a) {
					add(KindNSIP, item{key: a.String(), ip: a, chain: nsChain + " -> " + a.String()})
				}
			}
		}
	}
	return out, skipped
}

// source is a domain the message names and its registrable domain.
type source struct {
	filters.NamedDomain
	domain string
}

// chain is how the detail names where the domain came from.
func (s source) chain() string {
	switch s.Role {
	case filters.RoleEnvelope:
		return "MAIL FROM " + s.domain
	case filters.RoleFrom:
		return "From " + s.domain
	case filters.RoleDKIM:
		return "DKIM d= " + s.domain
	case filters.RoleHelo:
		return "HELO " + s.domain
	case filters.RoleClientName:
		return "rDNS " + s.domain
	case filters.RoleLink:
		return "URL host " + s.Name + " -> " + s.domain
	case filters.RoleRedirect:
		return "redirect hop of " + s.Via + " " + s.domain
	}
	return "linked " + s.domain
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// global reports whether ip is worth asking a public list about.
func global(ip netip.Addr) bool {
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate()
}

type job struct {
	list  int
	item  item
	qname string

	listing dnsrep.Listing
	err     error
}

// Run queries the lists and reports their symbols.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	items, skippedDomains := c.items(m)
	var syms []filters.Symbol
	var jobs []*job
	skippedQueries := 0
	budget := c.budgets.MaxQueries
	for li, l := range c.lists {
		its := items[l.Check]
		if len(its) == 0 {
			continue
		}
		if h, ok := c.healthOf(l.Name); !ok {
			syms = append(syms, filters.Symbol{Name: l.Name + SuffixUnhealthy, Detail: "skipped: " + h.Problem})
			continue
		}
		for _, it := range its {
			var qname string
			if it.ip.IsValid() {
				qname = dnsrep.IPQueryName(it.ip, l.zone)
			} else {
				var err error
				if qname, err = dnsrep.DomainQueryName(it.key, l.zone); err != nil {
					continue // too long for this zone: cannot be listed there
				}
			}
			if budget == 0 {
				skippedQueries++
				continue
			}
			budget--
			jobs = append(jobs, &job{list: li, item: it, qname: qname})
		}
	}
	if skippedDomains != "" || skippedQueries > 0 {
		var parts []string
		if skippedDomains != "" {
			parts = append(parts, skippedDomains)
		}
		if skippedQueries > 0 {
			parts = append(parts, fmt.Sprintf("%d list queries skipped (dnsbl.max_queries %d)", skippedQueries, c.budgets.MaxQueries))
		}
		syms = append(syms, Spec.Symbol(SymbolBudget, strings.Join(parts, "; ")))
	}

	c.query(ctx, jobs)
	syms = append(syms, c.symbols(jobs)...)
	unanswered := 0
	for _, j := range jobs {
		if j.err != nil && !errors.Is(j.err, dnsrep.ErrListRefused) {
			unanswered++
		}
	}
	if unanswered > 0 {
		// The <LIST>_UNKNOWN symbols say which; policy.fail_closed:
		// [dnsbl] turns this into a tempfail.
		return syms, fmt.Errorf("dnsbl: %w: %d of %d list queries got no answer", filters.ErrIncomplete, unanswered, len(jobs))
	}
	return syms, nil
}

// query runs the jobs with bounded parallelism.
func (c *Check) query(ctx context.Context, jobs []*job) {
	reasons := c.budgets.FetchReasons == nil || *c.budgets.FetchReasons
	sem := make(chan struct{}, c.parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					c.log.Error("dnsbl: panic in lookup", "name", j.qname, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					j.err = &dnsrep.LookupError{Name: j.qname, Status: dnsrep.ServFail, Err: fmt.Errorf("panic: %v", p)}
				}
			}()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				j.err = &dnsrep.LookupError{Name: j.qname, Status: dnsrep.Timeout, Err: ctx.Err()}
				return
			}
			j.listing, j.err = dnsrep.LookupListing(ctx, c.q, j.qname, reasons)
			if j.err == nil {
				j.err = j.listing.RefusedBy(c.lists[j.list].refused)
			}
		})
	}
	wg.Wait()
}

// symbols turns job results into per-list symbols, deterministically.
func (c *Check) symbols(jobs []*job) []filters.Symbol {
	type acc struct {
		listed, unknown, refused []string
		score                    float64
		scored                   bool
	}
	accs := make([]acc, len(c.lists))
	for _, j := range jobs {
		l := c.lists[j.list]
		a := &accs[j.list]
		var le *dnsrep.LookupError
		switch {
		case errors.Is(j.err, dnsrep.ErrListRefused):
			a.refused = append(a.refused, j.item.chain+" -> "+l.zone+": "+strings.TrimPrefix(j.err.Error(), "dnsrep: "))
		case errors.As(j.err, &le):
			a.unknown = append(a.unknown, j.item.chain+" -> "+l.zone+" -> "+le.Status.String())
		case j.err != nil:
			a.unknown = append(a.unknown, j.item.chain+" -> "+l.zone+": "+j.err.Error())
		case j.listing.Listed:
			s := l.scoreFor(j.listing.Codes)
			if !a.scored || s > a.score {
				a.score, a.scored = s, true
			}
			var codes []string
			for _, cd := range j.listing.Codes {
				codes = append(codes, cd.String())
			}
			d := j.item.chain + " -> " + l.zone + " -> " + strings.Join(codes, ",")
			if j.listing.Reason != "" {
				d += " (" + j.listing.Reason + ")"
			}
			a.listed = append(a.listed, d)
		}
	}
	var out []filters.Symbol
	for i, l := range c.lists {
		a := accs[i]
		if len(a.listed) > 0 {
			// Full: a return code's score is a strength of the list's
			// score, which is what a learned weight replaces.
			out = append(out, filters.Symbol{Name: l.Name, Score: a.score, Full: l.Score, Detail: detail(a.listed)})
		}
		if len(a.unknown) > 0 {
			s := filters.Symbol{Name: l.Name + SuffixUnknown, Detail: detail(a.unknown)}
			if l.Required {
				s.Force = filters.TempFail
			}
			out = append(out, s)
		}
		if len(a.refused) > 0 {
			out = append(out, filters.Symbol{Name: l.Name + SuffixError, Detail: detail(a.refused)})
			c.markRefused(l, errors.New(a.refused[0]))
		}
	}
	return out
}

// scoreFor is the highest score of the codes: the longest matching
// `returns` entry of each code, else the list's score.
func (l list) scoreFor(codes []netip.Addr) float64 {
	best := 0.0
	for i, cd := range codes {
		s := l.Score
		for _, r := range l.returns {
			if r.prefix.Contains(cd) {
				s = r.score
				break
			}
		}
		if i == 0 || s > best {
			best = s
		}
	}
	return best
}

// detail joins evidence chains, sorted, at most maxDetailItems of them.
func detail(chains []string) string {
	slices.Sort(chains)
	if len(chains) > maxDetailItems {
		return strings.Join(chains[:maxDetailItems], "; ") + fmt.Sprintf("; and %d more", len(chains)-maxDetailItems)
	}
	return strings.Join(chains, "; ")
}
