package dnsbl

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
)

// lists serve RFC 5782 test points plus listings used below.
const zone = `
$ORIGIN ipbl.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
2.0.0.127      A   127.0.0.2
99.2.0.192     A   127.0.0.2
99.2.0.192     A   127.0.0.10
99.2.0.192     TXT "listed: https://ipbl.test/192.0.2.99"
1.100.51.198   A   127.0.0.2
$ORIGIN dbl.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
test           A   127.0.1.2
evil.example   A   127.0.1.2
evil.example   TXT "phish domain"
dns.example    A   127.0.1.5
$ORIGIN uribl.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
*              A   127.0.0.1
$ORIGIN refusing.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
*.2.0.192      A   127.255.255.254
`

func lists() []List {
	return []List{
		{Name: "IPBL", Zone: "ipbl.test", Check: KindIP, Score: 2, Returns: map[string]float64{"127.0.0.10": 0.5, "127.0.0.3": 1}},
		{Name: "DBL", Zone: "dbl.test", Check: KindDomain, Score: 6},
		{Name: "NSBL", Zone: "ipbl.test", Check: KindNSIP, Score: 4},
		{Name: "NSNAME", Zone: "dbl.test", Check: KindNSName, Score: 1.5},
	}
}

func newCheck(t *testing.T, f *dnstest.Fake, ls []List, mod func(*Budgets)) *Check {
	t.Helper()
	b := DefaultBudgets()
	if mod != nil {
		mod(&b)
	}
	c, err := New(Config{Lists: ls, Budgets: b}, Deps{Resolver: f, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func message(ip string) *filters.Message {
	m := &filters.Message{Envelope: filters.Envelope{ClientIP: netip.MustParseAddr(ip), MailFrom: "a@sender.example", Helo: "mx.sender.example"}}
	m.Headers = []filters.Header{{Name: "From", Value: " <a@sender.example>"}}
	m.Facts.Content.URLs = []filters.URL{
		{URL: "https://www.evil.example/login", Host: "www.evil.example", Domain: "evil.example"},
		{URL: "https://evil.example/other", Host: "evil.example", Domain: "evil.example"},
	}
	m.Facts.Content.Domains = []string{"evil.example"}
	m.Facts.Infra.Domains = []filters.DomainInfra{
		{Domain: "evil.example", Zone: "evil.example", Status: "ok", NS: []filters.NSHost{
			{Name: "ns1.dns.example", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("10.0.0.1")}},
		}},
		{Domain: "sender.example", Zone: "sender.example", Status: "ok", NS: []filters.NSHost{
			{Name: "ns1.dns.example", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}},
		}},
	}
	return m
}

func byName(syms []filters.Symbol) map[string]filters.Symbol {
	out := map[string]filters.Symbol{}
	for _, s := range syms {
		out[s.Name] = s
	}
	return out
}

func TestRun(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	c := newCheck(t, f, lists(), nil)
	syms, err := c.Run(context.Background(), message("192.0.2.99"))
	if err != nil {
		t.Fatal(err)
	}
	got := byName(syms)
	want := map[string]struct {
		score  float64
		detail string
	}{
		// 127.0.0.2 has no returns entry (list score 2), 127.0.0.10 maps to 0.5: the highest wins.
		"IPBL": {2, "client 192.0.2.99 -> ipbl.test -> 127.0.0.2,127.0.0.10 (listed: https://ipbl.test/192.0.2.99)"},
		"DBL":  {6, "URL host www.evil.example -> evil.example -> dbl.test -> 127.0.1.2 (phish domain)"},
		// Queried once although two domains share the NS; the private address is not queried.
		"NSBL":   {4, "URL host www.evil.example -> evil.example -> NS ns1.dns.example -> 198.51.100.1 -> ipbl.test -> 127.0.0.2"},
		"NSNAME": {1.5, "URL host www.evil.example -> evil.example -> NS ns1.dns.example -> dns.example -> dbl.test -> 127.0.1.5"},
	}
	if len(got) != len(want) {
		t.Errorf("symbols %v", syms)
	}
	for name, w := range want {
		s, ok := got[name]
		if !ok || s.Score != w.score || s.Detail != w.detail {
			t.Errorf("%s = %+v\nwant score %v detail %q", name, s, w.score, w.detail)
		}
	}
	count := map[string]int{}
	for _, q := range f.Queries() {
		count[q]++
	}
	for q, n := range count {
		if n > 1 {
			t.Errorf("%s asked %d times", q, n)
		}
		if strings.Contains(q, "1.0.0.10.") {
			t.Errorf("private NS address queried: %s", q)
		}
	}
}

func TestIPv6ClientNibblesAndSlash64(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	if err := f.Add(dnsrep.IPQueryName(netip.MustParseAddr("2001:db8::1"), "ipbl.test") + " A 127.0.0.3"); err != nil {
		t.Fatal(err)
	}
	c := newCheck(t, f, lists()[:1], nil)
	syms, err := c.Run(context.Background(), message("2001:db8::1"))
	if err != nil {
		t.Fatal(err)
	}
	s := byName(syms)["IPBL"]
	if s.Score != 1 || s.Detail != "client 2001:db8::1 (/64 2001:db8::/64) -> ipbl.test -> 127.0.0.3" {
		t.Fatalf("IPBL = %+v", s)
	}
}

func TestSkipsNonGlobalClient(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	c := newCheck(t, f, lists()[:1], nil)
	for _, ip := range []string{"127.0.0.2", "10.1.2.3", "192.168.1.1", "fe80::1", "::1"} {
		syms, err := c.Run(context.Background(), message(ip))
		if err != nil || len(syms) != 0 {
			t.Errorf("%s: %v %v", ip, syms, err)
		}
	}
	if q := f.Queries(); len(q) != 0 {
		t.Errorf("queries sent: %v", q)
	}
}

func TestUnknownAndRequired(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	f.SetFault("99.2.0.192.ipbl.test", dnstest.ServFail)
	f.SetFault("evil.example.dbl.test", dnstest.Timeout)
	ls := lists()[:2]
	ls[1].Required = true
	c := newCheck(t, f, ls, nil)
	syms, _ := c.Run(context.Background(), message("192.0.2.99"))
	got := byName(syms)
	if s := got["IPBL_UNKNOWN"]; s.Detail != "client 192.0.2.99 -> ipbl.test -> SERVFAIL" || s.Score != 0 || s.Force != "" {
		t.Errorf("IPBL_UNKNOWN = %+v", s)
	}
	if s := got["DBL_UNKNOWN"]; !strings.Contains(s.Detail, "evil.example -> dbl.test -> TIMEOUT") || s.Force != filters.TempFail {
		t.Errorf("DBL_UNKNOWN = %+v (required list must force tempfail)", s)
	}
	if _, ok := got["IPBL"]; ok {
		t.Error("SERVFAIL reported as a listing")
	}
	v := filters.Decide(syms, filters.Policy{Tag: 5, Reject: 15})
	if v.Action != filters.TempFail {
		t.Errorf("verdict %s, want tempfail", v.Action)
	}
}

func TestRefusedCodes(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	c := newCheck(t, f, []List{{Name: "ZEN", Zone: "refusing.test", Check: KindIP, Score: 3, Required: true}}, nil)
	syms, _ := c.Run(context.Background(), message("192.0.2.99"))
	got := byName(syms)
	s, ok := got["ZEN_ERROR"]
	if !ok || s.Score != 0 || s.Force != "" || !strings.Contains(s.Detail, "127.255.255.254") {
		t.Fatalf("ZEN_ERROR = %+v in %v", s, syms)
	}
	if _, ok := got["ZEN"]; ok {
		t.Fatal("refusal code reported as a listing")
	}
	if h := c.Health()[0]; h.Healthy {
		t.Fatal("list still healthy after a refusal")
	}
	// The list is now skipped, and says so.
	n := len(f.Queries())
	syms, _ = c.Run(context.Background(), message("192.0.2.99"))
	if s := byName(syms)["ZEN_UNHEALTHY"]; !strings.Contains(s.Detail, "skipped") || len(f.Queries()) != n {
		t.Fatalf("after refusal: %v, %d new queries", syms, len(f.Queries())-n)
	}
}

func TestListSpecificRefusal(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	c := newCheck(t, f, []List{{Name: "URIBL", Zone: "uribl.test", Check: KindDomain, Score: 3, Refused: []string{"127.0.0.1"}}}, nil)
	syms, _ := c.Run(context.Background(), message("192.0.2.99"))
	got := byName(syms)
	if _, ok := got["URIBL"]; ok || !strings.Contains(got["URIBL_ERROR"].Detail, "127.0.0.1") {
		t.Fatalf("symbols %v", syms)
	}
	if h := c.Probe(context.Background())[0]; h.Healthy || !strings.Contains(h.Problem, "refused") {
		t.Fatalf("probe %+v", h)
	}
}

func TestProbe(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	ls := append(lists(), List{Name: "DEAD", Zone: "dead.test", Check: KindIP, Score: 1})
	c := newCheck(t, f, ls, nil)
	if h := c.Health(); !h[4].Healthy || !h[4].Checked.IsZero() {
		t.Fatalf("unprobed list: %+v", h[4])
	}
	hs := c.Probe(context.Background())
	for i, h := range hs {
		if want := i != 4; h.Healthy != want {
			t.Errorf("%s healthy=%v (%s), want %v", ls[i].Name, h.Healthy, h.Problem, want)
		}
	}
	syms, _ := c.Run(context.Background(), message("192.0.2.99"))
	if s := byName(syms)["DEAD_UNHEALTHY"]; !strings.Contains(s.Detail, "2.0.0.127.dead.test. is not listed") {
		t.Errorf("DEAD_UNHEALTHY = %+v", s)
	}
	for _, q := range f.Queries() {
		if strings.HasPrefix(q, "99.2.0.192.dead.test") {
			t.Error("unhealthy list queried")
		}
	}
}

func TestBudget(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	c := newCheck(t, f, lists(), func(b *Budgets) { b.MaxQueries = 2; b.MaxDomains = 1 })
	syms, _ := c.Run(context.Background(), message("192.0.2.99"))
	s := byName(syms)[SymbolBudget]
	if !strings.Contains(s.Detail, "1 of 2 domains not checked") || !strings.Contains(s.Detail, "list queries skipped") {
		t.Fatalf("budget symbol = %+v", s)
	}
	n := 0
	for _, q := range f.Queries() {
		if strings.HasSuffix(q, " A") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d A queries, want 2 (max_queries)", n)
	}
}

func TestDisabledList(t *testing.T) {
	f := dnstest.NewFake(t, zone)
	off := false
	ls := lists()[:1]
	ls[0].Enabled = &off
	c := newCheck(t, f, ls, nil)
	if syms, _ := c.Run(context.Background(), message("192.0.2.99")); len(syms) != 0 || len(f.Queries()) != 0 {
		t.Fatalf("disabled list used: %v", syms)
	}
}

func TestValidateLists(t *testing.T) {
	tests := []struct {
		name string
		l    List
		want string
	}{
		{"ok", List{Name: "X", Zone: "x.test", Check: KindIP}, ""},
		{"lower name", List{Name: "x", Zone: "x.test", Check: KindIP}, "blocklists[0].name"},
		{"zone", List{Name: "X", Zone: "test", Check: KindIP}, "blocklists[0].zone"},
		{"check", List{Name: "X", Zone: "x.test", Check: "url"}, "blocklists[0].check"},
		{"code outside 127/8", List{Name: "X", Zone: "x.test", Check: KindIP, Returns: map[string]float64{"10.0.0.2": 1}}, `blocklists[0].returns["10.0.0.2"]`},
		{"refusal code", List{Name: "X", Zone: "x.test", Check: KindIP, Returns: map[string]float64{"127.255.255.254": 1}}, "error codes"},
		{"bad code", List{Name: "X", Zone: "x.test", Check: KindIP, Returns: map[string]float64{"two": 1}}, "not an address"},
		{"refused outside 127/8", List{Name: "X", Zone: "x.test", Check: KindIP, Refused: []string{"10.0.0.1"}}, "blocklists[0].refused[0]"},
		{"ip test point", List{Name: "X", Zone: "x.test", Check: KindIP, TestPoint: "test"}, "blocklists[0].test_point"},
		{"domain test point", List{Name: "X", Zone: "x.test", Check: KindDomain, TestPoint: "dbltest.com"}, ""},
		{"prefix ok", List{Name: "X", Zone: "x.test", Check: KindIP, Returns: map[string]float64{"127.0.1.0/24": 1}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateLists([]List{tc.l})
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("ValidateLists = %v, want %q", err, tc.want)
			}
		})
	}
	dup := []List{{Name: "X", Zone: "x.test", Check: KindIP}, {Name: "X", Zone: "y.test", Check: KindIP}}
	if err := ValidateLists(dup); err == nil || !strings.Contains(err.Error(), "blocklists[1].name") {
		t.Errorf("duplicate names: %v", err)
	}
	b := DefaultBudgets()
	b.MaxQueries = 0
	if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "dnsbl.max_queries") {
		t.Errorf("Budgets.Validate = %v", err)
	}
}

