package dnsrep

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Querier answers one DNS question with a classified Answer. *Resolver is the
// production implementation; dnstest.Fake is the map-based one for unit tests.
//
// Lookup returns a nil error for Success, NoData and NXDomain: those are
// answers. For ServFail, Refused and Timeout it returns the Answer with that
// Status and a *LookupError, so a caller that ignores the status still cannot
// mistake "unknown" for "clean". Invalid names are also errors.
type Querier interface {
	Lookup(ctx context.Context, name string, qtype uint16) (Answer, error)
}

// Answer is the classified result of one query.
type Answer struct {
	// Name is the question name, lower case and fully qualified.
	Name  string
	Qtype uint16
	// Status classifies the outcome (RFC 2308 for NoData and NXDomain).
	Status Status
	// RRs are the answer records of type Qtype owned by Canonical (after
	// following CNAMEs); empty unless Status is Success.
	RRs []dns.RR
	// Canonical is the owner name of RRs: Name, or the target of its CNAME
	// chain.
	Canonical string
	// TTL is how long the answer may be reused: the smallest TTL of the
	// records and CNAMEs, or for negative answers the SOA minimum (RFC 2308
	// §5); 0 when the server gave nothing to go by.
	TTL time.Duration
	// Cached reports whether the answer was served from the cache.
	Cached bool
	// cause is the transport error behind a Timeout or Unreachable answer,
	// kept with it in the cache so that a cached failure still says why.
	cause error
}

// LookupError is the error of a query whose answer is unknown.
type LookupError struct {
	Name   string
	Qtype  uint16
	Status Status
	// Err is the underlying transport error, if any.
	Err error
}

func (e *LookupError) Error() string {
	s := fmt.Sprintf("dnsrep: %s %s: %s", e.Name, dns.TypeToString[e.Qtype], e.Status)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *LookupError) Unwrap() error { return e.Err }

// ErrInvalidName is returned (wrapped) for names that cannot be queried.
var ErrInvalidName = errors.New("dnsrep: invalid domain name")

// maxCNAMEChain bounds the CNAME chain followed inside one response.
const maxCNAMEChain = 8

// FromMsg classifies the response resp to the question (name, qtype). It
// never fails: a response that does not answer the question is NoData or
// ServFail, never Success. It reads attacker-controlled data and is fuzzed.
func FromMsg(name string, qtype uint16, resp *dns.Msg) Answer {
	name = dns.CanonicalName(name)
	a := Answer{Name: name, Qtype: qtype, Canonical: name}
	if resp == nil {
		a.Status = ServFail
		return a
	}
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeRefused:
		a.Status = Refused
		return a
	default:
		// SERVFAIL, and FORMERR/NOTIMP/others: the server could not answer
		// this question; the answer is unknown.
		a.Status = ServFail
		return a
	}

	// Follow the CNAME chain from the question name (RFC 1034 §3.6.2); the
	// records we want are owned by the last name of the chain.
	minTTL := uint32(1<<32 - 1)
	owner := name
	for hops := 0; hops <= maxCNAMEChain; hops++ {
		var next string
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, owner) {
				continue
			}
			if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				next = dns.CanonicalName(c.Target)
				minTTL = min(minTTL, h.Ttl)
				break
			}
		}
		if next == "" || next == owner {
			break
		}
		owner = next
	}
	a.Canonical = owner
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, owner) {
			continue
		}
		if h.Rrtype == qtype || qtype == dns.TypeANY {
			a.RRs = append(a.RRs, rr)
			minTTL = min(minTTL, h.Ttl)
		}
	}
	if len(a.RRs) > 0 {
		// RFC 2308 §2.1: an NXDOMAIN with answers is about the chain's end;
		// records we were asked for mean success either way.
		a.Status = Success
		a.TTL = time.Duration(minTTL) * time.Second
		return a
	}
	if resp.Rcode == dns.RcodeNameError {
		a.Status = NXDomain
	} else {
		a.Status = NoData
	}
	a.TTL = negativeTTL(resp)
	return a
}

// negativeTTL is the RFC 2308 §5 negative-caching TTL: the minimum of the
// SOA record's TTL and its MINIMUM field, from the authority section.
func negativeTTL(resp *dns.Msg) time.Duration {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return 0
}

// Addrs returns the addresses of A and AAAA records.
func (a Answer) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, rr := range a.RRs {
		var ip netip.Addr
		var ok bool
		switch r := rr.(type) {
		case *dns.A:
			ip, ok = netip.AddrFromSlice(r.A.To4())
		case *dns.AAAA:
			ip, ok = netip.AddrFromSlice(r.AAAA.To16())
		}
		if ok {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// TXT returns one string per TXT record, the record's character-strings
// concatenated (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
func (a Answer) TXT() []string {
	var out []string
	for _, rr := range a.RRs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

// Targets returns the target names of NS, PTR, CNAME and MX records, fully
// qualified, lower case.
func (a Answer) Targets() []string {
	var out []string
	for _, rr := range a.RRs {
		switch r := rr.(type) {
		case *dns.NS:
			out = append(out, dns.CanonicalName(r.Ns))
		case *dns.PTR:
			out = append(out, dns.CanonicalName(r.Ptr))
		case *dns.CNAME:
			out = append(out, dns.CanonicalName(r.Target))
		case *dns.MX:
			out = append(out, dns.CanonicalName(r.Mx))
		}
	}
	return out
}

// checkName validates and canonicalises a query name.
func checkName(name string) (string, error) {
	if name == "" || len(name) > 254 {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	fq := dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(fq); !ok {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return fq, nil
}

// errorFor returns the error Lookup returns with a.
func errorFor(a Answer, err error) error {
	if !a.Status.Temporary() {
		return nil
	}
	if err == nil {
		err = a.cause
	}
	return &LookupError{Name: a.Name, Qtype: a.Qtype, Status: a.Status, Err: err}
}
