package content

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigilmail/vigil/filters"
)

// FuzzMIME feeds whole messages (header block and body) to Extract.
func FuzzMIME(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=x\n\n--x\n"))
	f.Add([]byte("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n====aGk=\n"))
	cfg := DefaultConfig()
	cfg.MaxParts, cfg.MaxPartBytes, cfg.MaxDecodedBytes = 64, 64<<10, 256<<10
	f.Fuzz(func(t *testing.T, raw []byte) {
		hs, body := splitMessage(raw)
		r, err := Extract(context.Background(), cfg, hs, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, cfg, r)
	})
}

// FuzzHTML feeds arbitrary HTML to the HTML extractor.
func FuzzHTML(f *testing.F) {
	for _, s := range []string{
		`<a href="http://a.example/">http://b.example/</a>`,
		`<div style="display:none">x</div><img src="cid:a" srcset="http://x.example/a 2x, data:image/png;base64,AAAA">`,
		`<style>a{background:url("//c.example/i.png")}</style><noscript><a href=//n.example>n</a></noscript>`,
		`<meta http-equiv=refresh content="0;url=http://r.example/"><base href="http://base.example/d/"><a href="rel">x</a>`,
		`<table bgcolor=#fff><tr><td><font color=white>hidden</font></td></tr></table>`,
	} {
		f.Add([]byte(s))
	}
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, b []byte) {
		x := newExtractor(context.Background(), cfg)
		x.hasHTML = true
		x.html(b, true)
		checkResult(t, cfg, x.finish())
	})
}

func checkResult(t *testing.T, cfg Config, r *Result) {
	t.Helper()
	c := r.Content
	if len(c.URLs) > cfg.MaxURLs || len(c.Images) > cfg.MaxImages || len(c.Text) > cfg.MaxTextBytes {
		t.Fatalf("caps exceeded: %d URLs, %d images, %d text bytes", len(c.URLs), len(c.Images), len(c.Text))
	}
	if !utf8.ValidString(c.Text) {
		t.Fatalf("text is not UTF-8: %q", c.Text)
	}
	if len(c.HiddenText) > cfg.MaxTextBytes/4 || !utf8.ValidString(c.HiddenText) {
		t.Fatalf("hidden text over its cap or not UTF-8: %d bytes %q", len(c.HiddenText), c.HiddenText)
	}
	for i := 1; i < len(c.Domains); i++ {
		if c.Domains[i-1] >= c.Domains[i] {
			t.Fatalf("domains not sorted and unique: %q", c.Domains)
		}
	}
	for _, u := range c.URLs {
		if u.URL == "" || u.Host == "" {
			t.Fatalf("empty URL fields: %+v", u)
		}
	}
	_ = filters.Content{}
}