func TestYAML(t *testing.T) {
	var cfg struct {
		Blocklists []List   `yaml:"blocklists"`
		DNSBL      *Budgets `yaml:"dnsbl"`
	}
	b := DefaultBudgets()
	cfg.DNSBL = &b
	src := `
blocklists:
  - {name: SPAMHAUS_ZEN, zone: zen.spamhaus.org, check: ip, score: 3.0,
     returns: {"127.0.0.2": 3.0, "127.0.0.10": 1.0}, required: true}
  - {name: SPAMHAUS_DBL, zone: dbl.spamhaus.org, check: domain, score: 5, enabled: false}
dnsbl: {max_domains: 10, max_queries: 50, probe_interval: 5m}
`
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := ValidateLists(cfg.Blocklists); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	l := cfg.Blocklists[0]
	if l.Returns["127.0.0.10"] != 1 || !l.Required || !l.IsEnabled() || cfg.Blocklists[1].IsEnabled() {
		t.Errorf("lists = %+v", cfg.Blocklists)
	}
	if b.MaxDomains != 10 || b.MaxQueries != 50 || b.ProbeInterval != 5*time.Minute {
		t.Errorf("budgets = %+v", b)
	}
}

// TestDefaultLists keeps the shipped default list set valid and its promise
// true: the ip lists together never reach the reject threshold.
func TestDefaultLists(t *testing.T) {
	b, err := os.ReadFile("defaults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Blocklists []List   `yaml:"blocklists"`
		DNSBL      *Budgets `yaml:"dnsbl"`
	}
	budgets := DefaultBudgets()
	cfg.DNSBL = &budgets
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := ValidateLists(cfg.Blocklists); err != nil {
		t.Fatal(err)
	}
	if err := budgets.Validate(); err != nil {
		t.Fatal(err)
	}
	d := DefaultBudgets()
	if budgets.MaxDomains != d.MaxDomains || budgets.MaxQueries != d.MaxQueries || budgets.ProbeInterval != d.ProbeInterval ||
		*budgets.FetchReasons != *d.FetchReasons {
		t.Errorf("file budgets %+v differ from DefaultBudgets %+v", budgets, d)
	}
	ipMax := 0.0
	for _, l := range cfg.Blocklists {
		if l.Check != KindIP || !l.IsEnabled() {
			continue
		}
		m := l.Score
		for _, s := range l.Returns {
			m = max(m, s)
		}
		ipMax += m
	}
	if ipMax >= 15 {
		t.Errorf("enabled ip lists can reach %.1f, the reject threshold is 15", ipMax)
	}
	if _, err := New(Config{Lists: cfg.Blocklists, Budgets: budgets}, Deps{Resolver: dnstest.NewFake(t, "")}); err != nil {
		t.Fatal(err)
	}
}
