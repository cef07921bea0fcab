package dmarc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/internal/fakedns"
	"github.com/vigilmail/vigil/filters/sharedtest"
)

func zone() *fakedns.Resolver {
	z := fakedns.New()
	z.AddTXT("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com")
	z.AddIP("sub.example.com", "192.0.2.1")
	z.AddTXT("_dmarc.strict.example", "v=DMARC1; p=reject; aspf=s; adkim=s")
	z.AddTXT("_dmarc.upper.example", "v=DMARC1; p=Reject")
	z.AddTXT("_dmarc.np.example", "v=DMARC1; p=quarantine; sp=none; np=reject")
	z.AddIP("exists.np.example", "192.0.2.2")
	z.AddTXT("_dmarc.pct0.example", "v=DMARC1; p=reject; pct=0")
	z.AddTXT("_dmarc.pct50.example", "v=DMARC1; p=quarantine; pct=50")
	z.AddTXT("_dmarc.monitor.example", "v=DMARC1; p=none")
	z.AddTXT("_dmarc.two.example", "v=DMARC1; p=reject", "v=DMARC1; p=none")
	z.AddTXT("_dmarc.other.example", "v=spf1 -all", "hello")
	z.AddTXT("_dmarc.badp.example", "v=DMARC1; p=bogus; rua=mailto:r@badp.example")
	z.AddTXT("_dmarc.badnorua.example", "v=DMARC1; p=bogus")
	z.AddTXT("_dmarc.nop.example", "v=DMARC1; rua=mailto:r@nop.example")
	z.AddTXT("_dmarc.example.co.uk", "v=DMARC1; p=reject")
	z.AddTXT("_dmarc.blogspot.com", "v=DMARC1; p=reject")
	z.Fail["_dmarc.slow.example"] = fakedns.Timeout
	z.Fail["_dmarc.broken.example"] = fakedns.ServFail
	z.AddTXT("_dmarc.garbage.example", "v=DMARC1; p=reject; pct=abc")
	z.AddTXT("_dmarc.binary.example", "v=DMARC1; p=\xff\x00; sp=reject")
	return z
}

type auth struct {
	spfResult filters.SPFStatus
	spfDomain string
	dkim      []filters.DKIMResult
}

