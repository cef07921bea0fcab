package dnstest

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
)

// Fake is a map-based resolver for unit tests: it implements dnsrep.Querier
// and dnsrep.StdResolver without sockets, answering from zone text through
// the same classification (dnsrep.FromMsg) and error mapping (dnsrep.Std)
// as the real resolver. Timeout faults return immediately with status
// Timeout; Truncate and NoEDNS are ignored.
type Fake struct {
	data *zoneData
	std  dnsrep.StdResolver

	mu      sync.Mutex
	queries []string
}

// NewFake returns a fake answering from zone; it fails the test if the zone
// does not parse.
func NewFake(t testing.TB, zone string) *Fake {
	t.Helper()
	f := &Fake{data: newZoneData()}
	if err := f.data.add(zone); err != nil {
		t.Fatal(err)
	}
	f.std = dnsrep.Std(f)
	return f
}

// Add adds the records of more zone text.
func (f *Fake) Add(zone string) error { return f.data.add(zone) }

// SetFault makes lookups of name (any type) fail; NoFault clears it.
func (f *Fake) SetFault(name string, fault Fault) { f.data.setFault(name, fault) }

// SetZoneFault makes lookups of zone and every name below it fail ("."
// for all); NoFault clears it.
func (f *Fake) SetZoneFault(zone string, fault Fault) { f.data.setZoneFault(zone, fault) }

// Queries returns the questions asked so far, as "name TYPE".
func (f *Fake) Queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

// Lookup implements dnsrep.Querier.
func (f *Fake) Lookup(ctx context.Context, name string, qtype uint16) (dnsrep.Answer, error) {
	fq := dns.CanonicalName(name)
	f.mu.Lock()
	f.queries = append(f.queries, fq+" "+dns.TypeToString[qtype])
	f.mu.Unlock()
	a := dnsrep.Answer{Name: fq, Qtype: qtype, Canonical: fq}
	if err := ctx.Err(); err != nil {
		a.Status = dnsrep.Timeout
		return a, &dnsrep.LookupError{Name: fq, Qtype: qtype, Status: a.Status, Err: err}
	}
	if _, ok := dns.IsDomainName(fq); !ok {
		a.Status = dnsrep.NXDomain
		return a, dnsrep.ErrInvalidName
	}
	resp := new(dns.Msg)
	resp.SetQuestion(fq, qtype)
	switch f.data.fault(fq) {
	case Timeout:
		a.Status = dnsrep.Timeout
		return a, &dnsrep.LookupError{Name: fq, Qtype: qtype, Status: a.Status, Err: context.DeadlineExceeded}
	case ServFail:
		resp.Rcode = dns.RcodeServerFailure
	case Refused:
		resp.Rcode = dns.RcodeRefused
	default:
		resp.Rcode, resp.Answer, resp.Ns = f.data.answer(fq, qtype)
	}
	a = dnsrep.FromMsg(fq, qtype, resp)
	if a.Status.Temporary() {
		return a, &dnsrep.LookupError{Name: fq, Qtype: qtype, Status: a.Status}
	}
	return a, nil
}

// LookupTXT implements dnsrep.StdResolver.
func (f *Fake) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return f.std.LookupTXT(ctx, name)
}

// LookupMX implements dnsrep.StdResolver.
func (f *Fake) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return f.std.LookupMX(ctx, name)
}

// LookupIPAddr implements dnsrep.StdResolver.
func (f *Fake) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return f.std.LookupIPAddr(ctx, host)
}

// LookupAddr implements dnsrep.StdResolver.
func (f *Fake) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return f.std.LookupAddr(ctx, addr)
}

// LookupNS implements dnsrep.StdResolver.
func (f *Fake) LookupNS(ctx context.Context, name string) ([]*net.NS, error) {
	return f.std.LookupNS(ctx, name)
}

var (
	_ dnsrep.Querier     = (*Fake)(nil)
	_ dnsrep.StdResolver = (*Fake)(nil)
)
