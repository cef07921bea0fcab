// Package dnstest provides DNS for tests: a github.com/miekg/dns server on
// loopback serving zone text (NewServer), and a map-based fake resolver
// answering from the same zone text without sockets (NewFake).
//
// Zone text is RFC 1035 master file syntax. Names without a trailing dot are
// relative to "." unless $ORIGIN says otherwise; a record without a TTL gets
// $TTL, else the last TTL written before it (RFC 1035 §5.1), else 3600.
// Example:
//
//	$ORIGIN example.org.
//	@        300 SOA ns1 hostmaster 1 3600 600 86400 60
//	@            TXT "v=spf1 ip4:192.0.2.0/24 -all"
//	@            MX  10 mx
//	mx           A   192.0.2.25
//	www          CNAME mx
//	*.wild       A   192.0.2.99
//
// Both answer the same way: exact names first, then the wildcard at the
// closest encloser (RFC 4592), CNAME chains followed inside the data,
// NXDOMAIN for names that do not exist (empty non-terminals are NODATA),
// and the closest enclosing SOA in the authority section of negative
// answers so negative caching (RFC 2308) can be tested.
package dnstest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Fault makes the server or fake misbehave for one name.
type Fault int

const (
	// NoFault answers normally (use it to clear a fault).
	NoFault Fault = iota
	// ServFail answers with rcode SERVFAIL.
	ServFail
	// Refused answers with rcode REFUSED.
	Refused
	// Timeout never answers.
	Timeout
	// Truncate answers over UDP with the TC bit and no records, and
	// normally over TCP (RFC 7766). The fake ignores it.
	Truncate
	// NoEDNS answers queries carrying an OPT record with FORMERR and no
	// OPT, as servers predating EDNS0 do (RFC 6891 §7). The fake ignores it.
	NoEDNS
	// TruncateNXDomain answers NXDOMAIN with the TC bit set over UDP and
	// over TCP alike: a broken server or middlebox whose answer must never
	// be used (RFC 7766 §5). The fake ignores it.
	TruncateNXDomain
)

// zoneData is the record store shared by Server and Fake.
type zoneData struct {
	mu     sync.RWMutex
	rrs    map[string][]dns.RR // owner name (canonical) -> records
	names  map[string]bool     // owners and their ancestors (empty non-terminals)
	faults map[string]Fault
	// zoneFaults apply to a name and every name below it.
	zoneFaults map[string]Fault
}

func newZoneData() *zoneData {
	return &zoneData{rrs: map[string][]dns.RR{}, names: map[string]bool{}, faults: map[string]Fault{}, zoneFaults: map[string]Fault{}}
}

// add parses zone text and adds its records.
func (z *zoneData) add(zone string) error {
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	zp.SetDefaultTTL(3600)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: zone: %w", err)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, rr := range rrs {
		owner := dns.CanonicalName(rr.Header().Name)
		rr.Header().Name = owner
		z.rrs[owner] = append(z.rrs[owner], rr)
		for n := owner; ; {
			z.names[n] = true
			i, end := dns.NextLabel(n, 0)
			if end {
				break
			}
			n = n[i:]
		}
	}
	return nil
}

func (z *zoneData) setFault(name string, f Fault)     { z.set(z.faults, name, f) }
func (z *zoneData) setZoneFault(zone string, f Fault) { z.set(z.zoneFaults, zone, f) }

func (z *zoneData) set(faults map[string]Fault, name string, f Fault) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if f == NoFault {
		delete(faults, dns.CanonicalName(name))
		return
	}
	faults[dns.CanonicalName(name)] = f
}

// fault is the fault of name itself, else of the closest zone above it
// that has one.
func (z *zoneData) fault(name string) Fault {
	z.mu.RLock()
	defer z.mu.RUnlock()
	n := dns.CanonicalName(name)
	if f, ok := z.faults[n]; ok {
		return f
	}
	if len(z.zoneFaults) == 0 {
		return NoFault
	}
	for {
		if f, ok := z.zoneFaults[n]; ok {
			return f
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			return z.zoneFaults["."]
		}
		n = n[i:]
	}
}

// answer builds the response sections for (qname, qtype).
func (z *zoneData) answer(qname string, qtype uint16) (rcode int, answer, authority []dns.RR) {
	z.mu.RLock()
	defer z.mu.RUnlock()
	name := dns.CanonicalName(qname)
	for hops := 0; hops < 10; hops++ {
		rrs, exists := z.lookup(name)
		if !exists {
			return dns.RcodeNameError, answer, z.soa(name)
		}
		var matched []dns.RR
		var cname *dns.CNAME
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				cname = c
			}
			if rr.Header().Rrtype == qtype || qtype == dns.TypeANY {
				matched = append(matched, rr)
			}
		}
		if cname != nil && len(matched) == 0 {
			answer = append(answer, cname)
			target := dns.CanonicalName(cname.Target)
			if _, ok := z.lookup(target); !ok && !z.inData(target) {
				// Target outside our data: the recursive resolver would
				// chase it elsewhere; we stop here.
				return dns.RcodeSuccess, answer, nil
			}
			name = target
			continue
		}
		if len(matched) == 0 {
			return dns.RcodeSuccess, answer, z.soa(name)
		}
		return dns.RcodeSuccess, append(answer, matched...), nil
	}
	return dns.RcodeServerFailure, nil, nil
}

// lookup returns copies of the records at name (or the wildcard one label
// up, renamed to name) and whether the name exists.
func (z *zoneData) lookup(name string) ([]dns.RR, bool) {
	rrs, ok := z.rrs[name]
	if !ok && !z.names[name] {
		// RFC 4592 §3.3.1: the wildcard at the closest encloser, the
		// nearest existing ancestor, answers for names that do not exist.
		for n := name; !ok; {
			i, end := dns.NextLabel(n, 0)
			if end {
				return nil, false
			}
			n = n[i:]
			if z.names[n] {
				if rrs, ok = z.rrs["*."+n]; !ok {
					return nil, false
				}
			}
		}
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Name = name
	}
	return out, true
}

// inData reports whether name is under a zone we have an SOA for.
func (z *zoneData) inData(name string) bool { return z.soa(name) != nil }

// soa returns the closest enclosing SOA of name, for negative answers.
func (z *zoneData) soa(name string) []dns.RR {
	for n := name; ; {
		for _, rr := range z.rrs[n] {
			if rr.Header().Rrtype == dns.TypeSOA {
				return []dns.RR{dns.Copy(rr)}
			}
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			return nil
		}
		n = n[i:]
	}
}
