package dnstest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
)

const testZone = `
$ORIGIN example.org.
@        300 SOA ns1 hostmaster 1 3600 600 86400 60
@            NS  ns1
ns1          A   192.0.2.53
@            TXT "v=spf1 " "-all"
@            MX  10 mx
mx           A   192.0.2.25
mx           AAAA 2001:db8::25
www          CNAME mx
*.wild       A   192.0.2.99
a.b.deep     A   192.0.2.1
`

func TestServer(t *testing.T) {
	s := NewServer(t, testZone)
	c := &dns.Client{Timeout: 300 * time.Millisecond}
	ask := func(t *testing.T, name string, qtype uint16, network string) (*dns.Msg, error) {
		t.Helper()
		c := *c
		c.Net = network
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := c.Exchange(m, s.Addr())
		return r, err
	}
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answers int
		soa     bool
	}{
		{"A", "mx.example.org.", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"case insensitive", "MX.Example.ORG.", dns.TypeAAAA, dns.RcodeSuccess, 1, false},
		{"NXDOMAIN with SOA", "nope.example.org.", dns.TypeA, dns.RcodeNameError, 0, true},
		{"NODATA with SOA", "mx.example.org.", dns.TypeTXT, dns.RcodeSuccess, 0, true},
		{"empty non-terminal is NODATA", "b.deep.example.org.", dns.TypeA, dns.RcodeSuccess, 0, true},
		{"CNAME chased", "www.example.org.", dns.TypeA, dns.RcodeSuccess, 2, false},
		{"wildcard", "x.wild.example.org.", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"wildcard at closest encloser", "a.b.wild.example.org.", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"no wildcard at closest encloser", "x.b.deep.example.org.", dns.TypeA, dns.RcodeNameError, 0, true},
		{"outside data", "example.com.", dns.TypeA, dns.RcodeNameError, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ask(t, tc.qname, tc.qtype, "udp")
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode || len(r.Answer) != tc.answers || (len(r.Ns) == 1) != tc.soa {
				t.Fatalf("got rcode %s, %d answers, authority %v; want %s, %d, soa %v",
					dns.RcodeToString[r.Rcode], len(r.Answer), r.Ns, dns.RcodeToString[tc.rcode], tc.answers, tc.soa)
			}
		})
	}

	t.Run("faults", func(t *testing.T) {
		s.SetFault("mx.example.org", ServFail)
		if r, err := ask(t, "mx.example.org.", dns.TypeA, "udp"); err != nil || r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("servfail: %v %v", r, err)
		}
		s.SetFault("mx.example.org", Refused)
		if r, err := ask(t, "mx.example.org.", dns.TypeA, "udp"); err != nil || r.Rcode != dns.RcodeRefused {
			t.Fatalf("refused: %v %v", r, err)
		}
		s.SetFault("mx.example.org", Timeout)
		if _, err := ask(t, "mx.example.org.", dns.TypeA, "udp"); err == nil {
			t.Fatal("timeout fault: got an answer")
		}
		s.SetFault("mx.example.org", Truncate)
		r, err := ask(t, "mx.example.org.", dns.TypeA, "udp")
		if err != nil || !r.Truncated || len(r.Answer) != 0 {
			t.Fatalf("truncate over udp: %v %v", r, err)
		}
		before := s.TCPQueries()
		r, err = ask(t, "mx.example.org.", dns.TypeA, "tcp")
		if err != nil || r.Truncated || len(r.Answer) != 1 {
			t.Fatalf("truncate over tcp: %v %v", r, err)
		}
		if s.TCPQueries() != before+1 {
			t.Fatalf("tcp queries %d, want %d", s.TCPQueries(), before+1)
		}
		s.SetFault("mx.example.org", NoFault)
		if r, err := ask(t, "mx.example.org.", dns.TypeA, "udp"); err != nil || len(r.Answer) != 1 {
			t.Fatalf("cleared fault: %v %v", r, err)
		}
	})
	t.Run("counters", func(t *testing.T) {
		n := s.QueriesFor("ns1.example.org")
		ask(t, "ns1.example.org.", dns.TypeA, "udp")
		if got := s.QueriesFor("NS1.example.org."); got != n+1 {
			t.Fatalf("QueriesFor = %d, want %d", got, n+1)
		}
		if s.Queries() < 10 {
			t.Fatalf("Queries = %d", s.Queries())
		}
	})
	t.Run("big answer truncated over udp without edns", func(t *testing.T) {
		var b strings.Builder
		for i := range 40 {
			b.WriteString("big.example.org. TXT \"" + strings.Repeat("x", 50) + string(rune('a'+i%26)) + "\"\n")
		}
		if err := s.Add(b.String()); err != nil {
			t.Fatal(err)
		}
		r, err := ask(t, "big.example.org.", dns.TypeTXT, "udp")
		if err != nil || !r.Truncated {
			t.Fatalf("want TC over udp: %v", err)
		}
		r, err = ask(t, "big.example.org.", dns.TypeTXT, "tcp")
		if err != nil || r.Truncated || len(r.Answer) != 40 {
			t.Fatalf("tcp: %v, %d answers", err, len(r.Answer))
		}
	})
}

func TestFake(t *testing.T) {
	ctx := context.Background()
	f := NewFake(t, testZone)
	txt, err := f.LookupTXT(ctx, "example.org")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Fatalf("LookupTXT = %q, %v", txt, err)
	}
	ips, err := f.LookupIPAddr(ctx, "www.example.org")
	if err != nil || len(ips) != 2 {
		t.Fatalf("LookupIPAddr = %v, %v", ips, err)
	}
	mx, err := f.LookupMX(ctx, "example.org")
	if err != nil || len(mx) != 1 || mx[0].Host != "mx.example.org." || mx[0].Pref != 10 {
		t.Fatalf("LookupMX = %v, %v", mx, err)
	}
	a, err := f.Lookup(ctx, "nope.example.org", dns.TypeA)
	if err != nil || a.Status != dnsrep.NXDomain || a.TTL != 60*time.Second {
		t.Fatalf("Lookup NXDOMAIN = %+v, %v", a, err)
	}

	errTests := []struct {
		name                string
		fault               Fault
		qname               string
		notFound, temporary bool
		timeout             bool
	}{
		{"nxdomain", NoFault, "nope.example.org", true, false, false},
		{"nodata", NoFault, "ns1.example.org", true, false, false},
		{"servfail", ServFail, "example.org", false, true, false},
		{"refused", Refused, "example.org", false, true, false},
		{"timeout", Timeout, "example.org", false, true, true},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			f.SetFault(tc.qname, tc.fault)
			defer f.SetFault(tc.qname, NoFault)
			_, err := f.LookupTXT(ctx, tc.qname)
			var de *net.DNSError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not *net.DNSError", err, err)
			}
			if de.IsNotFound != tc.notFound || de.IsTemporary != tc.temporary || de.IsTimeout != tc.timeout {
				t.Fatalf("%+v: want notfound %v temporary %v timeout %v", de, tc.notFound, tc.temporary, tc.timeout)
			}
		})
	}
	if q := f.Queries(); len(q) == 0 || q[0] != "example.org. TXT" {
		t.Fatalf("Queries = %v", q)
	}
}
