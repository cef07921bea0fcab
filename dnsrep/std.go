package dnsrep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"

	"github.com/miekg/dns"
)

// Std adapts a Querier to the net.Resolver-shaped StdResolver used by the
// authentication libraries. Errors are *net.DNSError:
//   - NXDOMAIN and NODATA: IsNotFound (Go's own resolver does the same for
//     NODATA, and SPF relies on it: RFC 7208 §4.3 and §5 treat both as "no
//     records", not as temperror);
//   - timeouts: IsTimeout and IsTemporary;
//   - SERVFAIL and REFUSED: IsTemporary (RFC 7208 §2.6.6 temperror).
func Std(q Querier) StdResolver { return stdResolver{q} }

type stdResolver struct{ q Querier }

// Messages match the standard library's so logs read the same.
const (
	errNoSuchHost   = "no such host"
	errMisbehaving  = "server misbehaving"
	errTimeout      = "i/o timeout"
	errRefusedQuery = "query refused"
	errUnreachable  = "no DNS server reachable"
)

// dnsError converts an unsuccessful lookup into a *net.DNSError.
func dnsError(a Answer, err error) error {
	de := &net.DNSError{Name: a.Name, UnwrapErr: err}
	var le *LookupError
	if errors.As(err, &le) {
		a.Status = le.Status
	} else if err != nil && !a.Status.Temporary() {
		// Invalid name or another local error: permanent, not found.
		de.Err = err.Error()
		de.IsNotFound = true
		return de
	}
	switch a.Status {
	case NXDomain, NoData:
		de.Err = errNoSuchHost
		de.IsNotFound = true
	case Timeout:
		de.Err = errTimeout
		de.IsTimeout = true
		de.IsTemporary = true
	case Refused:
		de.Err = errRefusedQuery
		de.IsTemporary = true
	case Unreachable:
		de.Err = errUnreachable
		de.IsTemporary = true
	default:
		de.Err = errMisbehaving
		de.IsTemporary = true
	}
	return de
}

func (s stdResolver) lookup(ctx context.Context, name string, qtype uint16) (Answer, error) {
	a, err := s.q.Lookup(ctx, name, qtype)
	if err != nil || a.Status != Success {
		if a.Name == "" {
			a.Name = name
		}
		return a, dnsError(a, err)
	}
	return a, nil
}

func (s stdResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	a, err := s.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	return a.TXT(), nil
}

func (s stdResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	a, err := s.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var out []*net.MX
	for _, rr := range a.RRs {
		if mx, ok := rr.(*dns.MX); ok {
			out = append(out, &net.MX{Host: dns.CanonicalName(mx.Mx), Pref: mx.Preference})
		}
	}
	return out, nil
}

func (s stdResolver) LookupNS(ctx context.Context, name string) ([]*net.NS, error) {
	a, err := s.lookup(ctx, name, dns.TypeNS)
	if err != nil {
		return nil, err
	}
	var out []*net.NS
	for _, t := range a.Targets() {
		out = append(out, &net.NS{Host: t})
	}
	return out, nil
}

func (s stdResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	arpa, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr, IsNotFound: true}
	}
	a, err := s.lookup(ctx, arpa, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	return a.Targets(), nil
}

// LookupIPAddr asks for A and AAAA in parallel. Like the standard library it
// returns the addresses it found even when the other query failed, and an
// error only when it found none (temporary if either query was).
func (s stdResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []net.IPAddr{{IP: net.IP(ip.AsSlice())}}, nil
	}
	type result struct {
		a   Answer
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				slog.Error("dnsrep: panic in AAAA lookup", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				ch <- result{Answer{Name: host, Status: ServFail}, &LookupError{Name: host, Qtype: dns.TypeAAAA, Status: ServFail}}
			}
		}()
		a, err := s.lookup(ctx, host, dns.TypeAAAA)
		ch <- result{a, err}
	}()
	a4, err4 := s.lookup(ctx, host, dns.TypeA)
	r6 := <-ch
	var out []net.IPAddr
	for _, ip := range append(a4.Addrs(), r6.a.Addrs()...) {
		out = append(out, net.IPAddr{IP: net.IP(ip.AsSlice())})
	}
	if len(out) > 0 {
		return out, nil
	}
	// Prefer the temporary error: "unknown" must not become "no address".
	var de *net.DNSError
	if errors.As(err4, &de) && de.Temporary() {
		return nil, err4
	}
	if r6.err != nil {
		return nil, r6.err
	}
	return nil, err4
}
