package urlcheck

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in          string
		url, host, domain string
		userinfo, numeric bool
		wantErr           bool
	}{
		{"lower case host", "HTTP://WWW.Example.COM/Path", "http://www.example.com/Path", "www.example.com", "example.com", false, false, false},
		{"default port and dots", "http://example.com.:80/./a/../b", "http://example.com./b", "example.com", "example.com", false, false, false},
		{"userinfo trick", "http://paypal.com@evil.example/login", "http://paypal.com@evil.example/login", "evil.example", "evil.example", true, false, false},
		{"userinfo with password", "https://www.bank.example:secure@198.51.100.7/", "https://www.bank.example:secure@198.51.100.7/", "198.51.100.7", "", true, false, false},
		{"cyrillic homograph", "http://p\u0430ypal.com/", "http://xn--pypal-4ve.com/", "xn--pypal-4ve.com", "xn--pypal-4ve.com", false, false, false},
		{"unicode domain", "http://bücher.example/", "http://xn--bcher-kva.example/", "xn--bcher-kva.example", "xn--bcher-kva.example", false, false, false},
		{"fullwidth dots", "http://example\uff0ecom/", "http://example.com/", "example.com", "example.com", false, false, false},
		{"percent-encoded host", "http://%65vil.example/", "http://evil.example/", "evil.example", "evil.example", false, false, false},
		{"decimal IPv4", "http://3232235777/", "http://192.168.1.1/", "192.168.1.1", "", false, true, false},
		{"hex IPv4", "http://0xC0A80101/", "http://192.168.1.1/", "192.168.1.1", "", false, true, false},
		{"octal IPv4", "http://0300.0250.01.01/", "http://192.168.1.1/", "192.168.1.1", "", false, true, false},
		{"short IPv4", "http://127.1/", "http://127.0.0.1/", "127.0.0.1", "", false, true, false},
		{"mixed IPv4", "http://0x7f.1/", "http://127.0.0.1/", "127.0.0.1", "", false, true, false},
		{"plain IPv4", "http://192.0.2.1/", "http://192.0.2.1/", "192.0.2.1", "", false, false, false},
		{"IPv6", "http://[2001:DB8::0:1]:8080/", "http://[2001:db8::1]:8080/", "[2001:db8::1]", "", false, false, false},
		{"backslashes", "http:\\\\evil.example\\x", "http://evil.example/x", "evil.example", "evil.example", false, false, false},
		{"tabs and newlines removed", "ht\ttp://ev\nil.example/", "http://evil.example/", "evil.example", "evil.example", false, false, false},
		{"private suffix is not a boundary", "https://someone.blogspot.com/", "https://someone.blogspot.com/", "someone.blogspot.com", "blogspot.com", false, false, false},
		{"two-level suffix", "http://a.b.example.co.uk/", "http://a.b.example.co.uk/", "a.b.example.co.uk", "example.co.uk", false, false, false},
		{"mailto", "mailto:Someone@Example.ORG?subject=hi", "mailto:Someone@Example.ORG?subject=hi", "example.org", "example.org", false, false, false},
		{"IPv4 out of range", "http://256.256.256.256/", "", "", "", false, false, true},
		{"invalid octal", "http://09.1.1.1/", "", "", "", false, false, true},
		{"relative", "/just/a/path", "", "", "", false, false, true},
		{"empty host", "http:///", "", "", "", false, false, true},
		{"bad port", "http://example.com:99999/", "", "", "", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := Normalize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Normalize(%q) = %+v, want error", tt.in, u)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q): %v", tt.in, err)
			}
			if u.String != tt.url || u.Host != tt.host || u.Domain != tt.domain || u.Userinfo != tt.userinfo || u.NumericHost != tt.numeric {
				t.Errorf("Normalize(%q) = %+v\nwant url %q host %q domain %q userinfo %v numeric %v", tt.in, u, tt.url, tt.host, tt.domain, tt.userinfo, tt.numeric)
			}
			// Normalisation is idempotent.
			again, err := Normalize(u.String)
			if err != nil || again.String != u.String {
				t.Errorf("Normalize(Normalize(%q)) = %q, %v", tt.in, again.String, err)
			}
		})
	}
}

