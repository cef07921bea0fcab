package spf

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/internal/fakedns"
)

func testZone() *fakedns.Resolver {
	z := fakedns.New()
	z.AddTXT("example.com", "v=spf1 ip4:192.0.2.0/24 -all")
	z.AddTXT("mx.example.com", "v=spf1 a -all")
	z.AddIP("mx.example.com", "198.51.100.7")
	z.AddTXT("soft.example.com", "v=spf1 ~all")
	z.AddTXT("garbage.example.com", "v=spf1 ip4:192.0.2.1 foo:bar -all")
	z.AddTXT("late.example.com", "v=spf1 +all ip4:300.1.1.1")
	z.AddTXT("two.example.com", "v=spf1 -all", "v=spf1 +all")
	z.Fail["slow.example.com"] = fakedns.Timeout
	z.Fail["broken.example.com"] = fakedns.ServFail
	z.AddTXT("inc.example.com", "v=spf1 include:broken.example.com -all")
	// 11 includes: the 11th lookup is over the RFC 7208 §4.6.4 limit.
	z.AddTXT("deep.example.com", "v=spf1 include:d1.example.com include:d2.example.com include:d3.example.com include:d4.example.com include:d5.example.com include:d6.example.com include:d7.example.com include:d8.example.com include:d9.example.com include:d10.example.com include:d11.example.com -all")
	for _, n := range []string{"d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11"} {
		z.AddTXT(n+".example.com", "v=spf1 -all")
	}
	// Three void lookups: over the limit of two.
	z.AddTXT("void.example.com", "v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com -all")
	z.AddTXT("binary.example.com", "\x00\xff\xfe garbage", "v=spf1 ip4:192.0.2.1 \xff -all")
	z.AddTXT("junk.example.com", "\x00\xff\xfe garbage", "google-site-verification=abc")
	z.AddTXT("macro.example.com", "v=spf1 exists:%{l}.%{o}._spf.example.com -all")
	z.AddIP("alice.macro.example.com._spf.example.com", "127.0.0.2")
	return z
}

func TestRun(t *testing.T) {
	z := testZone()
	tests := []struct {
		name, ip, helo, from string
		want                 Result
		identity             filters.SPFIdentity
	}{
		{"pass", "192.0.2.10", "mail.example.com", "a@example.com", Pass, "mailfrom"},
		{"fail", "203.0.113.1", "mail.example.com", "a@example.com", Fail, "mailfrom"},
		{"softfail", "203.0.113.1", "x.example.org", "a@soft.example.com", SoftFail, "mailfrom"},
		{"helo identity for null sender", "198.51.100.7", "mx.example.com", "", Pass, "helo"},
		{"helo identity fails", "203.0.113.1", "mx.example.com", "", Fail, "helo"},
		{"no record", "203.0.113.1", "x", "a@norecord.example.com", None, "mailfrom"},
		{"single-label domain", "203.0.113.1", "x", "a@localhost", None, "mailfrom"},
		{"garbage term", "192.0.2.1", "x", "a@garbage.example.com", PermError, "mailfrom"},
		{"syntax error after a match", "192.0.2.1", "x", "a@late.example.com", PermError, "mailfrom"},
		{"two records", "192.0.2.1", "x", "a@two.example.com", PermError, "mailfrom"},
		{"timeout", "192.0.2.1", "x", "a@slow.example.com", TempError, "mailfrom"},
		{"servfail in include", "192.0.2.1", "x", "a@inc.example.com", TempError, "mailfrom"},
		{"lookup limit", "192.0.2.1", "x", "a@deep.example.com", PermError, "mailfrom"},
		{"void lookup limit", "192.0.2.1", "x", "a@void.example.com", PermError, "mailfrom"},
		{"macros", "192.0.2.1", "x", "alice@macro.example.com", Pass, "mailfrom"},
		{"binary bytes in the record", "192.0.2.1", "x", "a@binary.example.com", PermError, "mailfrom"},
		{"only non-SPF garbage TXT", "192.0.2.1", "x", "a@junk.example.com", None, "mailfrom"},
		{"address literal HELO", "192.0.2.1", "[192.0.2.1]", "", None, "helo"},
		{"empty local-part", "192.0.2.10", "x", "@example.com", Pass, "mailfrom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &filters.Message{Envelope: filters.Envelope{
				ClientIP: netip.MustParseAddr(tc.ip), Helo: tc.helo, MailFrom: tc.from,
			}}
			syms, err := must(New(Config{}, Deps{Resolver: z})).Run(context.Background(), m)
			got := m.Facts.Auth.SPF
			if temp := got.Result == TempError; (err != nil) != temp || (err != nil && !errors.Is(err, filters.ErrIncomplete)) {
				t.Fatalf("error %v for %s; want filters.ErrIncomplete exactly for temperror", err, got.Result)
			}
			if Result(got.Result) != tc.want || got.Identity != tc.identity {
				t.Fatalf("got %s/%s (%s), want %s/%s", got.Result, got.Identity, got.Detail, tc.want, tc.identity)
			}
			if len(syms) != 1 || syms[0].Name != Symbols[tc.want] {
				t.Fatalf("symbols %+v, want one %s", syms, Symbols[tc.want])
			}
		})
	}
}

