// Package fakedns is a map-based dnsrep.StdResolver for the authentication
// tests. It answers like the real resolver does: NXDOMAIN and NODATA are
// *net.DNSError with IsNotFound, SERVFAIL and timeouts are *net.DNSError with
// IsTemporary (and IsTimeout for timeouts).
package fakedns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// Failure is a forced answer for a name, whatever the record type.
type Failure int

const (
	// NoFailure answers from the maps.
	NoFailure Failure = iota
	// Timeout makes every query for the name time out.
	Timeout
	// ServFail makes every query for the name fail with SERVFAIL.
	ServFail
	// TimeoutMissing answers the record types the name has and times out
	// the others (the openspf suite's TIMEOUT entry beside other records).
	TimeoutMissing
)

// Resolver is a zone held in maps. Names are compared case-insensitively
// and without the trailing dot. A name that appears in no map is NXDOMAIN;
// a name that has records of other types only is NODATA.
type Resolver struct {
	mu    sync.Mutex
	TXT   map[string][]string
	IP    map[string][]netip.Addr
	MX    map[string][]*net.MX
	PTR   map[string][]string // keyed by the reverse name (…in-addr.arpa / …ip6.arpa)
	NS    map[string][]*net.NS
	CNAME map[string]string
	Fail  map[string]Failure

	// Queries counts the queries made, for tests that check lookup limits.
	Queries int
}

// New returns an empty zone.
func New() *Resolver {
	return &Resolver{
		TXT:   map[string][]string{},
		IP:    map[string][]netip.Addr{},
		MX:    map[string][]*net.MX{},
		PTR:   map[string][]string{},
		NS:    map[string][]*net.NS{},
		CNAME: map[string]string{},
		Fail:  map[string]Failure{},
	}
}

// Key normalises a DNS name the way the maps are keyed.
func Key(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// AddTXT appends a TXT record.
func (r *Resolver) AddTXT(name string, txt ...string) {
	r.TXT[Key(name)] = append(r.TXT[Key(name)], txt...)
}

// AddIP appends A/AAAA records; it panics on a bad address (tests only).
func (r *Resolver) AddIP(name string, addrs ...string) {
	for _, a := range addrs {
		r.IP[Key(name)] = append(r.IP[Key(name)], netip.MustParseAddr(a))
	}
}

func (r *Resolver) exists(k string) bool {
	if _, ok := r.TXT[k]; ok {
		return true
	}
	if _, ok := r.IP[k]; ok {
		return true
	}
	if _, ok := r.MX[k]; ok {
		return true
	}
	if _, ok := r.PTR[k]; ok {
		return true
	}
	if _, ok := r.NS[k]; ok {
		return true
	}
	_, ok := r.CNAME[k]
	return ok
}

// resolve follows CNAMEs and returns the final key, or an error for a
// forced failure or a CNAME loop.
func (r *Resolver) resolve(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", &net.DNSError{Err: "context done: " + err.Error(), Name: name, IsTimeout: true, IsTemporary: true}
	}
	k := Key(name)
	for range 10 {
		switch r.Fail[k] {
		case Timeout:
			return "", &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true, IsTemporary: true}
		case ServFail:
			return "", &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
		}
		t, ok := r.CNAME[k]
		if !ok {
			return k, nil
		}
		k = Key(t)
	}
	// A CNAME loop is a server failure (RFC 1034 §3.6.2).
	return "", &net.DNSError{Err: "cname loop", Name: name, IsTemporary: true}
}

func (r *Resolver) notFound(name, k string) error {
	if r.Fail[k] == TimeoutMissing {
		return &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true, IsTemporary: true}
	}
	if r.exists(k) {
		return &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
	}
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// lookup counts a query, follows CNAMEs from name and returns a copy of
// the records of the final name in m, or the error the fake is set up
// to give.
func lookup[T any](ctx context.Context, r *Resolver, name string, m func(*Resolver) map[string][]T) ([]T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Queries++
	k, err := r.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	v, ok := m(r)[k]
	if !ok {
		return nil, r.notFound(name, k)
	}
	return append([]T(nil), v...), nil
}

// LookupTXT implements dnsrep.StdResolver.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookup(ctx, r, name, func(r *Resolver) map[string][]string { return r.TXT })
}

// LookupIPAddr implements dnsrep.StdResolver.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := lookup(ctx, r, host, func(r *Resolver) map[string][]netip.Addr { return r.IP })
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(v))
	for i, a := range v {
		out[i] = net.IPAddr{IP: net.IP(a.AsSlice())}
	}
	return out, nil
}

// LookupMX implements dnsrep.StdResolver.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return lookup(ctx, r, name, func(r *Resolver) map[string][]*net.MX { return r.MX })
}

// LookupNS implements dnsrep.StdResolver.
func (r *Resolver) LookupNS(ctx context.Context, name string) ([]*net.NS, error) {
	return lookup(ctx, r, name, func(r *Resolver) map[string][]*net.NS { return r.NS })
}

// LookupAddr implements dnsrep.StdResolver: addr is an IP address, looked up
// as its reverse name in the PTR map.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	v, err := lookup(ctx, r, ReverseName(ip), func(r *Resolver) map[string][]string { return r.PTR })
	if err != nil {
		return nil, err
	}
	for i, n := range v {
		if !strings.HasSuffix(n, ".") {
			v[i] = n + "."
		}
	}
	return v, nil
}

// ReverseName is the PTR owner name of ip, without the trailing dot.
func ReverseName(ip netip.Addr) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.in-addr.arpa", a[3], a[2], a[1], a[0])
		return b.String()
	}
	a := ip.As16()
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}