// pslPrivateDifferences are the PSL vectors the Registry scope answers
// differently on purpose: it uses the ICANN section only, so a
// private-section rule (uk.com here) is not a boundary. Any other
// disagreement fails, and so does a listed vector that starts to agree.
var pslPrivateDifferences = map[string]string{
	"uk.com":             "uk.com",
	"example.uk.com":     "uk.com",
	"b.example.uk.com":   "uk.com",
	"a.b.example.uk.com": "uk.com",
}

// TestConformancePSL runs the official PSL vectors. In the Site scope
// (both sections) every vector must agree; in the Registry scope (ICANN
// section) exactly the listed private-section vectors differ.
func TestConformancePSL(t *testing.T) {
	dir := sharedTestdata(t, "psl")
	f, err := os.Open(filepath.Join(dir, "test_psl.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var total, agree, agreeRegistry, private int
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(l, "checkPublicSuffix(") {
			continue
		}
		args := strings.Split(strings.TrimSuffix(strings.TrimPrefix(l, "checkPublicSuffix("), ");"), ", ")
		if len(args) != 2 || args[0] == "null" {
			continue
		}
		in, want := strings.Trim(args[0], "'"), strings.Trim(args[1], "'")
		if want == "null" {
			want = ""
		}
		total++
		host, _, err := parseHost(in, false)
		site, registry := "", ""
		if err == nil {
			site, registry = RegistrableDomain(host, Site), RegistrableDomain(host, Registry)
		}
		if wantASCII, err := domainToASCII(want); err == nil {
			want = wantASCII
		}
		if site == want {
			agree++
		} else {
			t.Errorf("RegistrableDomain(%q, Site) = %q, want %q", in, site, want)
		}
		ours, listed := pslPrivateDifferences[in]
		switch {
		case listed && registry == ours && registry != want:
			private++
			t.Logf("private-section difference: %q: PSL %q, Registry scope %q", in, want, registry)
		case listed:
			t.Errorf("RegistrableDomain(%q, Registry) = %q: listed as a private-section difference (%q, PSL %q): update pslPrivateDifferences and the README", in, registry, ours, want)
		case registry == want:
			agreeRegistry++
		default:
			t.Errorf("RegistrableDomain(%q, Registry) = %q, want %q", in, registry, want)
		}
	}
	t.Logf("PSL vectors: Site scope %d/%d agree; Registry scope %d/%d agree, %d differ by private-section rules",
		agree, total, agreeRegistry, total, private)
	sharedtest.Claim{Doc: "README.md", Text: "| Public Suffix List vectors | 77 / 77 (`Site` scope), 73 / 77 (`Registry` scope) |", Value: 77}.Equal(t, float64(agree))
	sharedtest.Claim{Doc: "README.md", Text: "73 / 77 (`Registry` scope)", Value: 73}.Equal(t, float64(agreeRegistry))
	sharedtest.Claim{Doc: "urlcheck/README.md", Text: "PSL `test_psl.txt`: 77/77 agree in the `Site` scope", Value: 77}.Equal(t, float64(agree))
	sharedtest.Claim{Doc: "urlcheck/README.md", Text: "in the `Registry` scope 73/77", Value: 73}.Equal(t, float64(agreeRegistry))
	if total != 77 || private != len(pslPrivateDifferences) {
		t.Errorf("%d vectors, %d private-section differences; the README says 77 and %d", total, private, len(pslPrivateDifferences))
	}
}

func TestRegistrableDomain(t *testing.T) {
	tests := []struct {
		in             string
		registry, site string
	}{
		{"www.example.com", "example.com", "example.com"},
		{"www.Example.co.uk.", "example.co.uk", "example.co.uk"},
		{"example.com.", "example.com", "example.com"},
		{"com", "", ""},
		{"co.uk", "", ""},
		{"foo.bar.github.io", "github.io", "bar.github.io"},
		{"foo.blogspot.com", "blogspot.com", "foo.blogspot.com"},
		{"blogspot.com", "blogspot.com", ""},
		{"192.0.2.1", "", ""},
		{"[192.0.2.1]", "", ""},
		{"[IPv6:2001:db8::1]", "", ""},
		{"[2001:db8::1]", "", ""},
		{"localhost", "", ""},
		{"bad host.example", "", ""},
		{"x.unlisted-tld-zz", "x.unlisted-tld-zz", "x.unlisted-tld-zz"},
		{"a..b.com", "", ""},
		{"", "", ""},
		{"xn--pypal-4ve.com", "xn--pypal-4ve.com", "xn--pypal-4ve.com"},
		{"mail.xn--p1ai", "mail.xn--p1ai", "mail.xn--p1ai"},
		{"почта.рф", "xn--80a1acny.xn--p1ai", "xn--80a1acny.xn--p1ai"},
		{"deep.a.b.c.example.jp", "example.jp", "example.jp"},
	}
	for _, tc := range tests {
		if got := RegistrableDomain(tc.in, Registry); got != tc.registry {
			t.Errorf("RegistrableDomain(%q, Registry) = %q, want %q", tc.in, got, tc.registry)
		}
		if got := RegistrableDomain(tc.in, Site); got != tc.site {
			t.Errorf("RegistrableDomain(%q, Site) = %q, want %q", tc.in, got, tc.site)
		}
	}
}

// FuzzRegistrableDomain: host names come from HELO, headers and URLs.
func FuzzRegistrableDomain(f *testing.F) {
	for _, s := range []string{"www.example.co.uk", "[192.0.2.1]", "a..b", "xn--80ak6aa92e.com", ".", "*.example.com", "EXAMPLE.COM.", "почта.рф", "a.blogspot.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		for _, scope := range []Scope{Registry, Site} {
			d := RegistrableDomain(host, scope)
			if d == "" {
				continue
			}
			if !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || RegistrableDomain(d, scope) != d {
				t.Fatalf("RegistrableDomain(%q, %d) = %q", host, scope, d)
			}
			for i := 0; i < len(d); i++ {
				if d[i] >= 0x80 {
					t.Fatalf("RegistrableDomain(%q, %d) = %q is not ASCII", host, scope, d)
				}
			}
		}
	})
}

