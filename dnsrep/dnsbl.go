package dnsrep

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ReverseIP returns the DNSBL labels of ip, without a trailing dot: IPv4
// octets reversed (RFC 5782 §2.1), IPv6 as 32 reversed nibbles (§2.4).
// IPv4-mapped IPv6 addresses are treated as IPv4.
func ReverseIP(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return fmt.Sprintf("%d.%d.%d.%d", b[3], b[2], b[1], b[0])
	}
	const hex = "0123456789abcdef"
	b := ip.As16()
	var s strings.Builder
	s.Grow(64)
	for i := len(b) - 1; i >= 0; i-- {
		s.WriteByte(hex[b[i]&0xf])
		s.WriteByte('.')
		s.WriteByte(hex[b[i]>>4])
		if i > 0 {
			s.WriteByte('.')
		}
	}
	return s.String()
}

// IPQueryName is the name to ask for ip in an IP list: "2.0.0.127.zone.".
func IPQueryName(ip netip.Addr, zone string) string {
	return ReverseIP(ip) + "." + dns.Fqdn(strings.ToLower(zone))
}

// DomainQueryName is the name to ask for domain in a domain list (RFC 5782
// §2.3): "domain.zone.". It fails when the result is not a valid name.
func DomainQueryName(domain, zone string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	if d == "" || strings.HasPrefix(d, ".") {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, domain)
	}
	return checkName(d + "." + strings.TrimSuffix(strings.ToLower(zone), ".") + ".")
}

// ErrListRefused means the list answered with a code that is not a listing:
// anything outside 127.0.0.0/8, or 127.255.255.x (Spamhaus: typo in the
// query, query through a public resolver, over quota). It is never a
// listing and never "clean".
var ErrListRefused = errors.New("dnsrep: list refused the query")

// Listing is the decoded answer of a DNSBL for one query name.
type Listing struct {
	// Name is the query name.
	Name string
	// Listed reports whether the list lists it; Codes are the return codes
	// (all in 127.0.0.0/8), sorted.
	Listed bool
	Codes  []netip.Addr
	// Reason is the TXT record of the listing, when fetched and present.
	Reason string
	// TTL of the answer.
	TTL time.Duration
}

var loopback8 = netip.MustParsePrefix("127.0.0.0/8")
var refusedRange = netip.MustParsePrefix("127.255.255.0/24")

// DecodeListing turns the A answer for a DNSBL query into a Listing. NXDOMAIN
// and NODATA are "not listed"; SERVFAIL, REFUSED and timeouts are errors
// (*LookupError); any code outside 127.0.0.0/8 or in 127.255.255.0/24 makes
// the whole answer an ErrListRefused error (RFC 5782 §2.1 puts listings in
// 127/8; a list answering elsewhere is misbehaving, possibly wildcarded).
func DecodeListing(a Answer) (Listing, error) {
	l := Listing{Name: a.Name, TTL: a.TTL}
	switch a.Status {
	case NXDomain, NoData:
		return l, nil
	case Success:
	default:
		return l, &LookupError{Name: a.Name, Qtype: a.Qtype, Status: a.Status}
	}
	var bad []string
	for _, ip := range a.Addrs() {
		if !ip.Is4() || !loopback8.Contains(ip) || refusedRange.Contains(ip) {
			bad = append(bad, ip.String())
			continue
		}
		if !slices.Contains(l.Codes, ip) {
			l.Codes = append(l.Codes, ip)
		}
	}
	if len(bad) > 0 {
		return Listing{Name: a.Name, TTL: a.TTL}, fmt.Errorf("%w: %s answered %s", ErrListRefused, a.Name, strings.Join(bad, ","))
	}
	if len(l.Codes) == 0 {
		// NOERROR with A records we could not read: treat as not listed
		// would be "clean" on garbage; it is an error.
		return l, fmt.Errorf("%w: %s answered without A records", ErrListRefused, a.Name)
	}
	slices.SortFunc(l.Codes, netip.Addr.Compare)
	l.Listed = true
	return l, nil
}

