package nameservers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
)

const zone = `
$ORIGIN sender.example.
@    300 SOA ns1.dns.example. hostmaster 1 3600 600 86400 60
@        NS  ns1.dns.example.
$ORIGIN linked.example.
@    300 SOA ns1.dns.example. hostmaster 1 3600 600 86400 60
@        NS  ns1.dns.example.
@        NS  ns2.dns.example.
$ORIGIN dns.example.
@    300 SOA ns1 hostmaster 1 3600 600 86400 60
@        NS  ns1
ns1      A   198.51.100.1
ns2      A   198.51.100.2
ns2      AAAA 2001:db8::2
$ORIGIN signer.example.
@    300 SOA ns1.dns.example. hostmaster 1 3600 600 86400 60
@        NS  ns1.dns.example.
`

func message() *filters.Message {
	m := &filters.Message{
		Envelope: filters.Envelope{MailFrom: "bounce@mail.sender.example", Helo: "[192.0.2.1]", ClientName: "mx.sender.example"},
		Headers:  []filters.Header{{Name: "From", Value: ` "Sender" <news@Sender.Example>`}},
	}
	m.Facts.Auth.DKIM = []filters.DKIMResult{{Domain: "signer.example", Result: "pass"}, {Domain: "forged.example", Result: "fail"}}
	m.Facts.Content.URLs = []filters.URL{{URL: "https://www.linked.example/x", Host: "www.linked.example", Domain: "linked.example"}}
	m.Facts.Content.Domains = []string{"linked.example", "gone.example"}
	return m
}

func TestDomains(t *testing.T) {
	m := message()
	m.Headers = append(m.Headers, filters.Header{Name: "Reply-To", Value: " other@replyto.example"})
	// Sender identities first, each once; the failed DKIM d= and the
	// Reply-To are not resolved.
	got := strings.Join(Domains(m), ",")
	if want := "sender.example,signer.example,linked.example,gone.example"; got != want {
		t.Fatalf("Domains =\n %s\nwant\n %s", got, want)
	}
}

func TestRun(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	c, err := New(DefaultConfig(), Deps{Resolver: f})
	if err != nil {
		t.Fatal(err)
	}
	m := message()
	syms, err := c.Run(context.Background(), m)
	if err != nil || len(syms) != 0 {
		t.Fatalf("Run = %v, %v", syms, err)
	}
	var got []string
	for _, d := range m.Facts.Infra.Domains {
		s := d.Domain + ":" + d.Status
		for _, ns := range d.NS {
			s += " " + ns.Name
			for _, a := range ns.Addrs {
				s += "/" + a.String()
			}
		}
		got = append(got, s)
	}
	want := []string{
		"gone.example:NXDOMAIN",
		"linked.example:ok ns1.dns.example/198.51.100.1 ns2.dns.example/198.51.100.2/2001:db8::2",
		"sender.example:ok ns1.dns.example/198.51.100.1",
		"signer.example:ok ns1.dns.example/198.51.100.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Infra =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunBudgetAndFailures(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	f.SetFault("linked.example", dnstest.ServFail)
	cfg := DefaultConfig()
	cfg.MaxDomains = 3
	c, err := New(cfg, Deps{Resolver: f})
	if err != nil {
		t.Fatal(err)
	}
	m := message()
	syms, err := c.Run(context.Background(), m)
	if !errors.Is(err, filters.ErrIncomplete) {
		t.Fatalf("a domain that got SERVFAIL: error %v, want filters.ErrIncomplete", err)
	}
	names := map[string]string{}
	for _, s := range syms {
		names[s.Name] = s.Detail
		if s.Score != 0 || s.Force != "" {
			t.Errorf("%s has score %v force %q", s.Name, s.Score, s.Force)
		}
	}
	if d := names[SymbolBudget]; !strings.Contains(d, "3 of 4") {
		t.Errorf("budget symbol: %q", d)
	}
	if d := names[SymbolUnknown]; d != "linked.example SERVFAIL" {
		t.Errorf("unknown symbol: %q", d)
	}
	for _, d := range m.Facts.Infra.Domains {
		if d.Domain == "gone.example" && d.Status != "skipped: budget" {
			t.Errorf("gone.example status %q", d.Status)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.MaxNSPerDomain = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "nameservers.max_ns_per_domain") {
		t.Fatalf("Validate = %v", err)
	}
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Fatal("zero config accepted")
	}
}