func TestUnwrap(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"safelinks", "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fevil.example%2Fpath%3Fa%3D1&data=05%7C01", []string{"https://evil.example/path?a=1"}},
		{"google", "https://www.google.com/url?sa=t&q=http://evil.example/&ust=1", []string{"http://evil.example/"}},
		{"proofpoint v2", "https://urldefense.proofpoint.com/v2/url?u=https-3A__evil.example_a&d=DwMF", []string{"https://evil.example/a"}},
		{"proofpoint v3", "https://urldefense.com/v3/__https://evil.example/x__;!!abc", []string{"https://evil.example/x"}},
		{"nested", "https://www.google.com/url?q=https%3A%2F%2Fl.facebook.com%2Fl.php%3Fu%3Dhttps%253A%252F%252Fevil.example%252F", []string{"https://l.facebook.com/l.php?u=https%3A%2F%2Fevil.example%2F", "https://evil.example/"}},
		{"a one-label target is no target", "https://t.example.com/r?u=https://simplysale", nil},
		{"plain", "https://example.com/?q=cats", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := Normalize(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range Unwrap(u) {
				got = append(got, h.String)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("Unwrap(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMixedScript(t *testing.T) {
	for in, want := range map[string]bool{
		"http://p\u0430ypal.com/":   true,  // Cyrillic a in Latin
		"http://xn--pypal-4ve.com/": true,  // the same, as punycode
		"http://bücher.example/":    false, // Latin only
		"http://президент.рф/":      false, // Cyrillic only
		"http://\u03b1pple.com/":    true,  // Greek alpha
		"http://例え.テスト/":            false,
		"http://www.example.com/":   false,
	} {
		u, err := Normalize(in)
		if err != nil {
			t.Fatalf("Normalize(%q): %v", in, err)
		}
		if u.MixedScript != want {
			t.Errorf("Normalize(%q).MixedScript = %v, want %v", in, u.MixedScript, want)
		}
	}
}
