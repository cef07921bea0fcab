package dnsbl_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/spf"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/nameservers"
)

// The world of the scenario: a sender with good SPF and DKIM, whose message
// links to a domain hosted on nameservers listed in an SBL-style list.
const world = `
$ORIGIN sender.example.
@     300 SOA ns1.goodhost.example. hostmaster 1 3600 600 86400 60
@         NS  ns1.goodhost.example.
@         TXT "v=spf1 ip4:192.0.2.10 -all"
mail      A   192.0.2.10
$ORIGIN goodhost.example.
@     300 SOA ns1 hostmaster 1 3600 600 86400 60
@         NS  ns1
ns1       A   203.0.113.53
$ORIGIN linked.example.
@     300 SOA ns1.badhost.example. hostmaster 1 3600 600 86400 60
@         NS  ns1.badhost.example.
@         NS  ns2.badhost.example.
www       A   203.0.113.80
$ORIGIN badhost.example.
@     300 SOA ns1 hostmaster 1 3600 600 86400 60
@         NS  ns1
ns1       A   198.51.100.66
ns2       A   198.51.100.67
$ORIGIN sbl.test.
@      60 SOA ns hostmaster 1 3600 600 86400 60
2.0.0.127     A   127.0.0.2
66.100.51.198 A   127.0.0.2
66.100.51.198 TXT "https://www.spamhaus.org/sbl/query/SBL000001"
$ORIGIN zen.test.
@      60 SOA ns hostmaster 1 3600 600 86400 60
2.0.0.127     A   127.0.0.2
$ORIGIN dbl.test.
@      60 SOA ns hostmaster 1 3600 600 86400 60
test          A   127.0.1.2
`

var worldLists = []dnsbl.List{
	{Name: "SPAMHAUS_ZEN", Zone: "zen.test", Check: dnsbl.KindIP, Score: 3},
	{Name: "SPAMHAUS_DBL", Zone: "dbl.test", Check: dnsbl.KindDomain, Score: 6},
	{Name: "SPAMHAUS_SBL_NS", Zone: "sbl.test", Check: dnsbl.KindNSIP, Score: 4},
}

// dkimFixture stands in for the DKIM check: the message carries a valid
// signature of the sender domain.
type dkimFixture struct{}

func (dkimFixture) Name() string { return "dkim" }
func (dkimFixture) Run(_ context.Context, m *filters.Message) ([]filters.Symbol, error) {
	m.Facts.Auth.DKIM = []filters.DKIMResult{{Domain: "sender.example", Selector: "s1", Result: "pass"}}
	return []filters.Symbol{{Name: "DKIM_PASS", Score: -0.5, Detail: "d=sender.example"}}, nil
}

func chainMessage() *filters.Message {
	m := &filters.Message{Envelope: filters.Envelope{
		ClientIP: netip.MustParseAddr("192.0.2.10"), Helo: "mail.sender.example",
		MailFrom: "news@sender.example", Rcpts: []string{"user@rcpt.example"},
	}}
	m.Headers = []filters.Header{{Name: "From", Value: " News <news@sender.example>"}}
	m.Facts.Content.URLs = []filters.URL{{URL: "https://www.linked.example/offer", Host: "www.linked.example", Domain: "linked.example"}}
	m.Facts.Content.Domains = []string{"linked.example"}
	return m
}

