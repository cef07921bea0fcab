package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/authres"
	"github.com/vigilmail/vigil/filters/auth/internal/authtest"
	"github.com/vigilmail/vigil/filters/auth/internal/fakedns"
)

const body = "Hello,\r\n\r\nthe quarterly report is attached.\r\n\r\n-- \r\nJoe\r\n"

func setup(tb testing.TB) (*fakedns.Resolver, string) {
	dir := authtest.TestdataDir(tb, "dkim-dkimpy")
	pb, err := os.ReadFile(filepath.Join(dir, "test.private"))
	if err != nil {
		tb.Fatal(err)
	}
	blk, _ := pem.Decode(pb)
	key, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	txt, err := os.ReadFile(filepath.Join(dir, "test.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	z := fakedns.New()
	z.AddTXT("example.com", "v=spf1 ip4:192.0.2.0/24 -all")
	z.AddTXT("test._domainkey.example.com", strings.TrimSpace(string(txt)))
	z.AddTXT("_dmarc.example.com", "v=DMARC1; p=reject; rua=mailto:dmarc@example.com")
	msg := "From: Joe <joe@example.com>\r\nTo: ann@example.org\r\nSubject: report\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\n" + body
	var signed bytes.Buffer
	if err := msgdkim.Sign(&signed, strings.NewReader(msg), &msgdkim.SignOptions{
		Domain: "example.com", Selector: "test", Signer: key,
	}); err != nil {
		tb.Fatal(err)
	}
	return z, signed.String()
}

func run(t *testing.T, cfg Config, z dnsrep.StdResolver, raw, ip, from string) (*filters.Message, filters.Verdict) {
	m := authtest.ParseMessage([]byte(raw))
	m.Envelope = filters.Envelope{ClientIP: netip.MustParseAddr(ip), Helo: "mail.example.net", MailFrom: from}
	p := filters.NewPipeline(2*time.Second, 5*time.Second, nil)
	cs, err := New(cfg, z)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []filters.Check{cs.SPF, cs.DKIM, cs.ARC} {
		p.Add(filters.StageAuth, c, filters.FailOpen)
	}
	p.Add(filters.StagePolicy, cs.DMARC, filters.FailOpen)
	syms := p.Run(context.Background(), m)
	return m, filters.Decide(syms, filters.Policy{Tag: 5, Reject: 15})
}

func TestEndToEnd(t *testing.T) {
	z, signed := setup(t)
	cfg := DefaultConfig()
	cfg.AuthservID = "mx.example.org"

	t.Run("signed message from an authorised IP passes all three", func(t *testing.T) {
		m, v := run(t, cfg, z, signed, "192.0.2.10", "bounces@example.com")
		a := m.Facts.Auth
		if a.SPF.Result != "pass" || len(a.DKIM) != 1 || a.DKIM[0].Result != "pass" || a.DMARC.Result != "pass" || a.ARC.Result != "none" {
			t.Fatalf("facts %+v", a)
		}
		if v.Action != filters.Accept {
			t.Fatalf("verdict %+v", v)
		}
		hdr := authres.Format(cfg.AuthservID, a)
		for _, want := range []string{"mx.example.org;", "spf=pass smtp.mailfrom=example.com", "dkim=pass header.d=example.com header.s=test", "dmarc=pass (p=reject) header.from=example.com", "arc=none"} {
			if !strings.Contains(hdr, want) {
				t.Errorf("Authentication-Results %q lacks %q", hdr, want)
			}
		}
	})
	spoof := "From: Joe <joe@example.com>\r\nTo: ann@example.org\r\nSubject: urgent\r\n\r\nPay now.\r\n"
	t.Run("spoof from an unauthorised IP with p=reject is rejected", func(t *testing.T) {
		m, v := run(t, cfg, z, spoof, "203.0.113.9", "joe@example.com")
		if m.Facts.Auth.SPF.Result != "fail" || m.Facts.Auth.DMARC.Result != "fail" {
			t.Fatalf("facts %+v", m.Facts.Auth)
		}
		if v.Action != filters.Reject || !strings.HasPrefix(v.Reason, "DMARC_POLICY_REJECT") {
			t.Fatalf("verdict %+v", v)
		}
	})
	t.Run("with enforce off the spoof is only scored", func(t *testing.T) {
		c := cfg
		c.DMARC.Enforce = false
		_, v := run(t, c, z, spoof, "203.0.113.9", "joe@example.com")
		if v.Action != filters.Tag {
			t.Fatalf("verdict %s score %.2f %v", v.Action, v.Score, v.SymbolNames())
		}
	})
	t.Run("DNS down: temperror, never pass, no reject", func(t *testing.T) {
		broken := fakedns.New()
		broken.Fail["example.com"] = fakedns.ServFail
		broken.Fail["test._domainkey.example.com"] = fakedns.Timeout
		broken.Fail["_dmarc.example.com"] = fakedns.ServFail
		m, v := run(t, cfg, broken, signed, "192.0.2.10", "bounces@example.com")
		a := m.Facts.Auth
		if a.SPF.Result != "temperror" || a.DKIM[0].Result != "temperror" || a.DMARC.Result != "temperror" {
			t.Fatalf("facts %+v", a)
		}
		if v.Action == filters.Reject {
			t.Fatalf("verdict %+v", v)
		}
	})
}

func TestConfig(t *testing.T) {
	c := DefaultConfig()
	if c.AuthservID == "" || c.DKIM.MaxSignatures != 5 || !c.DMARC.Enforce || len(c.ARC.TrustedSealers) != 0 {
		t.Fatalf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for key, mut := range map[string]func(*Config){
		"auth.authserv_id":            func(c *Config) { c.AuthservID = "bad id;" },
		"auth.dkim.max_signatures":    func(c *Config) { c.DKIM.MaxSignatures = -1 },
		"auth.arc.trusted_sealers[0]": func(c *Config) { c.ARC.TrustedSealers = []string{"x"} },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: got %v", key, err)
		}
	}
}

func TestConfigYAML(t *testing.T) {
	in := "authserv_id: mx.example.org\ndkim: {max_signatures: 3}\ndmarc: {enforce: false}\narc: {trusted_sealers: [lists.example.org]}\n"
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(in))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.AuthservID != "mx.example.org" || c.DKIM.MaxSignatures != 3 || c.DMARC.Enforce || len(c.ARC.TrustedSealers) != 1 {
		t.Fatalf("decoded %+v", c)
	}
	c = DefaultConfig()
	if err := yaml.Unmarshal([]byte("dkim: {}\n"), &c); err != nil || c.DKIM.MaxSignatures != 5 || !c.DMARC.Enforce {
		t.Fatalf("defaults lost: %+v %v", c, err)
	}
	dec = yaml.NewDecoder(strings.NewReader("dmarc: {enforced: true}\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil || !strings.Contains(err.Error(), "enforced") {
		t.Fatalf("unknown key accepted: %v", err)
	}
}

// BenchmarkAuthStage runs SPF, DKIM (one rsa-sha256 signature), ARC and
// DMARC on one message against the in-memory zone: the CPU cost of the
// authentication stages per message, without network latency.
func BenchmarkAuthStage(b *testing.B) {
	z, signed := setup(b)
	cs, err := New(DefaultConfig(), z)
	if err != nil {
		b.Fatal(err)
	}
	checks := []filters.Check{cs.SPF, cs.DKIM, cs.ARC, cs.DMARC}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m := authtest.ParseMessage([]byte(signed))
		m.Envelope = filters.Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), MailFrom: "bounces@example.com"}
		for _, c := range checks {
			if _, err := c.Run(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		if m.Facts.Auth.DMARC.Result != "pass" {
			b.Fatalf("dmarc %+v", m.Facts.Auth.DMARC)
		}
	}
}
