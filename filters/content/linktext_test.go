package content

import (
	"context"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

func TestLinkText(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	tests := []struct {
		name, html string
		// want maps URL to its expected Text.
		want map[string]string
	}{
		{"plain anchor", `<p>Hello <a href="http://a.example/x">  Sign in
			to   PayPal </a></p>`, map[string]string{"http://a.example/x": "Sign in to PayPal"}},
		{"inline elements join", `<a href="http://a.example/x">Pay<b>Pal</b> login</a>`, map[string]string{"http://a.example/x": "PayPal login"}},
		{"blocks separate", `<a href="http://a.example/x"><div>Pay</div><div>Pal</div></a>`, map[string]string{"http://a.example/x": "Pay Pal"}},
		{"hidden and zero-width skipped", `<a href="http://a.example/x">Pay` + "\u200b" + `<span style="display:none">junk</span>Pal<script>x()</script></a>`,
			map[string]string{"http://a.example/x": "PayPal"}},
		{"image alt when no text", `<a href="http://a.example/x"><img src="http://i.example/l.png" alt="Microsoft"></a>`,
			map[string]string{"http://a.example/x": "Microsoft"}},
		{"area alt", `<map><area href="http://a.example/m" alt="Amazon account"></map>`, map[string]string{"http://a.example/m": "Amazon account"}},
		{"capped at a rune boundary", `<a href="http://a.example/x">` + long + `</a>`, map[string]string{"http://a.example/x": strings.Repeat("é", 100)}},
		{"first text wins", `<a href="http://a.example/x"><img src="http://i.example/1.png"></a> <a href="http://a.example/x">second</a> <a href="http://a.example/x">third</a>`,
			map[string]string{"http://a.example/x": "second"}},
		{"not for forms or frames", `<form action="http://f.example/post"></form><iframe src="http://i.example/f"></iframe>`,
			map[string]string{"http://f.example/post": "", "http://i.example/f": ""}},
		// What a reader sees of a link written out in text is the link
		// itself (a defanged one as read: hxxp is http).
		{"text as written", `<p>see www.bank.com/p, or hxxp://evil[.]example/x</p>`,
			map[string]string{"http://www.bank.com/p": "www.bank.com/p", "http://evil.example/x": "http://evil.example/x"}},
		{"anchor text beats the written link", `<p>see http://t.example/p</p><a href="http://t.example/p">Sign in to PayPal</a>`,
			map[string]string{"http://t.example/p": "Sign in to PayPal"}},
		{"the written link does not replace an anchor", `<a href="http://t.example/p">Sign in to PayPal</a><p>see http://t.example/p</p>`,
			map[string]string{"http://t.example/p": "Sign in to PayPal"}},
		{"script links take the anchor text", `<a href="javascript:location='http://js.example/x'">click</a>`,
			map[string]string{"http://js.example/x": "click"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &filters.Message{
				Headers: []filters.Header{{Name: "Content-Type", Value: " text/html; charset=utf-8"}},
				Body:    filters.BytesBody(tt.html),
			}
			c, _ := New(DefaultConfig(), Deps{})
			if _, err := c.Run(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, u := range m.Facts.Content.URLs {
				got[u.URL] = u.Text
			}
			for u, want := range tt.want {
				text, ok := got[u]
				if !ok {
					t.Errorf("URL %s missing from %+v", u, m.Facts.Content.URLs)
					continue
				}
				if text != want {
					t.Errorf("Text of %s = %q, want %q", u, text, want)
				}
				if len(text) > maxLinkText {
					t.Errorf("Text of %s is %d bytes, cap %d", u, len(text), maxLinkText)
				}
			}
		})
	}
}

// TestLinkTextPlainFirst: a URL written in the plain alternative and
// linked in the HTML one takes the anchor's text.
func TestLinkTextPlainFirst(t *testing.T) {
	body := "--a\r\nContent-Type: text/plain\r\n\r\nlog in: http://a.example/x\r\n" +
		"--a\r\nContent-Type: text/html\r\n\r\n<a href=\"http://a.example/x\">Log in to Chase</a>\r\n--a--\r\n"
	r, err := Extract(context.Background(), DefaultConfig(), []filters.Header{{Name: "Content-Type", Value: " multipart/alternative; boundary=a"}}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Content.URLs) != 1 || r.Content.URLs[0].Text != "Log in to Chase" || r.Content.URLs[0].Source != SourceText {
		t.Errorf("URLs = %+v, want one, found in text, with the anchor's text", r.Content.URLs)
	}
}
