package dnsbl

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Kind is what a list is asked about (the `check:` key).
type Kind string

const (
	// KindIP: the connecting client address (IPv4 reversed, IPv6 nibbles).
	KindIP Kind = "ip"
	// KindDomain: registrable domains of URL hosts and sender identities.
	KindDomain Kind = "domain"
	// KindNSIP: the addresses of the nameservers of those domains.
	KindNSIP Kind = "ns_ip"
	// KindNSName: the nameserver host names and their registrable domains.
	KindNSName Kind = "ns_name"
)

// List is one entry of the top-level `blocklists:` config list.
type List struct {
	// Name is the symbol reported for a listing (upper case, digits, _).
	Name string `yaml:"name"`
	// Zone is the DNS zone of the list, e.g. zen.spamhaus.org.
	Zone string `yaml:"zone"`
	// Check is ip, domain, ns_ip or ns_name.
	Check Kind `yaml:"check"`
	// Score is the score of a listing whose code has no entry in Returns.
	Score float64 `yaml:"score"`
	// Returns maps return codes ("127.0.0.2") or code ranges
	// ("127.0.1.0/24") to scores; the best-matching (longest) entry wins,
	// and a listing with several codes scores the highest of them.
	Returns map[string]float64 `yaml:"returns"`
	// Refused lists codes inside 127.0.0.0/8 that this list uses to refuse
	// a query rather than to list (URIBL answers 127.0.0.1 to blocked
	// resolvers); they give <NAME>_ERROR like 127.255.255.x.
	Refused []string `yaml:"refused"`
	// TestPoint replaces the RFC 5782 §5 listed test point used by the
	// health probe: an IPv4 address for ip/ns_ip lists (default 127.0.0.2),
	// a domain for domain/ns_name lists (default "test").
	TestPoint string `yaml:"test_point"`
	// Required: when the list cannot be queried (SERVFAIL, timeout) the
	// <NAME>_UNKNOWN symbol forces tempfail so the sender retries.
	Required bool `yaml:"required"`
	// Enabled defaults to true; false keeps the entry in the file unused.
	Enabled *bool `yaml:"enabled"`
}

// IsEnabled reports whether the list is used.
func (l List) IsEnabled() bool { return l.Enabled == nil || *l.Enabled }

// Budgets is the top-level `dnsbl:` section: the check's limits per
// message and its probes. (The nameservers check has its own section,
// `nameservers:`.)
type Budgets struct {
	// MaxDomains is the number of registrable domains asked of domain and
	// nameserver lists per message (sender domains first, then linked
	// domains in message order). Default 20.
	MaxDomains int `yaml:"max_domains"`
	// MaxQueries is the number of list lookups per message, all lists
	// together (the TXT reason of a listing is fetched on top). Default 200.
	MaxQueries int `yaml:"max_queries"`
	// FetchReasons fetches the TXT record of each listing for the symbol
	// detail. Default true.
	FetchReasons *bool `yaml:"fetch_reasons"`
	// ProbeInterval is how often lists are probed with their RFC 5782 test
	// points. Default 10m.
	ProbeInterval time.Duration `yaml:"probe_interval"`
}

// DefaultBudgets returns the documented defaults.
func DefaultBudgets() Budgets {
	t := true
	return Budgets{MaxDomains: 20, MaxQueries: 200, FetchReasons: &t, ProbeInterval: 10 * time.Minute}
}

var symbolName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// Validate checks the budgets; errors name the key.
func (b Budgets) Validate() error {
	if b.MaxDomains < 1 || b.MaxDomains > 500 {
		return fmt.Errorf("dnsbl: dnsbl.max_domains: must be 1..500, got %d", b.MaxDomains)
	}
	if b.MaxQueries < 1 || b.MaxQueries > 10000 {
		return fmt.Errorf("dnsbl: dnsbl.max_queries: must be 1..10000, got %d", b.MaxQueries)
	}
	if b.ProbeInterval < time.Minute {
		return fmt.Errorf("dnsbl: dnsbl.probe_interval: must be >= 1m, got %s", b.ProbeInterval)
	}
	return nil
}

// ValidateLists checks the `blocklists:` entries; errors name the entry and
// key.
func ValidateLists(lists []List) error {
	var errs []error
	seen := map[string]int{}
	for i, l := range lists {
		key := fmt.Sprintf("blocklists[%d]", i)
		if !symbolName.MatchString(l.Name) {
			errs = append(errs, fmt.Errorf("%s.name: %q must be upper case letters, digits and _", key, l.Name))
		} else if j, ok := seen[l.Name]; ok {
			errs = append(errs, fmt.Errorf("%s.name: %q already used by blocklists[%d]", key, l.Name, j))
		} else {
			seen[l.Name] = i
		}
		if _, ok := dns.IsDomainName(l.Zone); !ok || !strings.Contains(strings.Trim(l.Zone, "."), ".") {
			errs = append(errs, fmt.Errorf("%s.zone: %q is not a list zone", key, l.Zone))
		}
		switch l.Check {
		case KindIP, KindDomain, KindNSIP, KindNSName:
		default:
			errs = append(errs, fmt.Errorf("%s.check: %q must be ip, domain, ns_ip or ns_name", key, l.Check))
		}
		if l.Score < -100 || l.Score > 100 {
			errs = append(errs, fmt.Errorf("%s.score: %v out of range -100..100", key, l.Score))
		}
		for code, s := range l.Returns {
			if _, err := parseCode(code); err != nil {
				errs = append(errs, fmt.Errorf("%s.returns[%q]: %w", key, code, err))
			}
			if s < -100 || s > 100 {
				errs = append(errs, fmt.Errorf("%s.returns[%q]: score %v out of range -100..100", key, code, s))
			}
		}
		if l.TestPoint != "" {
			if l.Check == KindIP || l.Check == KindNSIP {
				if a, err := netip.ParseAddr(l.TestPoint); err != nil || !a.Is4() {
					errs = append(errs, fmt.Errorf("%s.test_point: %q must be an IPv4 address for check %s", key, l.TestPoint, l.Check))
				}
			} else if _, ok := dns.IsDomainName(l.TestPoint); !ok {
				errs = append(errs, fmt.Errorf("%s.test_point: %q is not a domain", key, l.TestPoint))
			}
		}
		for k, code := range l.Refused {
			if a, err := netip.ParseAddr(code); err != nil || !a.Is4() || !listingRange.Contains(a) {
				errs = append(errs, fmt.Errorf("%s.refused[%d]: %q must be an address inside 127.0.0.0/8", key, k, code))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("dnsbl: %w", errors.Join(errs...))
	}
	return nil
}

var listingRange = netip.MustParsePrefix("127.0.0.0/8")
var refusedRange = netip.MustParsePrefix("127.255.255.0/24")

// parseCode parses a `returns` key: an address or a prefix inside
// 127.0.0.0/8 and outside the refusal range 127.255.255.0/24.
func parseCode(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("not an address or prefix")
		}
		p = p.Masked()
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("not an address or prefix")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().Is4() || !listingRange.Contains(p.Addr()) || p.Bits() < 8 {
		return p, fmt.Errorf("return codes are inside 127.0.0.0/8 (RFC 5782 §2.1)")
	}
	if refusedRange.Overlaps(p) {
		return p, fmt.Errorf("127.255.255.0/24 are error codes, never listings")
	}
	return p, nil
}
