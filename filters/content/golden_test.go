package content

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// splitMessage splits a raw RFC 5322 message into header fields (as the
// milter hands them over) and body. A leading mbox "From " line is dropped.
func splitMessage(raw []byte) ([]filters.Header, []byte) {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	var hs []filters.Header
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		line := raw
		if i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(hs) > 0 {
			hs[len(hs)-1].Value += "\r\n" + string(line)
			continue
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		hs = append(hs, filters.Header{Name: name, Value: value})
	}
	return hs, raw
}

// golden is what a golden file records for one message.
type golden struct {
	URLs    []filters.URL   `json:"urls"`
	Images  []filters.Image `json:"images"`
	Domains []string        `json:"domains"`
	Symbols []string        `json:"symbols"`
	Text    string          `json:"text"`
}

// goldenExpectations are facts of each golden message, decided from the
// message and the standards rather than from the output (JSON fragments
// as the golden file writes them). Every golden message has some.
var goldenExpectations = map[string][]string{
	// =96 in a part labelled ISO-8859-1 is an en dash: the WHATWG label
	// table reads ISO-8859-1 as windows-1252, as mail clients show it.
	// A link written in text has itself as its text.
	"nested_rfc822": {`transféré – voir café.fr/menü`, `"text": "café.fr/menü"`, `"source": "html",
      "text": "deal"`, `"url": "http://attached.example/x"`},
	// Seven images are listed (a tracking pixel, an img with two srcset
	// alternatives, a table background, a CSS background in a style
	// attribute and one in a <style> rule no element uses); three of them
	// are shown. The javascript: link takes its anchor's text.
	"html_phish": {`CONTENT_IMAGE_HEAVY: 3 of 7 images shown`, `CONTENT_PHISH_MISMATCH: text shows bank.example, link goes to phish.example`,
		`"url": "https://js.example/x",
      "host": "js.example",
      "domain": "js.example",
      "source": "html",
      "text": "click"`, `"text": "https://www.bank.example/"`},
	// RFC 2045 §6.8: characters outside the base64 alphabet are ignored,
	// so "!!!junk###" decodes its four letters "junk" to three bytes, as
	// every mail client's decoder does (SpamAssassin and Thunderbird
	// included); they follow the anchor with no space, in an HTML part
	// that declares no charset (windows-1252 under the WHATWG table).
	// Dropping them instead would let a sender hide text from Vigil that
	// readers see. The QP errors are kept literally (§6.7 note 2).
	"broken": {`linkŽéä`, `Bad QP =ZZ and =4 then http://qp-broken.example/ok`, `"url": "http://never-closed.example/"`,
		`"url": "http://unknown-charset.example/page"`, `"source": "subject",
      "text": "http://subject.example/"`, `CONTENT_MIME_MALFORMED: base64 with 6 invalid bytes`},
	// A homograph host is listed in punycode; its text is what the
	// reader sees, with the Cyrillic letter.
	"plain":          {`"url": "https://www.xn--pypal-4ve.com/signin"`, `"text": "https://www.pаypal.com/signin"`, `"url": "http://192.168.1.1/x"`},
	"deep":           {`CONTENT_LIMIT_DEPTH`},
	"image_only":     {`CONTENT_IMAGE_HEAVY: 1 of 1 images shown`, `CONTENT_HTML_ONLY`},
	"no_boundary":    {`"url": "http://no-boundary.example/"`, `CONTENT_MIME_MALFORMED`},
	"related_images": {`CONTENT_IMAGE_HEAVY: 4 of 5 images shown`, `"src": "part:échantillon.gif"`, `"src": "cid:missing@letter.example"`},
	// Pictures: the inline banner, the data: logo and a GIF attached as
	// octet-stream are decoded and hashed; the bomb (a PNG header
	// claiming 100,000 × 100,000 pixels) keeps its SHA-256 only, and so
	// does the fifth picture, past content.max_hashed_images.
	"pictures": {`"src": "cid:banner@shop.example"`, `"width": 96,
      "height": 64,
      "phash": "9025fbd3a68290df"`, `"kind": "data"`, `"src": "part:photo.gif"`, `"src": "part:bomb.png",
      "size": 65,
      "sha256": "3536ec5c677e5b55df55b951f1c91492f056c356cf23a514fb36224bb73d978a"
    }`, `"src": "part:fifth.jpg",
      "size": 1940,
      "sha256": "6658acf7803d8be3c1f60a71f790f40447f375766c761fb4b8723e5586ceb1bc"
    }`, `CONTENT_IMAGE_HEAVY: 3 of 6 images shown`},
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.eml: %v", err)
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".eml"); len(goldenExpectations[name]) == 0 {
			t.Errorf("%s has no goldenExpectations: write down what the message must give", name)
		}
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			hs, body := splitMessage(raw)
			c, err := New(pictureConfig(), Deps{})
			if err != nil {
				t.Fatal(err)
			}
			m := &filters.Message{Headers: hs, Body: filters.BytesBody(body)}
			syms, err := c.Run(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			g := golden{URLs: m.Facts.Content.URLs, Images: m.Facts.Content.Images, Domains: m.Facts.Content.Domains, Text: m.Facts.Content.Text}
			for _, s := range syms {
				g.Symbols = append(g.Symbols, s.Name+": "+s.Detail)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(g); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			// What the message must show, written by hand: a golden file
			// rewritten with -update cannot contradict it.
			for _, e := range goldenExpectations[name] {
				if !strings.Contains(string(got), e) {
					t.Errorf("%s: the result lacks %s, which the message must give:\n%s", name, e, got)
				}
			}
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
			}
		})
	}
}
