package urlcheck

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"http://a.example/", "http://0x7f.1/", "http://[::1]/", "mailto:a@b.c", "http://x@y@z/", "http://%41.com", "http://ß.de/", "https://a.b/%2e%2E/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Normalize(s)
		if err != nil {
			return
		}
		if !utf8.ValidString(u.String) {
			t.Fatalf("Normalize(%q) produced invalid UTF-8 %q", s, u.String)
		}
		if u.Domain != "" && !strings.HasSuffix(u.Host, u.Domain) {
			t.Fatalf("domain %q is not a suffix of host %q", u.Domain, u.Host)
		}
		Unwrap(u)
	})
}

func FuzzExtractText(f *testing.F) {
	for _, s := range []string{"see http://a.example/x.", "hxxp://a[.]b", "x@y.com", "www.a.co.uk/(b)", "(dot) [at]", "a (dot) com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fd := range ExtractText(s) {
			if fd.Text == "" || fd.URL.String == "" {
				t.Fatalf("empty find %+v in %q", fd, s)
			}
			if !fd.Obfuscated && !strings.Contains(s, fd.Text) {
				t.Fatalf("find %q is not in the input %q", fd.Text, s)
			}
		}
	})
}
