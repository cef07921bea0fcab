package nameservers

import (
	"strings"
	"testing"
)

// FuzzRegistrable: host names come from HELO, headers and URLs.
func FuzzRegistrable(f *testing.F) {
	for _, s := range []string{"www.example.co.uk", "[192.0.2.1]", "a..b", "xn--80ak6aa92e.com", ".", "*.example.com", "EXAMPLE.COM."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		d := Registrable(host)
		if d == "" {
			return
		}
		h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(host), "."))
		if !strings.HasSuffix(strings.Trim(h, "[]"), d) || !strings.Contains(d, ".") || strings.HasPrefix(d, ".") {
			t.Fatalf("Registrable(%q) = %q", host, d)
		}
	})
}
