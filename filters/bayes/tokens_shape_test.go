package bayes

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

func TestShape(t *testing.T) {
	tests := []struct {
		name, in, want string
		max            int
	}{
		{"mutt message-id", "20020822113407.GA1234", "d.Ad", 12},
		{"outlook boundary", "----=_NextPart_000_0000_01C2", "-=_AaAa_d_d_dAd", 20},
		{"capped runs", "a1b2c3d4", "ada", 3},
		{"control and 8-bit", "a\x01\xff", "a?", 12},
		{"empty", "", "", 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shape(tt.in, tt.max); got != tt.want {
				t.Errorf("shape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHopShape(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"resolved esmtp", "from mx.example.com (mx.example.com [192.0.2.1]) by mail.example.org with ESMTP id X", []string{"with:esmtp"}},
		{"unknown literal helo", "from [192.0.2.7] (unknown [192.0.2.7]) by mx with SMTP;", []string{"helo:literal", "with:smtp", "unknown"}},
		{"dotless helo", "from pc01 (host.example [192.0.2.9]) by mx with ESMTP", []string{"helo:nodot", "with:esmtp"}},
		{"qmail", "(qmail 11764 invoked from network); 22 Aug 2002", []string{"qmail_network", "nofrom"}},
		{"empty", "", []string{"nofrom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hopShape(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("hopShape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFooterStart(t *testing.T) {
	body := "Hello,\r\nthe build works.\r\n"
	tests := []struct {
		name, text, footer string
	}{
		{"mailman", body + "\r\n_______________________________________________\r\nList mailing list\r\n", "_______________________________________________\r\nList mailing list\r\n"},
		{"signature", body + "-- \r\nBob\r\n", "-- \r\nBob\r\n"},
		{"yahoo groups", body + "------------------------ Yahoo! Groups Sponsor ---~-->\r\nAd\r\n", "------------------------ Yahoo! Groups Sponsor ---~-->\r\nAd\r\n"},
		{"earliest of two", body + "-- \r\nBob\r\n______________\r\nlist\r\n", "-- \r\nBob\r\n______________\r\nlist\r\n"},
		{"short dashes are text", body + "-----Original Message-----\r\nquoted\r\n", ""},
		{"delimiter on the first line is not a footer", "______________\r\nall\r\n", ""},
		{"too far from the end", body + "-- \r\n" + strings.Repeat("line\r\n", footerLines+1), ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := footerStart(tt.text)
			got := ""
			if i >= 0 {
				got = tt.text[i:]
			}
			if got != tt.footer {
				t.Errorf("footer of %q = %q, want %q", tt.text, got, tt.footer)
			}
		})
	}
}

const headerFamiliesMessage = "From: \"Best Deals\" <x7734@deals.example>\r\n" +
	"To: undisclosed-recipients:;\r\n" +
	"Subject: hi\r\n" +
	"Date: Thu, 22 Aug 2002 12:34:53 +0100\r\n" +
	"Message-ID: <20020822113407.GA1234@deals.example>\r\n" +
	"Received: from mx.ours.example (mx.ours.example [192.0.2.1]) by inbox.ours.example with ESMTP id 1\r\n" +
	"Received: from [192.0.2.7] (unknown [192.0.2.7]) by mx.ours.example with SMTP id 2\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"----=_NextPart_000_0001\"\r\n" +
	"\r\n" +
	"------=_NextPart_000_0001\r\nContent-Type: text/html; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"PGh0bWw+PGZvbnQgY29sb3I9InJlZCI+PEEgSFJFRj0iaHR0cDovL3guZXhhbXBsZS8iPmdvPC9h\r\nPjwvZm9udD48IS0tIGhpZGRlbiAtLT48L2h0bWw+\r\n" +
	"------=_NextPart_000_0001\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=a.exe\r\n\r\nMZ\r\n" +
	"------=_NextPart_000_0001--\r\n"

func TestHeaderFamilies(t *testing.T) {
	m := testMessage(t, headerFamiliesMessage)
	toks := Tokenize(m, 0)
	want := []string{
		"r:hops:2", "r:with:esmtp", "r:with:smtp", "r:helo:literal", "r:unknown",
		"r:first:helo:literal", "r:first:unknown", "r:first:with:smtp",
		"h:msgid_shape:d.Ad", "h:boundary:-=_AaAa_d_d", "h:tz:+0100",
		"h:from_local:ad", "fn:best", "fn:deals", "h:to:undisclosed",
		"h:part_cte:base64", "h:part_charset:iso-8859-1", "h:part_disp:attachment",
	}
	for _, w := range want {
		if !slices.Contains(toks, w) {
			t.Errorf("token %q missing from %q", w, toks)
		}
	}
	for _, tok := range toks {
		// Host names and addresses of the relays never become tokens.
		if strings.Contains(tok, "192.0.2") || strings.Contains(tok, "ours.example") {
			t.Errorf("relay detail in token %q", tok)
		}
		// HTML tag tokens are off by default.
		if strings.HasPrefix(tok, prefixHTML) {
			t.Errorf("HTML token %q with default options", tok)
		}
	}

	t.Run("html tags and attributes", func(t *testing.T) {
		o := defaultTokenOptions
		o.html, o.htmlAttrs = true, true
		toks := tokenize(m, 0, o)
		for _, w := range []string{"t:html", "t:font", "t:font.color", "t:a", "t:a.href", "t:comment"} {
			if !slices.Contains(toks, w) {
				t.Errorf("token %q missing from %q", w, toks)
			}
		}
		if slices.Contains(toks, "t:red") || slices.Contains(toks, "t:hidden") {
			t.Errorf("attribute value or comment text became a tag token: %q", toks)
		}
	})
	t.Run("html tag set", func(t *testing.T) {
		o := defaultTokenOptions
		o.html, o.htmlSet = true, true
		toks := tokenize(m, 0, o)
		if !slices.Contains(toks, "t:set:a,font,html") || !slices.Contains(toks, "t:distinct:2") {
			t.Errorf("tag set tokens missing from %q", toks)
		}
	})
	t.Run("footer apart and dropped", func(t *testing.T) {
		m := &filters.Message{}
		m.Facts.Content.Text = "build fixed\r\n-- \r\nsponsored footer\r\n"
		o := defaultTokenOptions
		o.footer = 1
		toks := tokenize(m, 0, o)
		for _, w := range []string{"build", "f:sponsored", "fb:sponsored footer", "x:footer"} {
			if !slices.Contains(toks, w) {
				t.Errorf("footer apart: %q missing from %q", w, toks)
			}
		}
		if slices.Contains(toks, "sponsored") {
			t.Errorf("footer apart: footer word learned as text: %q", toks)
		}
		o.footer = 2
		toks = tokenize(m, 0, o)
		if slices.Contains(toks, "sponsored") || slices.Contains(toks, "f:sponsored") || !slices.Contains(toks, "build") {
			t.Errorf("footer dropped: %q", toks)
		}
	})
}

// FuzzTokenizeAllFamilies runs every token family, including the ones off
// by default, over arbitrary messages: no panic, no duplicate, the cap
// holds.
func FuzzTokenizeAllFamilies(f *testing.F) {
	f.Add([]byte(headerFamiliesMessage))
	f.Add([]byte(multipartMessage))
	f.Add([]byte("Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a b='>\r\n<<<//x=\r\n<!--"))
	f.Add([]byte("Received: from\r\nReceived: with\r\nDate: +\r\nFrom: \"\" <@>\r\n\r\n-- \r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, ok := fuzzMessage(raw)
		if !ok {
			return
		}
		for _, o := range []tokenOptions{
			{bigrams: true, skips: true, headerNames: true, urlPaths: true, received: true, idShapes: true,
				addrShapes: true, html: true, htmlAttrs: true, partHeaders: true, footer: 1,
				hidden: true, scripts: true, tlds: true, listFields: true, listTag: true, listFooter: true, noTZ: true},
			{html: true, htmlSet: true, footer: 2, listTag: true, listFooter: true},
		} {
			checkTokenList(t, tokenize(m, 300, o), 300)
		}
	})
}

func TestListField(t *testing.T) {
	for _, name := range []string{"list-id", "list-unsubscribe", "x-beenthere", "x-mailman-version", "precedence", "errors-to", "resent-from", "x-original-from", "mail-followup-to"} {
		if !listField(name) {
			t.Errorf("listField(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"from", "reply-to", "x-mailer", "message-id", "listserv-note", "x-priority"} {
		if listField(name) {
			t.Errorf("listField(%q) = true, want false", name)
		}
	}
}

func TestStripListTag(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[ILUG] cheap pills", "cheap pills"},
		{"Re: [SAtalk] rules", "Re: rules"},
		{"no tag here", "no tag here"},
		{"[unterminated tag", "[unterminated tag"},
		{"[" + strings.Repeat("x", 50) + "] too long for a tag", "[" + strings.Repeat("x", 50) + "] too long for a tag"},
	}
	for _, tt := range tests {
		if got := stripListTag(tt.in); got != tt.want {
			t.Errorf("stripListTag(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScriptTokens(t *testing.T) {
	ts := tokenSet{seen: map[string]struct{}{}}
	scriptTokens(&ts, "안녕하세요 고객님 special offer")
	if !slices.Equal(ts.list, []string{"x:script:latin", "x:script:hangul"}) {
		t.Errorf("scripts = %q", ts.list)
	}
}