func TestNoClientIP(t *testing.T) {
	m := &filters.Message{Envelope: filters.Envelope{MailFrom: "a@example.com"}}
	syms, err := must(New(Config{}, Deps{Resolver: testZone()})).Run(context.Background(), m)
	if err != nil || len(syms) != 0 || m.Facts.Auth.SPF.Result != "none" {
		t.Fatalf("got %v %v %+v", syms, err, m.Facts.Auth.SPF)
	}
}

func TestCanceledContextIsTempError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := Evaluate(ctx, testZone(), netip.MustParseAddr("192.0.2.10"), "x", "a@example.com")
	if got.Result != TempError {
		t.Fatalf("got %+v, want temperror", got)
	}
}

func TestRecordSyntax(t *testing.T) {
	valid := []string{
		"v=spf1", "v=spf1 -all", "v=spf1 a mx/24 a:%{d}.example.com//64 ip6:2001:db8::/32 ip4:10.0.0.0/8 ?all",
		"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} redirect=_spf.example.com",
		"v=spf1 exp=explain.%{d} foo=%{c}bar -all", "v=spf1 a:foo:bar/baz.example.com/24",
	}
	invalid := []string{
		"v=spf1 ip4:1.2.3", "v=spf1 ip4:1.2.3.4/33", "v=spf1 ip6:1.2.3.4", "v=spf1 a:example.123",
		"v=spf1 a:localhost", "v=spf1 include", "v=spf1 exists:%{x}.example.com", "v=spf1 -all:foo",
		"v=spf1 redirect=a.example.com redirect=b.example.com", "v=spf1 a:%{c}.example.com",
		"v=spf1 a:ex\u00e4mple.com", "v=spf1 ptr/24", "v=spf1 a/024", "v=spf1 %{d0}", "v=spf1 a:%{d0}.example.com",
	}
	for _, r := range valid {
		if err := checkRecordSyntax(r); err != nil {
			t.Errorf("%q: unexpected %v", r, err)
		}
	}
	for _, r := range invalid {
		if err := checkRecordSyntax(r); err == nil {
			t.Errorf("%q: accepted, want a syntax error", r)
		}
	}
}

func FuzzRecordSyntax(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", "v=spf1 a:%{d}.x.com/24//64", "v=spf1 exp=%{", "v=spf1 ip6::::/129"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isSPFRecord(s) {
			_ = checkRecordSyntax(s)
		}
	})
}

// TestMacroExamples are the RFC 7208 §7.4 examples.
func TestMacroExamples(t *testing.T) {
	env := macroEnv{sender: "strong-bad@email.example.com", domain: "email.example.com", ip: netip.MustParseAddr("192.0.2.3"), helo: "mx.example.org"}
	for in, want := range map[string]string{
		"%{s}": "strong-bad@email.example.com", "%{o}": "email.example.com", "%{d}": "email.example.com",
		"%{d4}": "email.example.com", "%{d3}": "email.example.com", "%{d2}": "example.com", "%{d1}": "com",
		"%{dr}": "com.example.email", "%{d2r}": "example.email", "%{l}": "strong-bad", "%{l-}": "strong.bad",
		"%{lr}": "strong-bad", "%{lr-}": "bad.strong", "%{l1r-}": "strong",
		"%{ir}.%{v}._spf.%{d2}":             "3.2.0.192.in-addr._spf.example.com",
		"%{lr-}.lp._spf.%{d2}":              "bad.strong.lp._spf.example.com",
		"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}":   "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
		"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}":  "3.2.0.192.in-addr.strong.lp._spf.example.com",
		"%{d2}.trusted-domains.example.net": "example.com.trusted-domains.example.net",
		"%{S}":                              "strong-bad%40email.example.com",
		"a%%b%_c%-d":                        "a%b c%20d",
	} {
		got, err := env.expand(in, false)
		if err != nil || got != want {
			t.Errorf("%s: got %q %v, want %q", in, got, err, want)
		}
	}
	env.ip = netip.MustParseAddr("2001:db8::cb01")
	if got, _ := env.expand("%{ir}.%{v}._spf.%{d2}", false); got != "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com" {
		t.Errorf("IPv6: got %q", got)
	}
	for _, bad := range []string{"%{c}", "%{x}", "%{d0}", "%", "%{d", "%a"} {
		if _, err := env.expand(bad, false); err == nil {
			t.Errorf("%q accepted outside exp", bad)
		}
	}
	if got, err := env.expand("from %{c} at %{t}", true); err != nil || !strings.HasPrefix(got, "from 2001:db8::cb01 at ") {
		t.Errorf("exp letters: %q %v", got, err)
	}
}

func TestExplanationInDetail(t *testing.T) {
	z := testZone()
	z.AddTXT("exp.example.com", "v=spf1 -all exp=why.%{d}")
	z.AddTXT("why.exp.example.com", "%{i} may not send for %{d}")
	m := &filters.Message{Envelope: filters.Envelope{ClientIP: netip.MustParseAddr("203.0.113.5"), Helo: "x.example", MailFrom: "a@exp.example.com"}}
	if _, err := must(New(Config{}, Deps{Resolver: z})).Run(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := m.Facts.Auth.SPF; got.Result != "fail" || !strings.Contains(got.Detail, "explanation: 203.0.113.5 may not send for exp.example.com") {
		t.Fatalf("got %+v", got)
	}
}

// must is a check constructor's result in a test: the configurations
// here are valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
