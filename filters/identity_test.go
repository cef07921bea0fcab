package filters

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/urlcheck"
)

func TestIdentities(t *testing.T) {
	tests := []struct {
		name      string
		from      []string
		author    Address
		domains   []string
		malformed bool
	}{
		{name: "plain", from: []string{` "Bob" <bob@Mail.Example.COM>`},
			author: Address{Name: "Bob", Local: "bob", Domain: "mail.example.com"}, domains: []string{"mail.example.com"}},
		{name: "trailing dot is not RFC 5322 but the domain is clear", from: []string{` "Bob" <bob@Mail.Example.COM.>`},
			author: Address{Name: "Bob", Local: "bob", Domain: "mail.example.com"}, domains: []string{"mail.example.com"}, malformed: true},
		{name: "encoded name in another charset", from: []string{` =?koi8-r?B?8NLJ18XU?= <a@example.ru>`},
			author: Address{Name: "Привет", Local: "a", Domain: "example.ru"}, domains: []string{"example.ru"}},
		{name: "encoded comma stays in the name", from: []string{` =?utf-8?q?Smith=2C_John?= <j@example.org>`},
			author: Address{Name: "Smith, John", Local: "j", Domain: "example.org"}, domains: []string{"example.org"}},
		{name: "raw 8-bit name", from: []string{" \xb1\xa4\xb0\xed <ad@example.kr>"},
			author: Address{Name: "\uFFFD", Local: "ad", Domain: "example.kr"}, domains: []string{"example.kr"}},
		{name: "list and a second field", from: []string{` a@one.example, b@two.example`, ` c@three.example`},
			author: Address{Local: "a", Domain: "one.example"}, domains: []string{"one.example", "two.example", "three.example"}},
		{name: "malformed: every @domain counts", from: []string{` "x" <a@example.com`},
			author: Address{Name: "x", Local: "a", Domain: "example.com"}, domains: []string{"example.com"}, malformed: true},
		{name: "malformed with two domains", from: []string{` bob at <bob@example.org> (or evil@other.example`},
			author: Address{Name: "bob at", Local: "bob", Domain: "example.org"}, domains: []string{"example.org", "other.example"}, malformed: true},
		{name: "group without addresses", from: []string{` undisclosed-recipients:;`}},
		{name: "no address at all", from: []string{` undisclosed`}, malformed: true},
		{name: "malformed: the address a client shows comes first", from: []string{" WebXperts@no.hostname.specified, Design@no.hostname.specified,\r\n\t\"Inc.\" <WebBuilders@YourService.com>"},
			author:  Address{Name: "WebXperts@no.hostname.specified, Design@no.hostname.specified,\r\n\t\"Inc.", Local: "WebBuilders", Domain: "yourservice.com"},
			domains: []string{"yourservice.com", "no.hostname.specified"}, malformed: true},
		{name: "malformed: two @ without angle brackets", from: []string{" ndtuftrzzsglsvnz@uksyz@21cn.com"},
			author: Address{Local: "ndtuftrzzsglsvnz@uksyz", Domain: "21cn.com"}, domains: []string{"21cn.com", "uksyz"}, malformed: true},
		{name: "malformed: the domain ends where a domain cannot go on", from: []string{` Dekra <noreply@theskimm,com>`, ` "x" <a@aok.de" >`},
			author: Address{Name: "Dekra", Local: "noreply", Domain: "theskimm"}, domains: []string{"theskimm", "aok.de"}, malformed: true},
		{name: "encoded word glued to text", from: []string{" David H=?ISO-8859-1?B?9g==?=hn <dh@uptime.at>"},
			author: Address{Name: "David Höhn", Local: "dh", Domain: "uptime.at"}, domains: []string{"uptime.at"}},
		{name: "encoded word in a quoted string", from: []string{` "=?iso-2022-jp?B?GyRCMEtFbCEhP04bKEI=?=" <hito@opentext.com>`},
			author: Address{Name: "伊東　仁", Local: "hito", Domain: "opentext.com"}, domains: []string{"opentext.com"}},
		{name: "no From"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Envelope: Envelope{MailFrom: "Bounce@Mail.Example.NET"}}
			for _, f := range tc.from {
				m.Headers = append(m.Headers, Header{Name: "From", Value: f})
			}
			id := m.Identities()
			if id.FromFields != len(tc.from) || id.FromMalformed != tc.malformed {
				t.Errorf("fields %d malformed %v, want %d %v", id.FromFields, id.FromMalformed, len(tc.from), tc.malformed)
			}
			if id.Author() != tc.author {
				t.Errorf("author %#v, want %#v", id.Author(), tc.author)
			}
			var got []string
			for _, a := range id.From {
				got = append(got, a.Domain)
			}
			if strings.Join(got, ",") != strings.Join(tc.domains, ",") {
				t.Errorf("From domains %q, want %q", got, tc.domains)
			}
			if want := (Address{Local: "Bounce", Domain: "mail.example.net"}); id.MailFrom != want {
				t.Errorf("MailFrom %+v, want %+v", id.MailFrom, want)
			}
			if m.Identities() != id {
				t.Error("parsed twice")
			}
		})
	}
}

