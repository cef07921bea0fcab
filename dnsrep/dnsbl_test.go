package dnsrep_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

func TestReverseIP(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.99", "99.2.0.192"},
		{"127.0.0.2", "2.0.0.127"},
		{"::ffff:192.0.2.1", "1.2.0.192"},
		// RFC 5782 §2.4 example.
		{"2001:db8:1:2:3:4:567:89ab", "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"},
		{"::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			if got := dnsrep.ReverseIP(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Fatalf("ReverseIP(%s) = %s, want %s", tc.ip, got, tc.want)
			}
		})
	}
	if got := dnsrep.IPQueryName(netip.MustParseAddr("192.0.2.99"), "ZEN.example."); got != "99.2.0.192.zen.example." {
		t.Errorf("IPQueryName = %s", got)
	}
}

func TestDomainQueryName(t *testing.T) {
	if got, err := dnsrep.DomainQueryName("Example.COM.", "dbl.example"); err != nil || got != "example.com.dbl.example." {
		t.Errorf("DomainQueryName = %q, %v", got, err)
	}
	for _, bad := range []string{"", ".", ".example.com", strings.Repeat("a", 64) + ".com", strings.Repeat("abcdefghi.", 26) + "com"} {
		if got, err := dnsrep.DomainQueryName(bad, "dbl.example"); err == nil {
			t.Errorf("DomainQueryName(%q) = %q, want error", bad, got)
		}
	}
}

func aAnswer(status dnsrep.Status, ips ...string) dnsrep.Answer {
	a := dnsrep.Answer{Name: "2.0.0.127.list.example.", Qtype: dns.TypeA, Status: status}
	for _, ip := range ips {
		rr, err := dns.NewRR(a.Name + " 60 A " + ip)
		if err != nil {
			panic(err)
		}
		a.RRs = append(a.RRs, rr)
	}
	return a
}

func TestDecodeListing(t *testing.T) {
	tests := []struct {
		name    string
		answer  dnsrep.Answer
		listed  bool
		codes   string
		refused bool
		lookup  bool
	}{
		{"nxdomain", aAnswer(dnsrep.NXDomain), false, "", false, false},
		{"nodata", aAnswer(dnsrep.NoData), false, "", false, false},
		{"listed", aAnswer(dnsrep.Success, "127.0.0.2"), true, "127.0.0.2", false, false},
		{"codes sorted and unique", aAnswer(dnsrep.Success, "127.0.0.11", "127.0.0.4", "127.0.0.11"), true, "127.0.0.4 127.0.0.11", false, false},
		{"spamhaus public resolver", aAnswer(dnsrep.Success, "127.255.255.254"), false, "", true, false},
		{"spamhaus over quota", aAnswer(dnsrep.Success, "127.255.255.255"), false, "", true, false},
		{"outside 127/8 (wildcarded list)", aAnswer(dnsrep.Success, "192.0.2.1"), false, "", true, false},
		{"mixed listing and refusal", aAnswer(dnsrep.Success, "127.0.0.2", "127.255.255.252"), false, "", true, false},
		{"success without records", aAnswer(dnsrep.Success), false, "", true, false},
		{"servfail", aAnswer(dnsrep.ServFail), false, "", false, true},
		{"timeout", aAnswer(dnsrep.Timeout), false, "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := dnsrep.DecodeListing(tc.answer)
			var codes []string
			for _, c := range l.Codes {
				codes = append(codes, c.String())
			}
			if l.Listed != tc.listed || strings.Join(codes, " ") != tc.codes {
				t.Errorf("listed=%v codes=%v, want %v %q", l.Listed, codes, tc.listed, tc.codes)
			}
			if got := errors.Is(err, dnsrep.ErrListRefused); got != tc.refused {
				t.Errorf("err %v: refused=%v, want %v", err, got, tc.refused)
			}
			var le *dnsrep.LookupError
			if got := errors.As(err, &le); got != tc.lookup {
				t.Errorf("err %v: lookup error=%v, want %v", err, got, tc.lookup)
			}
			if !tc.refused && !tc.lookup && err != nil {
				t.Errorf("unexpected error %v", err)
			}
		})
	}
}

const listsZone = `
$ORIGIN bl.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
2.0.0.127   A   127.0.0.2
2.0.0.127   TXT "test point: see https://bl.test/q?127.0.0.2"
9.2.0.192   A   127.0.0.3
9.2.0.192   A   127.0.0.9
$ORIGIN everything.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
*.0.0.127   A   127.0.0.2
$ORIGIN refusing.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
*.0.0.127   A   127.255.255.254
$ORIGIN dbl.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
test        A   127.0.1.2
bad.example A   127.0.1.2
`

func TestLookupListing(t *testing.T) {
	f := dnstest.NewFake(t, listsZone)
	ctx := context.Background()
	l, err := dnsrep.LookupListing(ctx, f, "2.0.0.127.bl.test.", true)
	if err != nil || !l.Listed || !strings.HasPrefix(l.Reason, "test point") {
		t.Fatalf("LookupListing = %+v, %v", l, err)
	}
	l, err = dnsrep.LookupListing(ctx, f, "9.2.0.192.bl.test.", true)
	if err != nil || !l.Listed || len(l.Codes) != 2 || l.Reason != "" {
		t.Fatalf("listed without TXT: %+v, %v", l, err)
	}
	if l, err := dnsrep.LookupListing(ctx, f, "1.0.0.127.bl.test.", true); err != nil || l.Listed {
		t.Fatalf("not listed: %+v, %v", l, err)
	}
	f.SetFault("8.2.0.192.bl.test", dnstest.ServFail)
	if _, err := dnsrep.LookupListing(ctx, f, "8.2.0.192.bl.test.", true); err == nil {
		t.Fatal("SERVFAIL gave no error")
	}
}