// RefusedBy returns an ErrListRefused error when one of the listing's codes
// is among refused, the list-specific refusal codes inside 127.0.0.0/8.
func (l Listing) RefusedBy(refused []netip.Addr) error {
	var bad []string
	for _, c := range l.Codes {
		if slices.Contains(refused, c) {
			bad = append(bad, c.String())
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s answered %s", ErrListRefused, l.Name, strings.Join(bad, ","))
}

// maxReason caps the TXT reason kept in a Listing.
const maxReason = 256

// LookupListing asks the list for name (from IPQueryName or DomainQueryName)
// and, when listed and withReason is set, fetches the TXT reason (a failed
// TXT lookup leaves Reason empty: the listing stands without it).
func LookupListing(ctx context.Context, q Querier, name string, withReason bool) (Listing, error) {
	a, err := q.Lookup(ctx, name, dns.TypeA)
	if err != nil {
		// Invalid names, and unknown answers with the transport error
		// that says why (refused, unreachable, timeout).
		return Listing{Name: name}, err
	}
	l, err := DecodeListing(a)
	if err != nil || !l.Listed || !withReason {
		return l, err
	}
	if t, terr := q.Lookup(ctx, name, dns.TypeTXT); terr == nil && t.Status == Success {
		reason := strings.Join(t.TXT(), "; ")
		reason = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, reason)
		if len(reason) > maxReason {
			reason = reason[:maxReason]
		}
		l.Reason = reason
	}
	return l, nil
}

// ListHealth is the outcome of probing a list with its RFC 5782 §5 test
// points.
type ListHealth struct {
	// List is the list's configured name (set by the dnsbl check).
	List    string
	Zone    string
	Healthy bool
	// Unanswered: a test point got no answer (SERVFAIL, REFUSED from our
	// resolver, timeout, a broken answer). That says nothing about the
	// list, only about the path to it: the list's last known health stands
	// and the probe is repeated soon. Healthy is false, Failure and
	// Problem say why.
	Unanswered bool
	// Failure classifies what failed and Problem says it in full; both
	// empty when healthy.
	Failure Failure
	Problem string
	Checked time.Time
}

// ProbeOptions adjust ProbeList to a list's conventions.
type ProbeOptions struct {
	// Domain selects the domain-list test points (default: IP list).
	Domain bool
	// Listed replaces the listed test point: an IP address for IP lists, a
	// domain for domain lists (Spamhaus DBL documents dbltest.com).
	Listed string
	// Refused are codes inside 127.0.0.0/8 that this list uses to refuse
	// queries (URIBL: 127.0.0.1).
	Refused []netip.Addr
}

// ProbeList checks a list with its test points (RFC 5782 §5): for an IP list
// 127.0.0.2 must be listed and 127.0.0.1 must not; for a domain list "test"
// must be listed and "invalid" must not. Only answers prove a list
// unhealthy: one that lists everything, lists nothing or answers with a
// refusal code. A test point that gets no answer makes the result
// Unanswered, never unhealthy: a DNS outage must not switch lists off.
func ProbeList(ctx context.Context, q Querier, zone string, o ProbeOptions) ListHealth {
	h := ListHealth{Zone: zone, Checked: time.Now()}
	var listed, clean string
	var err error
	if o.Domain {
		point := "test"
		if o.Listed != "" {
			point = o.Listed
		}
		if listed, err = DomainQueryName(point, zone); err == nil {
			clean, err = DomainQueryName("invalid", zone)
		}
	} else {
		point := netip.AddrFrom4([4]byte{127, 0, 0, 2})
		if o.Listed != "" {
			point, err = netip.ParseAddr(o.Listed)
		}
		if err == nil {
			listed = IPQueryName(point, zone)
			clean = IPQueryName(netip.AddrFrom4([4]byte{127, 0, 0, 1}), zone)
		}
	}
	if err != nil {
		h.Failure, h.Problem = FailOther, err.Error()
		return h
	}
	var le *LookupError
	l, err := LookupListing(ctx, q, listed, false)
	if err == nil {
		err = l.RefusedBy(o.Refused)
	}
	switch {
	case errors.As(err, &le):
		h.Unanswered = true
		h.Failure, h.Problem = LookupFailure(err), "no answer for test point "+listed+": "+err.Error()
		return h
	case err != nil:
		h.Failure, h.Problem = LookupFailure(err), "test point "+listed+": "+err.Error()
		return h
	case !l.Listed:
		h.Failure, h.Problem = FailWrongAnswer, "test point "+listed+" is not listed"
		return h
	}
	l, err = LookupListing(ctx, q, clean, false)
	if err == nil {
		err = l.RefusedBy(o.Refused)
	}
	switch {
	case errors.As(err, &le):
		h.Unanswered = true
		h.Failure, h.Problem = LookupFailure(err), "no answer for test point "+clean+": "+err.Error()
	case err != nil:
		h.Failure, h.Problem = LookupFailure(err), "test point "+clean+": "+err.Error()
	case l.Listed:
		h.Failure, h.Problem = FailWrongAnswer, "test point "+clean+" is listed (the list answers for everything)"
	default:
		h.Healthy = true
	}
	return h
}
