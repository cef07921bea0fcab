package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/internal/authtest"
)

// zoneTXT splits a TXT value into quoted character-strings of at most 200
// bytes (RFC 1035 §3.3.14 caps one at 255).
func zoneTXT(v string) string {
	var parts []string
	for len(v) > 200 {
		parts = append(parts, `"`+v[:200]+`"`)
		v = v[200:]
	}
	return strings.Join(append(parts, `"`+v+`"`), " ")
}

// TestLoopbackDNS runs the whole authentication stage through the real
// dnsrep resolver against a miekg/dns server on 127.0.0.1 serving the
// sender's SPF, DKIM key and DMARC record.
func TestLoopbackDNS(t *testing.T) {
	key, err := os.ReadFile(filepath.Join(authtest.TestdataDir(t, "dkim-dkimpy"), "test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.NewServer(t, `
$ORIGIN example.com.
@        300 SOA ns1 hostmaster 1 3600 600 86400 60
@            NS  ns1
ns1          A   192.0.2.53
@            TXT "v=spf1 ip4:192.0.2.0/24 -all"
test._domainkey TXT `+zoneTXT(strings.TrimSpace(string(key)))+`
_dmarc       TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"
`)
	r, err := dnsrep.New(dnsrep.Config{Servers: []string{srv.Addr()}, Timeout: 300 * time.Millisecond, Attempts: 1, Cache: dnsrep.CacheConfig{Size: -1}})
	if err != nil {
		t.Fatal(err)
	}
	std := dnsrep.Std(r)
	_, signed := setup(t)
	cfg := DefaultConfig()

	m, v := run(t, cfg, std, signed, "192.0.2.10", "bounces@example.com")
	if a := m.Facts.Auth; a.SPF.Result != "pass" || len(a.DKIM) != 1 || a.DKIM[0].Result != "pass" || a.DMARC.Result != "pass" {
		t.Fatalf("legitimate message: %+v", a)
	}
	if v.Action != filters.Accept {
		t.Fatalf("legitimate message: %+v", v)
	}

	spoof := "From: Joe <joe@example.com>\r\nTo: ann@example.org\r\nSubject: urgent\r\n\r\nPay now.\r\n"
	m, v = run(t, cfg, std, spoof, "203.0.113.9", "joe@example.com")
	if m.Facts.Auth.DMARC.Result != "fail" || v.Action != filters.Reject {
		t.Fatalf("spoof: %+v %+v", m.Facts.Auth, v)
	}

	srv.SetFault("_dmarc.example.com", dnstest.ServFail)
	srv.SetFault("test._domainkey.example.com", dnstest.Timeout)
	m, v = run(t, cfg, std, signed, "192.0.2.10", "bounces@example.com")
	a := m.Facts.Auth
	if a.DKIM[0].Result != "temperror" || a.DMARC.Result != "temperror" || v.Action == filters.Reject {
		t.Fatalf("DNS faults: %+v %+v", a, v)
	}
}
