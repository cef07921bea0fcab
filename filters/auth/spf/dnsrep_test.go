package spf

import (
	"context"
	"net/netip"
	"testing"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// TestWithDNSRep runs SPF over dnsrep's own error mapping (dnstest.Fake
// answers through dnsrep.Std): timeouts and SERVFAIL must reach the
// library as temporary *net.DNSError, or it reports permerror.
func TestWithDNSRep(t *testing.T) {
	f := dnstest.NewFake(t, `
$ORIGIN example.com.
@        300 SOA ns1 hostmaster 1 3600 600 86400 60
@            TXT "v=spf1 ip4:192.0.2.0/24 include:inc.example.com -all"
inc          TXT "v=spf1 a:host.example.com -all"
host         A   198.51.100.1
slow         TXT "v=spf1 -all"
broken       TXT "v=spf1 -all"
viainc       TXT "v=spf1 include:broken.example.com -all"
`)
	f.SetFault("slow.example.com", dnstest.Timeout)
	f.SetFault("broken.example.com", dnstest.ServFail)
	for _, tc := range []struct {
		ip, from string
		want     Result
	}{
		{"192.0.2.7", "a@example.com", Pass},
		{"198.51.100.1", "a@example.com", Pass},
		{"203.0.113.1", "a@example.com", Fail},
		{"203.0.113.1", "a@nxdomain.example.com", None},
		{"203.0.113.1", "a@slow.example.com", TempError},
		{"203.0.113.1", "a@broken.example.com", TempError},
		{"203.0.113.1", "a@viainc.example.com", TempError},
	} {
		got := Evaluate(context.Background(), f, netip.MustParseAddr(tc.ip), "mx.example.net", tc.from)
		if Result(got.Result) != tc.want {
			t.Errorf("%s from %s: got %s (%s), want %s", tc.from, tc.ip, got.Result, got.Detail, tc.want)
		}
	}
}
