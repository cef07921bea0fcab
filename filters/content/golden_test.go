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

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.eml: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			hs, body := splitMessage(raw)
			c, err := New(DefaultConfig(), Deps{})
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
