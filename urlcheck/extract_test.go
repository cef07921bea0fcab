package urlcheck

import (
	"strings"
	"testing"
)

func TestExtractText(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // normalised URLs in order
		obf      bool     // every find is obfuscated
	}{
		{"scheme urls", "Visit http://example.com/a, or HTTPS://Example.org/b!", []string{"http://example.com/a", "https://example.org/b"}, false},
		{"www without scheme", "go to www.example.com/x.", []string{"http://www.example.com/x"}, false},
		{"bare domain with public suffix", "see example.co.uk/path now", []string{"http://example.co.uk/path"}, false},
		{"not a domain", "node.js and io.js, file.exe, e.g. this", nil, false},
		{"email", "write to Sales@Example.com.", []string{"mailto:Sales@Example.com"}, false},
		{"mailto", "<mailto:a@b.example.net>", []string{"mailto:a@b.example.net"}, false},
		{"hxxp", "hxxps://evil.example/login", []string{"https://evil.example/login"}, true},
		{"brackets", "evil[.]example[.]com/x", []string{"http://evil.example.com/x"}, true},
		{"dot word", "evil (dot) com", []string{"http://evil.com/"}, true},
		{"defanged scheme", "hxxp[:]//198.51.100.7/x", []string{"http://198.51.100.7/x"}, true},
		{"at word", "john [at] evil [dot] com", []string{"mailto:john@evil.com"}, true},
		{"parens", "(see http://example.com/foo_(bar))", []string{"http://example.com/foo_(bar)"}, false},
		{"ip with path", "http://0x7f.1/x and 192.0.2.1/y and version 1.2.3.4", []string{"http://127.0.0.1/x", "http://192.0.2.1/y"}, false},
		{"userinfo", "http://www.bank.example@evil.example/", []string{"http://www.bank.example@evil.example/"}, false},
		{"idn", "http://pаypal.com/ login", []string{"http://xn--pypal-4ve.com/"}, false},
		{"symbol where the host starts is not re-read", "http://✪df.ws/123 and http://→www.example.org/ here", nil, false},
		{"wrapped email in url", "https://ex.example/?e=a@b.com", []string{"https://ex.example/?e=a@b.com"}, false},
		{"dot in prose is no link", "I was (at) home. Done (dot) period", nil, false},
		// Links as a mail client shows them: "www." makes a link whatever
		// the top-level domain; words run together by a missing space
		// after a full stop do not.
		{"www with any tld", "visit www.sale-now.zzshop or www.promo.bank today", []string{"http://www.sale-now.zzshop/", "http://www.promo.bank/"}, false},
		{"www needs a name and a tld of letters", "www.x1 and www.example.12", nil, false},
		{"sentence join capitalised", "All rights reserved.No part may be copied. Thanks.Please reply", nil, false},
		{"sentence join word tld", "Unusual sign.in activity, please check.in now or log.in", nil, false},
		{"word tld with a path is a link", "go to sign.in/account or zoom.us/j/1", []string{"http://sign.in/account", "http://zoom.us/j/1"}, false},
		{"word tld with a long name is a link", "claim at freebitco.in today", []string{"http://freebitco.in/"}, false},
		{"capitalised domain is a link", "Shop at Amazon.com or EXAMPLE.NO", []string{"http://amazon.com/", "http://example.no/"}, false},
		// A redirect target cut by a hard line wrap is joined with the
		// next line; a whole link at the end of a line is not.
		{"wrapped redirect target", "Click https://t.example.com/r?u=https://simplysale\nping.zone/offer now", []string{"https://t.example.com/r?u=https://simplysaleping.zone/offer"}, false},
		{"wrapped redirect target crlf", "https://t.example.com/r?u=https%3A%2F%2Fsimplysale\r\nping.zone%2Fx\r\nBye", []string{"https://t.example.com/r?u=https%3A%2F%2Fsimplysaleping.zone%2Fx"}, false},
		{"whole link at a line end stays", "https://t.example.com/r?u=https://shop.example.com/\nNext line", []string{"https://t.example.com/r?u=https://shop.example.com/"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			found := ExtractText(tt.in)
			for _, f := range found {
				got = append(got, f.URL.String)
				if f.Obfuscated != tt.obf {
					t.Errorf("%q: Obfuscated = %v, want %v", f.Text, f.Obfuscated, tt.obf)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("ExtractText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestExtractHostile feeds inputs that make backtracking matchers go
// quadratic. The scanner is linear, so each finishes quickly; the test
// asserts the results, not the time (a quadratic scanner would make the
// suite time out instead).
func TestExtractHostile(t *testing.T) {
	const n = 1 << 20
	tests := []struct {
		name string
		in   string
		max  int
	}{
		{"dots", strings.Repeat("a.", n/2), 0},
		{"ats", strings.Repeat("a@", n/2), 0},
		{"schemes", strings.Repeat("http://", n/7), 1},
		{"open parens", "http://example.com/" + strings.Repeat("(", n), 1},
		{"brackets", strings.Repeat("[.]", n/3), 0},
		{"long url", "http://example.com/" + strings.Repeat("x", n), 1},
		{"many links", strings.Repeat("a.com ", n/6), DefaultMaxFound},
		{"mixed", strings.Repeat("x@a.com.", n/8), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found := ExtractText(tt.in)
			if len(found) > tt.max {
				t.Errorf("found %d links, want at most %d", len(found), tt.max)
			}
			for _, f := range found {
				if len(f.Text) > maxLinkLen {
					t.Errorf("link text of %d bytes exceeds %d", len(f.Text), maxLinkLen)
				}
			}
		})
	}
}
