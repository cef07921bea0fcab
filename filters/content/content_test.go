package content

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		key    string
	}{
		{"parts", func(c *Config) { c.MaxParts = 0 }, "content.max_parts"},
		{"depth", func(c *Config) { c.MaxDepth = 1000 }, "content.max_depth"},
		{"part bytes", func(c *Config) { c.MaxPartBytes = 10 }, "content.max_part_bytes"},
		{"part over total", func(c *Config) { c.MaxPartBytes = c.MaxDecodedBytes + 1 }, "content.max_part_bytes"},
		{"urls", func(c *Config) { c.MaxURLs = -1 }, "content.max_urls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.key)
			}
			if _, err := New(c, Deps{}); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestDecoders(t *testing.T) {
	tests := []struct {
		name, cte, in, want string
	}{
		{"base64", "base64", "aGVsbG8g\r\nd29ybGQ=\r\n", "hello world"},
		{"base64 junk skipped", "base64", "aGVs!!bG8=\n", "hello"},
		{"base64 concatenated", "base64", "aGk=aGk=", "hihi"},
		{"base64 truncated", "base64", "aGVsbG", "hell"},
		{"qp", "quoted-printable", "caf=C3=A9 soft=\r\nbreak", "café softbreak"},
		{"qp lenient", "quoted-printable", "a=ZZb =4", "a=ZZb =4"},
		{"qp soft break with blanks", "quoted-printable", "a= \t\nb", "ab"},
		{"qp lowercase hex", "quoted-printable", "=e9", "\xe9"},
		{"identity", "8bit", "raw\xff", "raw\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newExtractor(context.Background(), DefaultConfig())
			got, err := io.ReadAll(x.decoder(tt.cte, strings.NewReader(tt.in)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("decode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHTMLSignals(t *testing.T) {
	long := strings.Repeat("buy cheap watches ", 5)
	tests := []struct {
		name, html string
		want       []string
		not        []string
	}{
		{"display none", `<p>hi</p><div style="display: none">` + long + `</div>`, []string{SymHiddenText}, nil},
		{"white on white", `<body bgcolor="white"><font color="#FFF">` + long + `</font></body>`, []string{SymHiddenText}, nil},
		{"white on dark is visible", `<table bgcolor="#000"><tr><td><font color="#fff">` + long + `</font></td></tr></table>`, nil, []string{SymHiddenText}},
		{"text over image is visible", `<table><tr><td background="http://i.example/b.png"><span style="color:#fff">` + long + `</span></td></tr></table>`, nil, []string{SymHiddenText}},
		{"zero font", `<span style="font-size:0pt">` + long + `</span>`, []string{SymHiddenText}, nil},
		{"mismatch", `<a href="http://evil.example/x">https://www.bank.example/</a>`, []string{SymPhishMismatch}, nil},
		{"mismatch to IP", `<a href="http://198.51.100.1/">www.bank.com</a>`, []string{SymPhishMismatch, SymURLIP}, nil},
		{"same domain", `<a href="https://login.bank.example/x">https://www.bank.example/</a>`, nil, []string{SymPhishMismatch}},
		{"brand name is not a URL", `<a href="http://click.tracker.example/1">news.com</a>`, nil, []string{SymPhishMismatch}},
		{"pixel", `<p>` + long + `</p><img src="http://t.example/o.gif" width="1" height="1">`, []string{SymTrackingPixel}, []string{SymImageHeavy}},
		{"image heavy", `<img src="http://i.example/big.jpg" width="600">`, []string{SymImageHeavy, SymHTMLOnly}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &filters.Message{
				Headers: []filters.Header{{Name: "Content-Type", Value: " text/html; charset=utf-8"}},
				Body:    filters.BytesBody(tt.html),
			}
			c, _ := New(DefaultConfig(), Deps{})
			syms, err := c.Run(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !hasSymbol(syms, w) {
					t.Errorf("missing %s in %v", w, syms)
				}
			}
			for _, n := range tt.not {
				if hasSymbol(syms, n) {
					t.Errorf("unexpected %s in %v", n, syms)
				}
			}
		})
	}
}

func TestRunWithoutBody(t *testing.T) {
	m := &filters.Message{
		Headers:       []filters.Header{{Name: "Subject", Value: " =?utf-8?q?visit_http://subject.example/?="}},
		BodyTruncated: true,
	}
	c, _ := New(DefaultConfig(), Deps{})
	if _, err := c.Run(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if len(m.Facts.Content.URLs) != 1 || m.Facts.Content.URLs[0].Host != "subject.example" {
		t.Errorf("URLs = %+v, want the one in the subject", m.Facts.Content.URLs)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &filters.Message{Body: filters.BytesBody("hello http://a.example.com/")}
	c, _ := New(DefaultConfig(), Deps{})
	if _, err := c.Run(ctx, m); err == nil {
		t.Fatal("Run on a cancelled context returned no error")
	}
}

func TestLimits(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("--x\r\n")
	for i := 0; i < 50; i++ {
		b.WriteString("Content-Type: text/plain\r\n\r\nhttp://p" + strings.Repeat("a", i%7) + ".example.com/\r\n--x\r\n")
	}
	cfg := DefaultConfig()
	cfg.MaxParts, cfg.MaxURLs = 10, 3
	r, err := Extract(context.Background(), cfg, []filters.Header{{Name: "Content-Type", Value: " multipart/mixed; boundary=x"}}, &b)
	if err != nil {
		t.Fatal(err)
	}
	if !hasSymbol(r.Symbols, SymLimitParts) || !hasSymbol(r.Symbols, SymLimitURLs) {
		t.Errorf("symbols %v, want %s and %s", names(r.Symbols), SymLimitParts, SymLimitURLs)
	}
	if r.Parts != cfg.MaxParts || len(r.Content.URLs) != 3 {
		t.Errorf("walked %d parts and kept %d URLs, want %d and 3", r.Parts, len(r.Content.URLs), cfg.MaxParts)
	}
}

func TestAlternativeText(t *testing.T) {
	body := "--m\r\nContent-Type: text/plain\r\n\r\nintro\r\n--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n" +
		"--a\r\nContent-Type: text/plain\r\n\r\nplain version http://plain.example.com/\r\n" +
		"--a\r\nContent-Type: text/html\r\n\r\n<p>html version <a href=\"http://html.example.com/\">x</a></p>\r\n--a--\r\n--m--\r\n"
	r, err := Extract(context.Background(), DefaultConfig(), []filters.Header{{Name: "Content-Type", Value: " multipart/mixed; boundary=m"}}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\nhtml version x"; r.Content.Text != want {
		t.Errorf("Text = %q, want %q (only the preferred alternative)", r.Content.Text, want)
	}
	if len(r.Content.URLs) != 2 {
		t.Errorf("URLs = %+v, want the links of both alternatives", r.Content.URLs)
	}
}

func TestHiddenTextKeptApart(t *testing.T) {
	html := `<p>Dear reader</p><div style="display:none">casino jackpot</div>` +
		`<body bgcolor="white"><font color="#fff">pills now</font></body><p>see you</p>`
	m := &filters.Message{
		Headers: []filters.Header{{Name: "Content-Type", Value: " text/html; charset=utf-8"}},
		Body:    filters.BytesBody(html),
	}
	c, _ := New(DefaultConfig(), Deps{})
	if _, err := c.Run(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := m.Facts.Content
	if got.HiddenText != "casino jackpot pills now" {
		t.Errorf("HiddenText = %q, want %q", got.HiddenText, "casino jackpot pills now")
	}
	for _, w := range []string{"casino", "pills"} {
		if strings.Contains(got.Text, w) {
			t.Errorf("visible Text %q contains hidden word %q", got.Text, w)
		}
	}
	if !strings.Contains(got.Text, "Dear reader") || !strings.Contains(got.Text, "see you") {
		t.Errorf("visible Text %q lost visible words", got.Text)
	}

	cfg := DefaultConfig()
	cfg.MaxTextBytes = 40 // hidden text keeps a quarter: 10 bytes
	c, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	m.Facts = filters.Facts{}
	if _, err := c.Run(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Facts.Content.HiddenText); n > 10 {
		t.Errorf("HiddenText %q is %d bytes, cap is 10", m.Facts.Content.HiddenText, n)
	}
}

// TestTextCapsExact: the visible and hidden text caps hold to the byte
// when many short pieces fill them (each piece adds a separator).
func TestTextCapsExact(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTextBytes = 1000
	c, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	html := strings.Repeat(`<p>visible words here</p><span style="display:none">casino jackpot</span>`, 400)
	m := &filters.Message{
		Headers: []filters.Header{{Name: "Content-Type", Value: " text/html; charset=utf-8"}},
		Body:    filters.BytesBody(html),
	}
	if _, err := c.Run(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Facts.Content.Text); n > 1000 || n < 900 {
		t.Errorf("Text is %d bytes, want close to and at most 1000", n)
	}
	if n := len(m.Facts.Content.HiddenText); n > 250 || n < 200 {
		t.Errorf("HiddenText is %d bytes, want close to and at most 250", n)
	}
}
