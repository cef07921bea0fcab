package content

import (
	"context"
	"encoding/base64"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// generatedBody is a Body whose bytes are produced on demand, so a test can
// feed a 30 MB message without holding it in memory itself.
type generatedBody struct {
	parts []func() io.Reader
	size  int64
}

func (g generatedBody) Reader() io.Reader {
	rs := make([]io.Reader, len(g.parts))
	for i, p := range g.parts {
		rs[i] = p()
	}
	return io.MultiReader(rs...)
}
func (g generatedBody) Size() int64 { return g.size }

// repeatReader yields s repeatedly until n bytes were produced.
type repeatReader struct {
	s   string
	off int
	n   int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	w := 0
	for w < len(p) && r.n > 0 {
		c := copy(p[w:min(len(p), w+int(min(r.n, int64(len(r.s)-r.off))))], r.s[r.off:])
		w += c
		r.n -= int64(c)
		r.off = (r.off + c) % len(r.s)
	}
	return w, nil
}

// bigMessage builds a message of about size bytes: a large plain text
// part with links, a large HTML part (a sixth each), and a base64 image
// filling the rest.
func bigMessage(size int64) generatedBody {
	line := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x89PNG binary-ish image data ", 3)))[:76] + "\r\n"
	textLine := "Spam spam http://spam.example/buy?id=1 and www.more-spam.example, again.\r\n"
	htmlLine := `<p style="color:#000">Offer <a href="https://html-spam.example/x">here</a> <img src="https://img.example/p.gif" width=1 height=1></p>` + "\r\n"
	third := size / 6
	g := generatedBody{size: size}
	g.parts = []func() io.Reader{
		func() io.Reader {
			return strings.NewReader("--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
		},
		func() io.Reader { return &repeatReader{s: textLine, n: third} },
		func() io.Reader {
			return strings.NewReader("\r\n--BIG\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
		},
		func() io.Reader { return &repeatReader{s: htmlLine, n: third} },
		func() io.Reader {
			return strings.NewReader("</body></html>\r\n--BIG\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <big@x>\r\n\r\n")
		},
		func() io.Reader { return &repeatReader{s: line, n: size - 2*third} },
		func() io.Reader { return strings.NewReader("\r\n--BIG--\r\n") },
	}
	return g
}

// TestBigMessageBoundedMemory runs the check on a 30 MB message streamed
// from a generator and asserts the peak heap stays far below the message
// size: the caps, not the message, decide the memory.
func TestBigMessageBoundedMemory(t *testing.T) {
	const size = 30 << 20
	body := bigMessage(size)
	m := &filters.Message{
		Headers: bigHeaders(),
		Body:    body,
		Size:    size,
	}
	c, err := New(DefaultConfig(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sampler := startHeapSampler()
	start := time.Now()
	syms, err := c.Run(context.Background(), m)
	elapsed := time.Since(start)
	peak := sampler.Stop()
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("30 MB message: %v, peak heap growth %.1f MiB, allocated %.1f MiB in total, %d URLs, %d images, symbols %v",
		elapsed, float64(growth)/(1<<20), float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), len(m.Facts.Content.URLs), len(m.Facts.Content.Images), names(syms))
	// 1 MiB of text and 1 MiB of HTML are kept and parsed; the HTML tree
	// costs a multiple of that. 64 MiB leaves room for the GC's lag while
	// still failing if the message were buffered (30 MB, decoded ~2x).
	if growth > 64<<20 {
		t.Errorf("peak heap grew by %d MiB for a %d MiB message", growth>>20, size>>20)
	}
	if !hasSymbol(syms, SymLimitSize) {
		t.Errorf("no %s for parts over the caps: %v", SymLimitSize, names(syms))
	}
	if len(m.Facts.Content.URLs) == 0 || len(m.Facts.Content.Images) == 0 {
		t.Errorf("nothing extracted: %+v", m.Facts.Content)
	}
	// The 15 MB image is over max_image_bytes: listed, not hashed.
	var big *filters.Image
	for i, img := range m.Facts.Content.Images {
		if img.Src == "cid:big@x" {
			big = &m.Facts.Content.Images[i]
		}
	}
	if big == nil || big.SHA256 != "" || big.Size != 0 {
		t.Errorf("big image: %+v, want listed without hash and size", big)
	}
}

func bigHeaders() []filters.Header {
	return []filters.Header{{Name: "Content-Type", Value: ` multipart/mixed; boundary="BIG"`}, {Name: "Subject", Value: " big"}}
}

func names(syms []filters.Symbol) []string {
	var out []string
	for _, s := range syms {
		out = append(out, s.Name)
	}
	return out
}

func hasSymbol(syms []filters.Symbol, name string) bool {
	for _, s := range syms {
		if s.Name == name {
			return true
		}
	}
	return false
}

// TestHeaderBomb: a part whose header is 16 MB of folded lines must not be
// buffered whole, and the parts after it must still be read.
func TestHeaderBomb(t *testing.T) {
	for _, tt := range []struct {
		name string
		fold string
	}{{"folded", "X-Junk: a\r\n"}, {"one line", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}} {
		t.Run(tt.name, func(t *testing.T) {
			const bomb = 16 << 20
			g := generatedBody{size: bomb}
			g.parts = []func() io.Reader{
				func() io.Reader { return strings.NewReader("--B\r\nContent-Type: text/plain\r\nX-Bomb: x\r\n") },
				func() io.Reader { return &repeatReader{s: " " + tt.fold, n: bomb} },
				func() io.Reader {
					return strings.NewReader("\r\n\r\nbody one\r\n--B\r\nContent-Type: text/plain\r\n\r\nafter the bomb http://after-bomb.example.com/\r\n--B--\r\n")
				},
			}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			sampler := startHeapSampler()
			r, err := Extract(context.Background(), DefaultConfig(), []filters.Header{{Name: "Content-Type", Value: " multipart/mixed; boundary=B"}}, g.Reader())
			peak := sampler.Stop()
			if err != nil {
				t.Fatal(err)
			}
			growth := int64(peak) - int64(before.HeapInuse)
			t.Logf("%d MiB header: peak heap growth %.1f MiB, symbols %v", bomb>>20, float64(growth)/(1<<20), names(r.Symbols))
			// What remains is the caps' cost (max_part_bytes of text read
			// from the cut-off header), not the bomb's.
			if growth > 12<<20 {
				t.Errorf("peak heap grew by %d MiB", growth>>20)
			}
			found := false
			for _, u := range r.Content.URLs {
				found = found || u.Host == "after-bomb.example.com"
			}
			if !found {
				t.Errorf("part after the bomb not read: %+v", r.Content.URLs)
			}
			if !hasSymbol(r.Symbols, SymMIMEMalformed) {
				t.Errorf("no %s: %v", SymMIMEMalformed, names(r.Symbols))
			}
		})
	}
}

// TestLinkPastTheCaps: a link is found however far into a part it sits.
// Padding hides nothing: past max_part_bytes (the part's head, which is
// parsed) the part is scanned for links in windows, and past
// max_decoded_bytes (the whole message's budget) the parts that follow
// are still scanned.
func TestLinkPastTheCaps(t *testing.T) {
	pad := func(s string, n int64) func() io.Reader { return func() io.Reader { return &repeatReader{s: s, n: n} } }
	str := func(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }
	tests := []struct {
		name  string
		parts []func() io.Reader
		want  []string // hosts that must be found
	}{
		{"text part, link after 3 MiB", []func() io.Reader{
			str("--B\r\nContent-Type: text/plain\r\n\r\n"), pad("padding padding padding\r\n", 3<<20),
			str("the only link: https://hidden-text.example.com/login\r\n--B--\r\n"),
		}, []string{"hidden-text.example.com"}},
		{"html part, anchor and form after 3 MiB", []func() io.Reader{
			str("--B\r\nContent-Type: text/html\r\n\r\n<html><body>"), pad("<p>padding &nbsp; padding</p>\r\n", 3<<20),
			str(`<a href="https://hidden-html.example.com/x?a=1&amp;b=2">Sign in</a><form action="https://post.example.net/p"></form> and www.text-link.example.org` + "\r\n</body></html>\r\n--B--\r\n"),
		}, []string{"hidden-html.example.com", "post.example.net", "www.text-link.example.org"}},
		{"base64 html, one line without white space", []func() io.Reader{
			str("--B\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
			func() io.Reader {
				raw := strings.Repeat("<b>x</b>", (2<<20)/8) + `<a href="https://b64.example.com/">go</a>`
				return strings.NewReader(base64.StdEncoding.EncodeToString([]byte(raw)))
			},
			str("\r\n--B--\r\n"),
		}, []string{"b64.example.com"}},
		{"part after the message budget", []func() io.Reader{
			str("--B\r\nContent-Type: text/plain\r\n\r\n"), pad("padding padding padding\r\n", 34<<20),
			str("\r\n--B\r\nContent-Type: text/plain\r\n\r\nlast part https://after-budget.example.com/\r\n--B--\r\n"),
		}, []string{"after-budget.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := generatedBody{parts: tt.parts}
			r, err := Extract(context.Background(), DefaultConfig(), []filters.Header{{Name: "Content-Type", Value: " multipart/mixed; boundary=B"}}, g.Reader())
			if err != nil {
				t.Fatal(err)
			}
			hosts := map[string]string{}
			for _, u := range r.Content.URLs {
				hosts[u.Host] = u.URL
			}
			for _, h := range tt.want {
				if _, ok := hosts[h]; !ok {
					t.Errorf("%s not found; URLs %v", h, hosts)
				}
			}
			if u := hosts["hidden-html.example.com"]; u != "" && u != "https://hidden-html.example.com/x?a=1&b=2" {
				t.Errorf("entity not decoded in the tail: %s", u)
			}
			if !hasSymbol(r.Symbols, SymLimitSize) {
				t.Errorf("no %s: %v", SymLimitSize, names(r.Symbols))
			}
		})
	}
}