func dkimPass(d string) []filters.DKIMResult {
	return []filters.DKIMResult{{Domain: d, Selector: "s", Result: "pass"}}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		from     []string // From header values
		auth     auth
		sample   int
		enforce  bool
		trusted  bool
		want     Result
		policy   Policy
		applied  Policy
		force    filters.Action
		symbols  []string
		domain   string
		inDetail string
	}{
		{name: "spf relaxed alignment passes (RFC 7489 §3.1.2)", from: []string{"a@example.com"},
			auth: auth{"pass", "bounce.example.com", nil}, want: Pass, policy: PolicyReject, symbols: []string{"DMARC_PASS"}},
		{name: "dkim relaxed alignment passes (§3.1.1)", from: []string{"a@example.com"},
			auth: auth{"fail", "evil.example", dkimPass("mail.EXAMPLE.com")}, want: Pass, policy: PolicyReject},
		{name: "spf strict alignment needs the exact domain", from: []string{"a@strict.example"},
			auth: auth{"pass", "mail.strict.example", nil}, enforce: true, want: Fail, policy: PolicyReject, applied: PolicyReject, force: filters.Reject,
			symbols: []string{"DMARC_FAIL", "DMARC_POLICY_REJECT"}},
		{name: "dkim strict alignment needs the exact domain", from: []string{"a@strict.example"},
			auth: auth{"none", "", dkimPass("sub.strict.example")}, enforce: true, want: Fail, applied: PolicyReject, force: filters.Reject},
		{name: "strict alignment with the exact domain passes", from: []string{"a@strict.example"},
			auth: auth{"none", "", dkimPass("strict.example")}, want: Pass},
		{name: "unaligned dkim pass fails", from: []string{"a@example.com"},
			auth: auth{"pass", "evil.example", dkimPass("evil.example")}, enforce: true, want: Fail, applied: PolicyReject, force: filters.Reject},
		{name: "failed dkim of the right domain fails", from: []string{"a@example.com"},
			auth: auth{"softfail", "example.com", []filters.DKIMResult{{Domain: "example.com", Result: "fail"}}}, enforce: true, want: Fail, applied: PolicyReject, force: filters.Reject},
		{name: "no record", from: []string{"a@norecord.example"}, auth: auth{"pass", "x.example", nil}, want: None, symbols: []string{"DMARC_NONE"}},
		{name: "non-DMARC records are discarded (§6.6.3)", from: []string{"a@other.example"}, want: None},
		{name: "several records: no DMARC processing (§6.6.3)", from: []string{"a@two.example"}, want: None},
		{name: "org domain fallback applies sp (§6.6.3, §6.3)", from: []string{"a@sub.example.com"},
			auth: auth{"fail", "sub.example.com", nil}, enforce: true, want: Fail, policy: PolicyQuarantine, applied: PolicyQuarantine, force: filters.Quarantine,
			symbols: []string{"DMARC_FAIL", "DMARC_POLICY_QUARANTINE"}},
		{name: "np for a non-existent subdomain (RFC 9091 §4.1)", from: []string{"a@ghost.np.example"},
			enforce: true, want: Fail, policy: PolicyReject, applied: PolicyReject, force: filters.Reject},
		{name: "sp for an existing subdomain despite np", from: []string{"a@exists.np.example"},
			enforce: true, want: Fail, policy: PolicyNone, applied: PolicyNone, symbols: []string{"DMARC_FAIL", "DMARC_POLICY_NONE"}},
		{name: "p at the org domain itself ignores np", from: []string{"a@np.example"},
			enforce: true, want: Fail, policy: PolicyQuarantine, applied: PolicyQuarantine, force: filters.Quarantine},
		{name: "pct=0 downgrades reject to quarantine (§6.6.4)", from: []string{"a@pct0.example"}, sample: 0,
			enforce: true, want: Fail, policy: PolicyReject, applied: PolicyQuarantine, force: filters.Quarantine},
		{name: "pct=50 selected", from: []string{"a@pct50.example"}, sample: 49,
			enforce: true, want: Fail, applied: PolicyQuarantine, force: filters.Quarantine},
		{name: "pct=50 not selected downgrades quarantine to none", from: []string{"a@pct50.example"}, sample: 50,
			enforce: true, want: Fail, policy: PolicyQuarantine, applied: PolicyNone},
		{name: "p=Reject is case-insensitive", from: []string{"a@upper.example"}, enforce: true, want: Fail, policy: PolicyReject, force: filters.Reject},
		{name: "enforce off only scores", from: []string{"a@example.com"}, enforce: false, want: Fail, applied: PolicyReject,
			symbols: []string{"DMARC_FAIL", "DMARC_POLICY_REJECT"}},
		{name: "p=none monitors", from: []string{"a@monitor.example"}, enforce: true, want: Fail, applied: PolicyNone},
		{name: "invalid p with rua acts as p=none (§6.6.3 step 6)", from: []string{"a@badp.example"}, enforce: true, want: Fail, policy: PolicyNone},
		{name: "missing p with rua acts as p=none", from: []string{"a@nop.example"}, enforce: true, want: Fail, policy: PolicyNone},
		{name: "invalid p without rua is permerror", from: []string{"a@badnorua.example"}, want: PermError, symbols: []string{"DMARC_PERMERROR"}},
		{name: "binary garbage policy is permerror", from: []string{"a@binary.example"}, want: PermError},
		{name: "invalid pct is permerror", from: []string{"a@garbage.example"}, want: PermError},
		{name: "DNS timeout is temperror", from: []string{"a@slow.example"}, want: TempError, symbols: []string{"DMARC_TEMPERROR"}},
		{name: "SERVFAIL is temperror, never none", from: []string{"a@broken.example"}, want: TempError},
		{name: "aligned spf temperror is temperror, not fail", from: []string{"a@example.com"},
			auth: auth{"temperror", "example.com", nil}, enforce: true, want: TempError},
		{name: "no From field (§6.6.1)", from: nil, want: PermError},
		{name: "From without a domain", from: []string{"undisclosed-recipients:;"}, want: PermError},
		{name: "several From domains: strictest failing policy (§6.6.1)", from: []string{"a@monitor.example, b@example.com"},
			auth: auth{"pass", "monitor.example", nil}, enforce: true, want: Fail, applied: PolicyReject, force: filters.Reject, domain: "example.com"},
		{name: "too many From domains", from: []string{"a@1.example, a@2.example, a@3.example, a@4.example, a@5.example, a@6.example, a@7.example, a@8.example, a@9.example, a@10.example, a@11.example"},
			want: PermError},
		{name: "two From fields", from: []string{"a@monitor.example", "b@example.com"},
			auth: auth{"pass", "example.com", nil}, enforce: true, want: Fail, applied: PolicyNone, domain: "monitor.example"},
		{name: "unparsable From is still evaluated", from: []string{"\"x\" <a@example.com"},
			enforce: true, want: Fail, applied: PolicyReject, force: filters.Reject, domain: "example.com"},
		{name: "PSL org domain: example.co.uk", from: []string{"a@a.b.example.co.uk"},
			auth: auth{"pass", "mail.example.co.uk", nil}, want: Pass, policy: PolicyReject},
		{name: "PSL ICANN section only: blogspot.com is one org", from: []string{"a@x.blogspot.com"},
			auth: auth{"pass", "y.blogspot.com", nil}, want: Pass},
		{name: "trusted ARC sealer overrides a failure (§6.7)", from: []string{"a@example.com"}, trusted: true,
			enforce: true, want: Fail, applied: PolicyReject, symbols: []string{"DMARC_FAIL", "DMARC_POLICY_NONE"}, inDetail: "trusted sealer"},
	}
	// README.md counts the cases of this table (there is no public suite).
	sharedtest.Claim{Doc: "README.md", Text: "37 table cases from RFC 7489 / 9091", Value: 37}.Equal(t, float64(len(tests)))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &filters.Message{}
			for _, f := range tc.from {
				m.Headers = append(m.Headers, filters.Header{Name: "From", Value: " " + f})
			}
			m.Facts.Auth.SPF = filters.SPFResult{Result: tc.auth.spfResult, Domain: tc.auth.spfDomain}
			m.Facts.Auth.DKIM = tc.auth.dkim
			var trusted func(*filters.Message) (string, bool)
			if tc.trusted {
				trusted = func(*filters.Message) (string, bool) { return "forwarder.example", true }
			}
			c := must(New(Config{Enforce: tc.enforce}, Deps{Resolver: zone(), TrustedARC: trusted}))
			c.sample = func(*filters.Message, string) int { return tc.sample }
			ev := c.Evaluate(context.Background(), m)
			if ev.Result != tc.want {
				t.Fatalf("result %s (%s), want %s", ev.Result, ev.Detail, tc.want)
			}
			if tc.policy != "" && ev.Policy != tc.policy {
				t.Errorf("policy %s, want %s", ev.Policy, tc.policy)
			}
			if tc.applied != "" && ev.Applied != tc.applied {
				t.Errorf("applied %s, want %s", ev.Applied, tc.applied)
			}
			if tc.domain != "" && ev.Domain != tc.domain {
				t.Errorf("domain %s, want %s", ev.Domain, tc.domain)
			}
			if tc.inDetail != "" && !strings.Contains(ev.Detail, tc.inDetail) {
				t.Errorf("detail %q lacks %q", ev.Detail, tc.inDetail)
			}
			syms, err := c.Run(context.Background(), m)
			if temp := ev.Result == TempError; (err != nil) != temp || (err != nil && !errors.Is(err, filters.ErrIncomplete)) {
				t.Fatalf("error %v for %s; want filters.ErrIncomplete exactly for temperror", err, ev.Result)
			}
			var force filters.Action
			var names []string
			for _, s := range syms {
				names = append(names, s.Name)
				if s.Force != "" {
					force = s.Force
				}
			}
			if force != tc.force {
				t.Errorf("force %q, want %q (symbols %v)", force, tc.force, syms)
			}
			if tc.symbols != nil && strings.Join(names, ",") != strings.Join(tc.symbols, ",") {
				t.Errorf("symbols %v, want %v", names, tc.symbols)
			}
			if m.Facts.Auth.DMARC.Result != tc.want {
				t.Errorf("fact %+v", m.Facts.Auth.DMARC)
			}
		})
	}
}