func roleList(ds []NamedDomain) string {
	var parts []string
	for _, d := range ds {
		s := d.Role.String() + ":" + d.Name
		if d.Via != "" {
			s += "<" + d.Via
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestDomains(t *testing.T) {
	m := &Message{
		Envelope: Envelope{MailFrom: "b@bounce.example", Helo: "[192.0.2.1]", ClientName: "MX.Sender.Example."},
		Headers: []Header{{Name: "From", Value: " News <news@sender.example>"}, {Name: "Reply-To", Value: " x@reply.example"},
			{Name: "Sender", Value: " list@lists.example"}},
	}
	m.Facts.Auth.DKIM = []DKIMResult{{Domain: "signer.example", Result: DKIMPass}, {Domain: "forged.example", Result: DKIMFail}}
	m.Facts.Content = Content{
		URLs: []URL{{URL: "https://www.shop.example/a", Host: "www.shop.example", Domain: "shop.example"},
			{URL: "http://192.0.2.7/x", Host: "192.0.2.7"},
			{URL: "https://foo.blogspot.com/", Host: "foo.blogspot.com", Domain: "blogspot.com"}},
		Images:  []Image{{Kind: "remote", Src: "https://img.cdn.example/p.png", Host: "img.cdn.example"}, {Kind: "inline", Src: "cid:x"}},
		Domains: []string{"blogspot.com", "cdn.example", "mail.example", "shop.example"},
	}
	m.Facts.Links = []LinkChain{{URL: "https://www.shop.example/a", Hops: []LinkHop{{Host: "www.shop.example"}, {Host: "landing.example"}}}}
	m.Facts.Infra.Domains = []DomainInfra{{Domain: "shop.example", NS: []NSHost{{Name: "ns1.dns.example.", Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}}}}}

	want := "envelope:bounce.example from:sender.example dkim:signer.example client_name:mx.sender.example " +
		"reply_to:reply.example sender:lists.example link:www.shop.example<https://www.shop.example/a " +
		"link:foo.blogspot.com<https://foo.blogspot.com/ image:img.cdn.example address:mail.example " +
		"redirect:www.shop.example<https://www.shop.example/a redirect:landing.example<https://www.shop.example/a " +
		"nameserver:ns1.dns.example<shop.example"
	if got := roleList(m.Domains()); got != want {
		t.Errorf("Domains:\n got %s\nwant %s", got, want)
	}
	if d := m.Domains()[7]; d.Registrable(urlcheck.Site) != "foo.blogspot.com" || d.Registrable(urlcheck.Registry) != "blogspot.com" {
		t.Errorf("%+v: registrable %q / %q", d, d.Registrable(urlcheck.Site), d.Registrable(urlcheck.Registry))
	}
	for _, r := range []Role{RoleEnvelope, RoleFrom, RoleDKIM, RoleHelo, RoleClientName} {
		if !r.Origin() || r.Linked() {
			t.Errorf("%s: origin %v linked %v", r, r.Origin(), r.Linked())
		}
	}
	for _, r := range []Role{RoleLink, RoleImage, RoleAddress, RoleRedirect} {
		if r.Origin() || !r.Linked() {
			t.Errorf("%s: origin %v linked %v", r, r.Origin(), r.Linked())
		}
	}
}

// TestDomainsOncePerStage: within a stage the checks share one list; the
// next stage sees the facts the stage before it wrote.
func TestDomainsOncePerStage(t *testing.T) {
	m := &Message{Headers: []Header{{Name: "From", Value: " a@from.example"}}}
	m.enterStage(StagePolicy)
	first := m.Domains()
	m.Facts.Infra.Domains = []DomainInfra{{Domain: "from.example", NS: []NSHost{{Name: "ns.example"}}}}
	if again := m.Domains(); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("recomputed within a stage: %v", again)
	}
	m.enterStage(StageReputation)
	if got := roleList(m.Domains()); got != "from:from.example nameserver:ns.example<from.example" {
		t.Errorf("next stage: %s", got)
	}
}

func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{`"Bob" <bob@example.com>`, `a@b, c@d`, `=?utf-8?q?x?= <a@b.c>`, `"x" <a@`, "\xff <a@b>", `g: a@b, c@d;`, `<@route:a@b>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		addrs, _ := ParseAddressList(v)
		for _, a := range addrs {
			if strings.ContainsAny(a.Domain, "@") || a.Domain != strings.ToLower(a.Domain) {
				t.Fatalf("ParseAddressList(%q): domain %q", v, a.Domain)
			}
		}
	})
}

// domainsCheck reads the identity view, as the checks of one stage do in
// parallel.
type domainsCheck struct {
	name string
	got  *[]NamedDomain
}

func (c domainsCheck) Name() string { return c.name }
func (c domainsCheck) Run(ctx context.Context, m *Message) ([]Symbol, error) {
	_ = m.Identities().Author()
	*c.got = m.Domains()
	return nil, nil
}

// TestDomainsSharedByAStage: the checks of one stage read one list,
// computed once, safely in parallel (run with -race).
func TestDomainsSharedByAStage(t *testing.T) {
	m := &Message{Headers: []Header{{Name: "From", Value: " a@from.example"}}}
	m.Facts.Infra.Domains = []DomainInfra{{Domain: "from.example", NS: []NSHost{{Name: "ns.example"}}}}
	p := NewPipeline(time.Second, 2*time.Second, nil)
	var lists [4][]NamedDomain
	for i := range lists {
		p.Add(StageReputation, domainsCheck{name: fmt.Sprintf("c%d", i), got: &lists[i]}, FailOpen)
	}
	p.Run(context.Background(), m)
	for i := range lists {
		if roleList(lists[i]) != "from:from.example nameserver:ns.example<from.example" {
			t.Fatalf("check %d read %s", i, roleList(lists[i]))
		}
		if i > 0 && &lists[i][0] != &lists[0][0] {
			t.Errorf("check %d computed its own list", i)
		}
	}
}
