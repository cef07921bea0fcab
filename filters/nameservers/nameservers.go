// Package nameservers is the "nameservers" check (stage policy): it finds
// the NS hosts and their addresses behind every linked domain and every
// sender domain of a message and records them in m.Facts.Infra, which it
// owns, for the blocklist checks of the reputation stage. Spam campaigns
// rotate domains and IPs quickly; the DNS hosting behind them changes less.
package nameservers

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
)

// Symbols.
const (
	// SymbolBudget (score 0): domains were left unresolved because of
	// max_domains.
	SymbolBudget = "NAMESERVERS_BUDGET"
	// SymbolUnknown (score 0): the NS set of some domains could not be
	// resolved (SERVFAIL, timeout); ns_ip and ns_name lists did not see them.
	SymbolUnknown = "NAMESERVERS_UNKNOWN"
)

// Config bounds the work per message. Its keys live in the top-level
// `dnsbl:` section (see filters/dnsbl.Budgets).
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
			return fmt.Errorf("nameservers: dnsbl.%s: must be 1..%d, got %d", f.key, f.hi, f.v)
		}
	}
	return nil
}

// Check is the "nameservers" check.
type Check struct {
	q   dnsrep.Querier
	cfg Config
	// parallel bounds concurrent domain resolutions.
	parallel int
}

// New returns the check resolving through q.
func New(q dnsrep.Querier, cfg Config) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Check{q: q, cfg: cfg, parallel: 8}, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return "nameservers" }

// Source is a registrable domain and the first place it was seen.
type Source struct {
	Domain string
	// Role says where it came from: "MAIL FROM", "From", "DKIM d=",
	// "HELO", "rDNS", "URL host <host>", or "linked".
	Role string
}

// Domains returns the registrable domains of m, each once, sender
// identities first (MAIL FROM, From, DKIM d= of passing signatures, HELO,
// client rDNS), then linked domains (URL hosts, then Facts.Content.Domains).
func Domains(m *filters.Message) []Source {
	var out []Source
	seen := map[string]bool{}
	add := func(name, role string) {
		d := Registrable(name)
		if d == "" || seen[d] {
			return
		}
		seen[d] = true
		out = append(out, Source{Domain: d, Role: role})
	}
	add(domainOf(m.Envelope.MailFrom), "MAIL FROM")
	for _, v := range m.HeaderValues("From") {
		if list, err := mail.ParseAddressList(v); err == nil {
			for _, a := range list {
				add(domainOf(a.Address), "From")
			}
		} else if i := strings.LastIndexByte(v, '@'); i >= 0 {
			add(strings.TrimRight(v[i+1:], "> \t"), "From")
		}
	}
	for _, d := range m.Facts.Auth.DKIM {
		if d.Result == "pass" {
			add(d.Domain, "DKIM d=")
		}
	}
	add(m.Envelope.Helo, "HELO")
	add(m.Envelope.ClientName, "rDNS")
	for _, u := range m.Facts.Content.URLs {
		add(u.Host, "URL host "+strings.ToLower(strings.TrimSuffix(u.Host, ".")))
	}
	for _, d := range m.Facts.Content.Domains {
		add(d, "linked")
	}
	// Where followed links led (the follow check, stage links).
	for _, ch := range m.Facts.Links {
		for _, h := range ch.Hops {
			add(h.Domain, "redirect hop of "+ch.URL)
		}
	}
	return out
}

// Linked reports whether the domain came from the message content rather
// than from a sender identity.
func (s Source) Linked() bool {
	return s.Role == "linked" || strings.HasPrefix(s.Role, "URL host ") || strings.HasPrefix(s.Role, "redirect hop of ")
}

func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}

// Registrable returns the registrable domain (eTLD+1, Public Suffix List) of
// a host name, lower case without trailing dot, or "" for IP literals,
// single labels, public suffixes and invalid names.
func Registrable(host string) string {
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(host), "."))
	h = strings.Trim(h, "[]")
	if h == "" || !strings.Contains(h, ".") || len(h) > 253 {
		return ""
	}
	if _, err := netip.ParseAddr(strings.TrimPrefix(h, "ipv6:")); err == nil {
		return ""
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return "" // U-labels must arrive as A-labels; other bytes are not a host
		}
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil {
		return ""
	}
	return d
}

// Run resolves the NS sets and writes m.Facts.Infra.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	sources := Domains(m)
	var syms []filters.Symbol
	infra := make([]filters.DomainInfra, len(sources))
	todo := sources
	if len(todo) > c.cfg.MaxDomains {
		for i, s := range sources[c.cfg.MaxDomains:] {
			infra[c.cfg.MaxDomains+i] = filters.DomainInfra{Domain: s.Domain, Status: "skipped: budget"}
		}
		todo = sources[:c.cfg.MaxDomains]
		syms = append(syms, filters.Symbol{Name: SymbolBudget,
			Detail: fmt.Sprintf("resolved %d of %d domains (dnsbl.max_domains)", len(todo), len(sources))})
	}
	lim := dnsrep.NSLimits{MaxNS: c.cfg.MaxNSPerDomain, MaxAddrs: c.cfg.MaxAddrsPerNS}
	sem := make(chan struct{}, c.parallel)
	var wg sync.WaitGroup
	for i, s := range todo {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					slog.Error("nameservers: panic", "domain", s.Domain, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					infra[i] = filters.DomainInfra{Domain: s.Domain, Status: dnsrep.ServFail.String()}
				}
			}()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				infra[i] = filters.DomainInfra{Domain: s.Domain, Status: dnsrep.Timeout.String()}
				return
			}
			infra[i] = resolve(ctx, c.q, s.Domain, lim)
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
		syms = append(syms, filters.Symbol{Name: SymbolUnknown, Detail: strings.Join(unknown, ", ")})
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