func TestProbeList(t *testing.T) {
	f := dnstest.NewFake(t, listsZone)
	f.SetFault("2.0.0.127.down.test", dnstest.Timeout)
	tests := []struct {
		zone    string
		domain  bool
		listed  string
		healthy bool
		problem string
	}{
		{"bl.test", false, "", true, ""},
		{"everything.test", false, "", false, "answers for everything"},
		{"refusing.test", false, "", false, "refused"},
		{"down.test", false, "", false, "TIMEOUT"},
		{"nothing.test", false, "", false, "is not listed"},
		{"dbl.test", true, "", true, ""},
		{"dbl.test", true, "bad.example", true, ""},
		{"dbl.test", true, "good.example", false, "good.example.dbl.test. is not listed"},
		{"bl.test", false, "192.0.2.9", true, ""},
		{"bl.test", true, "", false, "is not listed"},
	}
	for _, tc := range tests {
		t.Run(tc.zone+"/"+tc.listed, func(t *testing.T) {
			h := dnsrep.ProbeList(context.Background(), f, tc.zone, dnsrep.ProbeOptions{Domain: tc.domain, Listed: tc.listed})
			if h.Healthy != tc.healthy || !strings.Contains(h.Problem, tc.problem) {
				t.Fatalf("ProbeList = %+v, want healthy=%v problem ~ %q", h, tc.healthy, tc.problem)
			}
		})
	}
}

const nsZone = `
$ORIGIN linked.example.
@    300 SOA ns1.dnshost.example. hostmaster 1 3600 600 86400 60
@        NS  ns1.dnshost.example.
@        NS  ns2.dnshost.example.
@        NS  ns3.other.example.
www      A   192.0.2.80
$ORIGIN dnshost.example.
@    300 SOA ns1 hostmaster 1 3600 600 86400 60
@        NS  ns1
ns1      A   198.51.100.1
ns1      AAAA 2001:db8:53::1
ns2      A   198.51.100.2
ns2      A   198.51.100.3
ns2      A   198.51.100.4
$ORIGIN other.example.
@    300 SOA ns3 hostmaster 1 3600 600 86400 60
@        NS  ns3
`

func TestResolveNS(t *testing.T) {
	f := dnstest.NewFake(t, nsZone)
	ctx := context.Background()

	set, err := dnsrep.ResolveNS(ctx, f, "linked.example", dnsrep.NSLimits{})
	if err != nil || set.Status != dnsrep.Success || set.Zone != "linked.example" || len(set.Hosts) != 3 {
		t.Fatalf("ResolveNS = %+v, %v", set, err)
	}
	if h := set.Hosts[0]; h.Name != "ns1.dnshost.example" || len(h.Addrs) != 2 || h.Status != dnsrep.Success {
		t.Errorf("host 0 = %+v", h)
	}
	if h := set.Hosts[2]; h.Name != "ns3.other.example" || len(h.Addrs) != 0 || h.Status != dnsrep.NXDomain {
		t.Errorf("host 2 (no address) = %+v", h)
	}

	t.Run("walks up from a host name", func(t *testing.T) {
		set, err := dnsrep.ResolveNS(ctx, f, "www.linked.example.", dnsrep.NSLimits{})
		if err != nil || set.Zone != "linked.example" || set.Domain != "www.linked.example" {
			t.Fatalf("ResolveNS = %+v, %v", set, err)
		}
	})
	t.Run("caps", func(t *testing.T) {
		set, err := dnsrep.ResolveNS(ctx, f, "linked.example", dnsrep.NSLimits{MaxNS: 2, MaxAddrs: 1})
		if err != nil || len(set.Hosts) != 2 || !set.Capped || len(set.Hosts[0].Addrs) != 1 || len(set.Hosts[1].Addrs) != 1 {
			t.Fatalf("ResolveNS = %+v, %v", set, err)
		}
	})
	t.Run("nxdomain", func(t *testing.T) {
		set, err := dnsrep.ResolveNS(ctx, f, "gone.example", dnsrep.NSLimits{})
		if err != nil || set.Status != dnsrep.NXDomain || len(set.Hosts) != 0 {
			t.Fatalf("ResolveNS = %+v, %v", set, err)
		}
	})
	t.Run("never asks a public suffix", func(t *testing.T) {
		set, err := dnsrep.ResolveNS(ctx, f, "com", dnsrep.NSLimits{})
		if err != nil || set.Status != dnsrep.NoData || set.Queries != 0 {
			t.Fatalf("ResolveNS = %+v, %v", set, err)
		}
	})
	t.Run("servfail", func(t *testing.T) {
		f.SetFault("broken.example", dnstest.ServFail)
		set, err := dnsrep.ResolveNS(ctx, f, "broken.example", dnsrep.NSLimits{})
		if err == nil || set.Status != dnsrep.ServFail {
			t.Fatalf("ResolveNS = %+v, %v", set, err)
		}
	})
	t.Run("ns host servfail", func(t *testing.T) {
		f.SetFault("ns2.dnshost.example", dnstest.ServFail)
		defer f.SetFault("ns2.dnshost.example", dnstest.NoFault)
		set, err := dnsrep.ResolveNS(ctx, f, "linked.example", dnsrep.NSLimits{})
		if err != nil || set.Hosts[1].Status != dnsrep.ServFail {
			t.Fatalf("ResolveNS = %+v, %v", set, err)
		}
	})
	if _, err := dnsrep.ResolveNS(ctx, f, "bad..name", dnsrep.NSLimits{}); err == nil {
		t.Error("invalid name accepted")
	}
}
