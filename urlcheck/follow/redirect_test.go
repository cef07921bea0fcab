package follow

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRefreshTarget(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0; url=http://a.example/", "http://a.example/"},
		{"5;URL='/next'", "/next"},
		{`3, url="/q?a=1"`, "/q?a=1"},
		{"  0 ; url = /x ", "/x"},
		{"0;/bare", "/bare"},
		{"0.5; url=/frac", "/frac"},
		{"10", ""},
		{"", ""},
		{"url=/no-time", ""},
		{"0; url='unterminated", "unterminated"},
		{"abc; url=/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := RefreshTarget(tt.in); got != tt.want {
				t.Errorf("RefreshTarget(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestClientRedirect(t *testing.T) {
	tests := []struct {
		name, page, want string
		via              Via
	}{
		{"meta", `<html><head><meta http-equiv="refresh" content="0;url=/a"></head></html>`, "/a", ViaRefresh},
		{"meta case", `<META HTTP-EQUIV=REFRESH CONTENT="1; URL=https://b.example/">`, "https://b.example/", ViaRefresh},
		{"meta reload only", `<meta http-equiv="refresh" content="30">`, "", ViaStart},
		{"meta other", `<meta name="refresh" content="0;url=/x">`, "", ViaStart},
		{"location.href", `<script>location.href="/h";</script>`, "/h", ViaScript},
		{"window.location", `<script>window.location = '/w'</script>`, "/w", ViaScript},
		{"document.location.href", `<script>document.location.href = "/d"</script>`, "/d", ViaScript},
		{"replace", `<script>window.location.replace( "/r" );</script>`, "/r", ViaScript},
		{"assign", `<script>location.assign('/as')</script>`, "/as", ViaScript},
		{"computed", `<script>location.href = base + "/x";</script>`, "", ViaStart},
		{"comparison", `<script>if (location.href == "/x") {}</script>`, "", ViaStart},
		{"outside script", `<p>location.href="/text"</p>`, "", ViaStart},
		{"meta beats script", `<script>location="/s"</script><meta http-equiv=refresh content="0;url=/m">`, "/m", ViaRefresh},
		{"empty", ``, "", ViaStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, via := ClientRedirect([]byte(tt.page))
			if got != tt.want || via != tt.via {
				t.Errorf("ClientRedirect = %q, %q; want %q, %q", got, via, tt.want, tt.via)
			}
		})
	}
}

func FuzzClientRedirect(f *testing.F) {
	for _, s := range []string{
		`<meta http-equiv="refresh" content="0;url=/a">`,
		`<script>location.replace("/r")</script>`,
		`<script>window.location.href='x'`,
		`<meta http-equiv=refresh content="0; url='`,
		"<script>" + strings.Repeat("location=", 100) + "</script>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, page []byte) {
		target, via := ClientRedirect(page)
		if (target == "") != (via == ViaStart) {
			t.Fatalf("target %q with via %q", target, via)
		}
		if len(target) > len(page) {
			t.Fatalf("target %q longer than the page", target)
		}
		if target != "" && utf8.ValidString(string(page)) && !utf8.ValidString(target) {
			t.Fatalf("invalid UTF-8 target %q from valid input", target)
		}
		_ = RefreshTarget(string(page))
	})
}

func FuzzRefreshTarget(f *testing.F) {
	for _, s := range []string{"0;url=/x", "5, URL='y'", "1.5;\"z\"", ";", "0;url="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := RefreshTarget(s)
		if len(got) > len(s) {
			t.Fatalf("RefreshTarget(%q) = %q, longer than its input", s, got)
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("RefreshTarget(%q) = %q, not trimmed", s, got)
		}
	})
}
