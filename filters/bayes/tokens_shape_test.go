package bayes

import (
	"slices"
	"strings"
	"testing"
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
	}
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
