package dnsrep_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// TestTruncatedOverTCPNeverUsed: a server that sets TC on its TCP answer
// too (here with NXDOMAIN, "not listed") gives no answer at all. Using it
// would read a blocklist as clean on a broken server's word.
func TestTruncatedOverTCPNeverUsed(t *testing.T) {
	s := dnstest.NewServer(t, "2.0.0.127.bl.test. 300 IN A 127.0.0.2\n")
	s.SetZoneFault("bl.test", dnstest.TruncateNXDomain)
	r, _ := newResolver(t, s.Addr())
	qname := dnsrep.IPQueryName(netip.MustParseAddr("192.0.2.99"), "bl.test")
	a, err := r.Lookup(context.Background(), qname, dns.TypeA)
	var le *dnsrep.LookupError
	if !a.Status.Temporary() || !errors.As(err, &le) {
		t.Fatalf("TC over TCP: status %v, err %v; want an unknown answer with a LookupError", a.Status, err)
	}
	if s.TCPQueries() == 0 {
		t.Fatal("the resolver never retried over TCP")
	}
	l, err := dnsrep.LookupListing(context.Background(), r, qname, false)
	if err == nil || l.Listed {
		t.Fatalf("listing from a truncated answer: %+v, %v; want an error (neither listed nor clean)", l, err)
	}
}
