package dnsrep_test

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
)

// FuzzFromMsg feeds arbitrary DNS responses to the answer classification and
// the DNSBL decoding, which see bytes from the network.
func FuzzFromMsg(f *testing.F) {
	add := func(rcode int, rrs ...string) {
		m := new(dns.Msg)
		m.SetQuestion("2.0.0.127.bl.test.", dns.TypeA)
		m.Response = true
		m.Rcode = rcode
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	add(dns.RcodeSuccess, "2.0.0.127.bl.test. 60 A 127.0.0.2")
	add(dns.RcodeSuccess, "2.0.0.127.bl.test. 60 CNAME x.bl.test.", "x.bl.test. 60 A 127.255.255.254")
	add(dns.RcodeNameError)
	add(dns.RcodeServerFailure)
	add(dns.RcodeSuccess, "2.0.0.127.bl.test. 60 TXT \"x\"", "2.0.0.127.bl.test. 60 AAAA ::1")
	add(dns.RcodeSuccess, "2.0.0.127.bl.test. 60 CNAME 2.0.0.127.bl.test.")

	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		name, qtype := "2.0.0.127.bl.test.", dns.TypeA
		if len(m.Question) == 1 {
			name, qtype = m.Question[0].Name, m.Question[0].Qtype
		}
		a := dnsrep.FromMsg(name, qtype, m)
		if a.Status == dnsrep.Success && len(a.RRs) == 0 {
			t.Fatal("success without records")
		}
		for _, rr := range a.RRs {
			if qtype != dns.TypeANY && rr.Header().Rrtype != qtype {
				t.Fatalf("record of type %d in answer for type %d", rr.Header().Rrtype, qtype)
			}
		}
		a.Qtype = dns.TypeA
		l, err := dnsrep.DecodeListing(a)
		if l.Listed && err != nil {
			t.Fatal("listed with an error")
		}
		for _, c := range l.Codes {
			if !netip.MustParsePrefix("127.0.0.0/8").Contains(c) || netip.MustParsePrefix("127.255.255.0/24").Contains(c) {
				t.Fatalf("listing code %s outside the listing range", c)
			}
		}
		if a.Status.Temporary() && err == nil {
			t.Fatal("temporary status decoded without error")
		}
		a.TXT()
		a.Targets()
	})
}
