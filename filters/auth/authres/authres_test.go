package authres

import (
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		a    filters.AuthResults
		want string
	}{
		{"nothing ran", filters.AuthResults{}, "mx.example.org; none"},
		{"all pass", filters.AuthResults{
			SPF:   filters.SPFResult{Result: "pass", Domain: "example.com", Identity: "mailfrom"},
			DKIM:  []filters.DKIMResult{{Domain: "example.com", Selector: "sel", Result: "pass", Algorithm: "rsa-sha256"}},
			DMARC: filters.DMARCResult{Result: "pass", Policy: "reject", Domain: "example.com"},
			ARC:   filters.ARCResult{Result: "none"},
		}, "mx.example.org; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com header.s=sel header.a=rsa-sha256; dmarc=pass (p=reject) header.from=example.com; arc=none"},
		{"helo identity, no signature, failure reason quoted", filters.AuthResults{
			SPF: filters.SPFResult{Result: "fail", Domain: "mx.example.net", Identity: "helo"},
			ARC: filters.ARCResult{Result: "fail", Detail: "x"},
		}, "mx.example.org; spf=fail smtp.helo=mx.example.net; dkim=none; arc=fail"},
		{"dkim failure reason with quotes and CRLF", filters.AuthResults{
			SPF:  filters.SPFResult{Result: "none"},
			DKIM: []filters.DKIMResult{{Domain: "example.com", Selector: "odd sel", Result: "permerror", Detail: "bad \"tag\"\r\nx"}},
		}, `mx.example.org; spf=none; dkim=permerror reason="bad \"tag\"  x" header.d=example.com header.s="odd sel"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Format("mx.example.org", tc.a)
			if got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Fatal("value contains a line break")
			}
			if !ClaimsID(got, "mx.example.org") {
				t.Fatal("our own header does not claim our id")
			}
		})
	}
}

func TestClaimsID(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{" mx.example.org; spf=pass smtp.mailfrom=example.com", true},
		{"MX.Example.ORG; none", true},
		{"mx.example.org. 1; none", true},
		{" (forged) mx.example.org; dkim=pass", true},
		{" (nested (comment) \\) here)\r\n\tmx.example.org;dkim=pass", true},
		{` "mx.example.org"; none`, true},
		{` "mx.exa\mple.org"; none`, true},
		{"mx.example.org(comment); none", true},
		{" mx.example.org.evil.com; spf=pass", false},
		{" other.example.org; spf=pass (mx.example.org)", false},
		{" (mx.example.org) other.example.org; none", false},
		{" (unterminated mx.example.org; none", false},
		{` "mx.example.org; none`, false},
		{"", false},
		{" ; spf=pass", false},
	}
	for _, tc := range tests {
		if got := ClaimsID(tc.value, "mx.example.org"); got != tc.want {
			t.Errorf("ClaimsID(%q) = %v, want %v", tc.value, got, tc.want)
		}
	}
}

func FuzzClaimsID(f *testing.F) {
	f.Add(" (c) \"mx\\\".example\"; x")
	f.Add("((((")
	f.Fuzz(func(t *testing.T, v string) {
		if id, ok := AuthservID(v); ok && !ClaimsID(v, id) {
			t.Fatalf("%q: extracted id %q is not claimed", v, id)
		}
	})
}

func FuzzFormat(f *testing.F) {
	f.Add("example.com", "sel", "bad \"x\"\r\n")
	f.Fuzz(func(t *testing.T, domain, selector, detail string) {
		a := filters.AuthResults{
			SPF:  filters.SPFResult{Result: "fail", Domain: domain, Detail: detail},
			DKIM: []filters.DKIMResult{{Domain: domain, Selector: selector, Result: "fail", Detail: detail}},
		}
		v := Format("mx.example.org", a)
		if strings.ContainsAny(v, "\r\n") {
			t.Fatalf("line break in %q", v)
		}
		if !ClaimsID(v, "mx.example.org") {
			t.Fatalf("%q does not claim our id", v)
		}
	})
}