func worldResolver(t testing.TB) (*dnsrep.Resolver, *dnstest.Server) {
	s := dnstest.NewServer(t, world)
	cfg := dnsrep.DefaultConfig()
	cfg.Servers = []string{s.Addr()}
	r, err := dnsrep.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

func TestLinkedDomainNSListedWhileSenderAuthenticates(t *testing.T) {
	r, _ := worldResolver(t)
	ns, err := nameservers.New(nameservers.DefaultConfig(), nameservers.Deps{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	bl, err := dnsbl.New(dnsbl.Config{Lists: worldLists, Budgets: dnsbl.DefaultBudgets()}, dnsbl.Deps{Resolver: r, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range bl.Probe(context.Background()) {
		if !h.Healthy {
			t.Fatalf("list %s unhealthy: %s", h.Zone, h.Problem)
		}
	}
	p := filters.NewPipeline(5*time.Second, 10*time.Second, slog.New(slog.DiscardHandler))
	sc, _ := spf.New(spf.Config{}, spf.Deps{Resolver: r})
	p.Add(filters.StageAuth, sc, filters.FailOpen)
	p.Add(filters.StageAuth, dkimFixture{}, filters.FailOpen)
	p.Add(filters.StagePolicy, ns, filters.FailOpen)
	p.Add(filters.StageReputation, bl, filters.FailOpen)

	m := chainMessage()
	syms := p.Run(context.Background(), m)
	got := map[string]filters.Symbol{}
	for _, s := range syms {
		got[s.Name] = s
		t.Logf("%s %.2f %s", s.Name, s.Score, s.Detail)
	}
	if _, ok := got["SPF_PASS"]; !ok {
		t.Errorf("sender does not pass SPF: %v", syms)
	}
	want := "URL host www.linked.example -> linked.example -> NS ns1.badhost.example -> 198.51.100.66 -> sbl.test -> 127.0.0.2 (https://www.spamhaus.org/sbl/query/SBL000001)"
	if s := got["SPAMHAUS_SBL_NS"]; s.Detail != want || s.Score != 4 {
		t.Errorf("SPAMHAUS_SBL_NS = %+v\nwant detail %s", s, want)
	}
	for _, name := range []string{"SPAMHAUS_ZEN", "SPAMHAUS_DBL", "NAMESERVERS_UNKNOWN", "NAMESERVERS_BUDGET", "DNSBL_ERROR", "NAMESERVERS_ERROR"} {
		if s, ok := got[name]; ok {
			t.Errorf("unexpected %+v", s)
		}
	}
	var linked *filters.DomainInfra
	for i, d := range m.Facts.Infra.Domains {
		if d.Domain == "linked.example" {
			linked = &m.Facts.Infra.Domains[i]
		}
	}
	if linked == nil || linked.Status != "ok" || len(linked.NS) != 2 || linked.NS[0].Addrs[0] != netip.MustParseAddr("198.51.100.66") {
		t.Fatalf("Infra for linked.example = %+v", linked)
	}
	v := filters.Decide(syms, filters.Policy{Tag: 5, Reject: 15})
	if v.Action != filters.Accept || v.Score != 3 {
		// -0.5 SPF, -0.5 DKIM, +4 listed nameserver: authentication does not
		// launder the link, and one list alone does not tag.
		t.Errorf("verdict %s score %.2f", v.Action, v.Score)
	}
}

// BenchmarkMessageDNSChecks is the DNS cost the nameservers and dnsbl checks
// add to one message, against the loopback server, with the resolver cache
// warm (a message like the previous one) and cold (flushed every message).
func BenchmarkMessageDNSChecks(b *testing.B) {
	r, srv := worldResolver(b)
	ns, _ := nameservers.New(nameservers.DefaultConfig(), nameservers.Deps{Resolver: r})
	bl, _ := dnsbl.New(dnsbl.Config{Lists: worldLists, Budgets: dnsbl.DefaultBudgets()}, dnsbl.Deps{Resolver: r, Log: slog.New(slog.DiscardHandler)})
	run := func(b *testing.B, flush bool) {
		before := srv.Queries()
		for b.Loop() {
			if flush {
				r.Flush()
			}
			m := chainMessage()
			m.Facts.Auth.DKIM = []filters.DKIMResult{{Domain: "sender.example", Result: "pass"}}
			if _, err := ns.Run(context.Background(), m); err != nil {
				b.Fatal(err)
			}
			syms, _ := bl.Run(context.Background(), m)
			if len(syms) != 1 {
				b.Fatalf("symbols %v", syms)
			}
		}
		b.ReportMetric(float64(srv.Queries()-before)/float64(b.N), "queries/msg")
	}
	b.Run("warm", func(b *testing.B) { run(b, false) })
	b.Run("cold", func(b *testing.B) { run(b, true) })
}