func TestSampleIsStableAndSpread(t *testing.T) {
	m := &filters.Message{Headers: []filters.Header{{Name: "Message-ID", Value: " <1@example.com>"}}}
	if Sample(m, "example.com") != Sample(m, "example.com") {
		t.Fatal("same message, different draw")
	}
	below := 0
	for i := range 1000 {
		m := &filters.Message{Headers: []filters.Header{{Name: "Message-ID", Value: fmt.Sprintf(" <%d@example.com>", i)}}}
		if s := Sample(m, "example.com"); s < 0 || s > 99 {
			t.Fatalf("draw %d out of range", s)
		} else if s < 50 {
			below++
		}
	}
	// pct=50 should select about half of distinct messages.
	if below < 400 || below > 600 {
		t.Fatalf("%d of 1000 below 50", below)
	}
}

func TestOrganizationalDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.com": "example.com", "a.b.example.com": "example.com", "Mail.Example.COM.": "example.com",
		"a.example.co.uk": "example.co.uk", "x.blogspot.com": "blogspot.com", "com": "com",
		"a.b.unknowntld": "b.unknowntld", "foo.github.io": "github.io",
	} {
		if got := OrganizationalDomain(in); got != want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add("v=DMARC1; p=reject; sp=none; np=quarantine; pct=10; adkim=s; aspf=r; rua=mailto:a@b.c")
	f.Add("v=DMARC1;;;p")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRecord(s)
		if err == nil && (r.pct < 0 || r.pct > 100 || r.p == "" || r.sp == "") {
			t.Fatalf("bad record accepted: %+v", r)
		}
	})
}

// must is a check constructor's result in a test: the configurations
// here are valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
