package reputation

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

func keyIDs(keys []store.Key) map[string]float64 {
	out := map[string]float64{}
	for _, k := range keys {
		out[k.ID()] = k.Weight
	}
	return out
}

func TestKeys(t *testing.T) {
	img := strings.Repeat("ab", 32)
	tests := []struct {
		name   string
		m      *filters.Message
		want   map[string]float64 // exact set of non-content keys
		text   bool               // expect content bands
		absent []string
	}{
		{
			name: "ipv4 client with authenticated sender",
			m: &filters.Message{
				Envelope: filters.Envelope{ClientIP: netip.MustParseAddr("198.51.100.7"), MailFrom: "bounce@mail.example.com"},
				Headers:  []filters.Header{{Name: "From", Value: " Shop <news@Example.com>"}},
				Facts: filters.Facts{Auth: filters.AuthResults{
					SPF:   filters.SPFResult{Result: "pass", Domain: "mail.example.com"},
					DKIM:  []filters.DKIMResult{{Domain: "example.com", Result: "pass"}, {Domain: "forged.example", Result: "fail"}},
					DMARC: filters.DMARCResult{Result: "pass", Domain: "example.com"},
				}},
			},
			want: map[string]float64{
				"ip:198.51.100.7": 1, "net:198.51.100.0/24": 1,
				"sender:example.com": 1, "sender:mail.example.com": 1,
			},
			absent: []string{"sender:forged.example", "sender_unauth:example.com"},
		},
		{
			name: "ipv6 client, unauthenticated identities at low weight",
			m: &filters.Message{
				Envelope: filters.Envelope{ClientIP: netip.MustParseAddr("2001:db8:1:2:3:4:5:6"), MailFrom: "x@bulk.example.net"},
				Headers:  []filters.Header{{Name: "From", Value: " \"PayPal\" <service@paypal.example>"}},
				Facts: filters.Facts{Auth: filters.AuthResults{
					SPF:   filters.SPFResult{Result: "softfail", Domain: "bulk.example.net"},
					DMARC: filters.DMARCResult{Result: "fail", Domain: "paypal.example"},
				}},
			},
			want: map[string]float64{
				"ip:2001:db8:1:2:3:4:5:6": 1, "net:2001:db8:1:2::/64": 1,
				"sender_unauth:paypal.example": UnauthWeight, "sender_unauth:bulk.example.net": UnauthWeight,
			},
			absent: []string{"sender:paypal.example"},
		},
		{
			name: "local client, links, nameservers, images",
			m: &filters.Message{
				Envelope: filters.Envelope{ClientIP: netip.MustParseAddr("127.0.0.1")},
				Facts: filters.Facts{
					Content: filters.Content{
						Domains: []string{"Shop.Example", "shop.example", "bad..", "other.example"},
						URLs: []filters.URL{
							{URL: "https://bit.example/AbC123?utm=1#x"}, {URL: "http://shop.example/"}, {URL: "::bad"},
						},
						Images: []filters.Image{{Kind: "inline", SHA256: strings.ToUpper(img)}, {Kind: "remote", Src: "http://x"}, {SHA256: "zz"}},
						Text:   "Limited offer: buy the premium watch collection today and save big on every single order you place with us.",
					},
					Infra: filters.Infra{Domains: []filters.DomainInfra{
						{Domain: "shop.example", NS: []filters.NSHost{{Name: "NS1.Host.Example.", Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.53")}}}},
						{Domain: "other.example", NS: []filters.NSHost{{Name: "ns1.host.example", Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.53")}}}},
					}},
				},
			},
			want: map[string]float64{
				"domain:shop.example": 1, "domain:other.example": 1, "url:bit.example/AbC123": 1,
				"ns:ns1.host.example": 1, "ns_ip:203.0.113.53": 1, "image:" + img: 1,
			},
			text:   true,
			absent: []string{"ip:127.0.0.1"},
		},
		{
			name: "nothing known",
			m:    &filters.Message{},
			want: map[string]float64{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := keyIDs(Keys(tc.m))
			bands := 0
			for id := range got {
				if strings.HasPrefix(id, "content:") {
					bands++
					delete(got, id)
				}
			}
			if tc.text != (bands == minhashBands) {
				t.Errorf("content bands = %d, want text=%v", bands, tc.text)
			}
			for id, w := range tc.want {
				if gw, ok := got[id]; !ok || gw != w {
					t.Errorf("key %s: weight %v present %v, want %v", id, gw, ok, w)
				}
			}
			for id := range got {
				if _, ok := tc.want[id]; !ok {
					t.Errorf("unexpected key %s", id)
				}
			}
			for _, id := range tc.absent {
				if _, ok := got[id]; ok {
					t.Errorf("key %s must not be there", id)
				}
			}
		})
	}
}

func TestKeysBounded(t *testing.T) {
	m := &filters.Message{}
	for i := 0; i < 500; i++ {
		d := strings.Repeat("x", i%300+1) + ".example"
		m.Facts.Content.Domains = append(m.Facts.Content.Domains, d)
		m.Facts.Content.URLs = append(m.Facts.Content.URLs, filters.URL{URL: "http://" + d + "/p"})
	}
	counts := map[store.Kind]int{}
	for _, k := range Keys(m) {
		counts[k.Kind]++
		if len(k.Value) > 80 && !strings.HasPrefix(k.Value, "sha256.") && len(k.Value) > maxValueLen {
			t.Fatalf("key value of %d bytes kept verbatim", len(k.Value))
		}
	}
	if counts[KindDomain] != maxDomains || counts[KindURL] != maxURLs {
		t.Fatalf("domains %d urls %d, want %d and %d", counts[KindDomain], counts[KindURL], maxDomains, maxURLs)
	}
}

func TestPageKeys(t *testing.T) {
	m := &filters.Message{}
	m.Facts.Links = []filters.LinkChain{
		{URL: "http://bit.ly/x", Fingerprint: filters.PageFingerprint{Hash: "ABCDEF0123", Sim: 0x00ff00ff00ff00ff}},
		{URL: "http://bit.ly/y"},
		{URL: "http://bit.ly/z", Fingerprint: filters.PageFingerprint{Hash: "not-hex!", Sim: 1}},
	}
	var pages []string
	for _, k := range Keys(m) {
		if k.Kind == KindPage {
			pages = append(pages, k.Value)
		}
	}
	if len(pages) != 1 || pages[0] != "abcdef0123" {
		t.Fatalf("page keys %v, want [abcdef0123]", pages)
	}
}
