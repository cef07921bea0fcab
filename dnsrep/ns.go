package dnsrep

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/urlcheck"
)

// NSLimits caps the work of ResolveNS. Zero fields take the defaults.
type NSLimits struct {
	// MaxNS is the number of NS hosts resolved per domain (sorted by name).
	// Default 4.
	MaxNS int
	// MaxAddrs is the number of addresses kept per NS host. Default 4.
	MaxAddrs int
	// MaxUp is how many parent levels are tried when a name has no NS set.
	// Default 3. The walk never reaches a public suffix.
	MaxUp int
}

func (l NSLimits) withDefaults() NSLimits {
	if l.MaxNS <= 0 {
		l.MaxNS = 4
	}
	if l.MaxAddrs <= 0 {
		l.MaxAddrs = 4
	}
	if l.MaxUp <= 0 {
		l.MaxUp = 3
	}
	return l
}

// NSHost is one nameserver and its addresses.
type NSHost struct {
	Name  string // fully qualified, lower case
	Addrs []netip.Addr
	// Status of the address lookups: Success when any address was found,
	// else the A lookup's status (temporary statuses win).
	Status Status
}

// NSSet is the nameservers behind a domain.
type NSSet struct {
	Domain string
	// Zone is where the NS set was found: Domain or a parent.
	Zone string
	// Status is Success when an NS set was found; NXDomain when the domain
	// does not exist; NoData when no NS set was found below the public
	// suffix; a temporary status when a lookup failed.
	Status Status
	Hosts  []NSHost
	// Capped reports whether limits dropped NS hosts or addresses.
	Capped bool
	// Queries is the number of lookups made (cache hits included).
	Queries int
}

// ResolveNS finds the NS set of domain, walking up to parents when the name
// has none (it may be a host inside a zone), and resolves each NS host's A
// and AAAA records in parallel, within lim. The error is non-nil only for an
// invalid name or when the NS lookup itself was temporary; failed address
// lookups are recorded per host.
func ResolveNS(ctx context.Context, q Querier, domain string, lim NSLimits) (NSSet, error) {
	lim = lim.withDefaults()
	fq, err := checkName(domain)
	if err != nil {
		return NSSet{Domain: domain, Status: NXDomain}, err
	}
	name := strings.TrimSuffix(fq, ".")
	set := NSSet{Domain: name}
	// The walk stops at the public suffix, private section included: a
	// tenant of a hosting suffix (foo.blogspot.com) has the host's NS set,
	// which says nothing about the tenant.
	suffix, _ := urlcheck.PublicSuffix(name, urlcheck.Site)
	var targets []string
	for up := 0; ; up++ {
		if name == suffix || !strings.Contains(name, ".") || up > lim.MaxUp {
			set.Status = NoData
			return set, nil
		}
		set.Queries++
		a, err := q.Lookup(ctx, name+".", dns.TypeNS)
		if err != nil || a.Status.Temporary() {
			set.Status = a.Status
			if !a.Status.Temporary() {
				set.Status = ServFail
			}
			return set, fmt.Errorf("dnsrep: NS of %s: %w", name, err)
		}
		if a.Status == NXDomain {
			// RFC 8020: nothing exists below an NXDOMAIN; the domain
			// itself is gone when this is the first name asked.
			set.Status = NXDomain
			return set, nil
		}
		if a.Status == Success {
			targets = a.Targets()
			set.Zone = name
			break
		}
		_, parent, _ := strings.Cut(name, ".")
		name = parent
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	if len(targets) > lim.MaxNS {
		targets = targets[:lim.MaxNS]
		set.Capped = true
	}
	set.Status = Success
	set.Hosts = make([]NSHost, len(targets))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, t := range targets {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					slog.Error("dnsrep: panic resolving NS host", "host", t, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					set.Hosts[i] = NSHost{Name: strings.TrimSuffix(t, "."), Status: ServFail}
				}
			}()
			h, capped := resolveHost(ctx, q, t, lim.MaxAddrs)
			set.Hosts[i] = h
			mu.Lock()
			set.Queries += 2
			set.Capped = set.Capped || capped
			mu.Unlock()
		})
	}
	wg.Wait()
	return set, nil
}

func resolveHost(ctx context.Context, q Querier, host string, maxAddrs int) (NSHost, bool) {
	h := NSHost{Name: strings.TrimSuffix(host, ".")}
	a4, _ := q.Lookup(ctx, host, dns.TypeA)
	a6, _ := q.Lookup(ctx, host, dns.TypeAAAA)
	addrs := append(a4.Addrs(), a6.Addrs()...)
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	capped := false
	if len(addrs) > maxAddrs {
		addrs, capped = addrs[:maxAddrs], true
	}
	h.Addrs = addrs
	switch {
	case len(addrs) > 0:
		h.Status = Success
	case a6.Status.Temporary() && !a4.Status.Temporary():
		h.Status = a6.Status
	default:
		h.Status = a4.Status
	}
	return h, capped
}
