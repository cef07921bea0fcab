// Package nameservers is the "nameservers" check: it finds
// the NS hosts and their addresses behind every linked domain and every
// sender domain of a message and records them in m.Facts.Infra, which it
// owns, for the blocklist and reputation checks after it. Spam campaigns
// rotate domains and IPs quickly; the DNS hosting behind them changes less.
package nameservers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/urlcheck"
)

// Name is the check's name.
const Name = "nameservers"

// Symbols.
const (
	SymbolBudget  = "NAMESERVERS_BUDGET"
	SymbolUnknown = "NAMESERVERS_UNKNOWN"
)

// Spec declares the check and its symbols: both say what the check could
// not see, and weigh nothing.
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "nameservers",
	Symbols: []filters.SymbolSpec{
		{Name: SymbolBudget, State: true, Doc: "domains were left unresolved by nameservers.max_domains (their Infra status is skipped: budget)"},
		{Name: SymbolUnknown, State: true, Doc: "the NS set of some domains could not be resolved (SERVFAIL, REFUSED, timeout): NS lists did not see them"},
	},
})

// Config is the top-level `nameservers:` section: it bounds the work per
// message. (These keys were once in the `dnsbl:` section; the config loader
// still takes them from there, with a deprecation warning.)
type Config struct {
	// MaxDomains is the number of registrable domains resolved per message
	// (sender domains first, then linked domains in message order).
	// Default 20.
	MaxDomains int `yaml:"max_domains"`
	// MaxNSPerDomain is the number of NS hosts resolved per domain (sorted
	// by name). Default 4.
	MaxNSPerDomain int `yaml:"max_ns_per_domain"`
	// MaxAddrsPerNS is the number of addresses kept per NS host. Default 4.
	MaxAddrsPerNS int `yaml:"max_addrs_per_ns"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{MaxDomains: 20, MaxNSPerDomain: 4, MaxAddrsPerNS: 4}
}

// Validate names the bad key.
func (c Config) Validate() error {
	for _, f := range []struct {
		key   string
		v, hi int
	}{
		{"max_domains", c.MaxDomains, 500},
		{"max_ns_per_domain", c.MaxNSPerDomain, 20},
		{"max_addrs_per_ns", c.MaxAddrsPerNS, 20},
	} {
		if f.v < 1 || f.v > f.hi {
			return fmt.Errorf("nameservers: nameservers.%s: must be 1..%d, got %d", f.key, f.hi, f.v)
		}
	}
	return nil
}

// Deps are the check's collaborators.
type Deps struct {
	// Resolver resolves the NS sets and addresses. Required.
	Resolver dnsrep.Querier
	Log      *slog.Logger
}

// Check is the "nameservers" check.
type Check struct {
	q   dnsrep.Querier
	cfg Config
	log *slog.Logger
	// parallel bounds concurrent domain resolutions.
	parallel int
}

var _ filters.Check = (*Check)(nil)

// New returns the check.
func New(cfg Config, deps Deps) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Resolver == nil {
		return nil, errors.New("nameservers: no resolver")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	return &Check{q: deps.Resolver, cfg: cfg, log: deps.Log, parallel: 8}, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Domains returns the registrable domains (Site scope: a hosting tenant is
// its own domain) whose nameservers the check resolves, each once, in the
// order of m.Domains: where the message comes from first, then what it
// links to.
func Domains(m *filters.Message) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range m.Domains() {
		if !d.Role.Origin() && !d.Role.Linked() {
			continue
		}
		if reg := d.Registrable(urlcheck.Site); reg != "" && !seen[reg] {
			seen[reg] = true
			out = append(out, reg)
		}
	}
	return out
}

// Run resolves the NS sets and writes m.Facts.Infra.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	sources := Domains(m)
	var syms []filters.Symbol
	infra := make([]filters.DomainInfra, len(sources))
	todo := sources
	if len(todo) > c.cfg.MaxDomains {
		for i, d := range sources[c.cfg.MaxDomains:] {
			infra[c.cfg.MaxDomains+i] = filters.DomainInfra{Domain: d, Status: "skipped: budget"}
		}
		todo = sources[:c.cfg.MaxDomains]
		syms = append(syms, Spec.Symbol(SymbolBudget, fmt.Sprintf("resolved %d of %d domains (nameservers.max_domains)", len(todo), len(sources))))
	}
	lim := dnsrep.NSLimits{MaxNS: c.cfg.MaxNSPerDomain, MaxAddrs: c.cfg.MaxAddrsPerNS}
	sem := make(chan struct{}, c.parallel)
	var wg sync.WaitGroup
	for i, domain := range todo {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					c.log.Error("nameservers: panic", "domain", domain, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					infra[i] = filters.DomainInfra{Domain: domain, Status: dnsrep.ServFail.String()}
				}
			}()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				infra[i] = filters.DomainInfra{Domain: domain, Status: dnsrep.Timeout.String()}
				return
			}
			infra[i] = resolve(ctx, c.q, domain, lim)
		})
	}
	wg.Wait()

	var unknown []string
	for _, d := range infra {
		if d.Status == dnsrep.ServFail.String() || d.Status == dnsrep.Timeout.String() || d.Status == dnsrep.Refused.String() || d.Status == dnsrep.Unreachable.String() {
			unknown = append(unknown, d.Domain+" "+d.Status)
		}
	}
	if len(unknown) > 0 {
		syms = append(syms, Spec.Symbol(SymbolUnknown, strings.Join(unknown, ", ")))
	}
	slices.SortStableFunc(infra, func(a, b filters.DomainInfra) int { return strings.Compare(a.Domain, b.Domain) })
	m.Facts.Infra = filters.Infra{Domains: infra}
	if len(unknown) > 0 {
		return syms, fmt.Errorf("nameservers: %w: %d of %d domains unresolved", filters.ErrIncomplete, len(unknown), len(sources))
	}
	return syms, nil
}

func resolve(ctx context.Context, q dnsrep.Querier, domain string, lim dnsrep.NSLimits) filters.DomainInfra {
	set, _ := dnsrep.ResolveNS(ctx, q, domain, lim)
	d := filters.DomainInfra{Domain: domain, Zone: set.Zone}
	switch set.Status {
	case dnsrep.Success:
		d.Status = "ok"
	default:
		d.Status = set.Status.String()
	}
	for _, h := range set.Hosts {
		d.NS = append(d.NS, filters.NSHost{Name: h.Name, Addrs: h.Addrs})
	}
	return d
}
