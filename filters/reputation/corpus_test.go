package reputation

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

type corpusMessage struct {
	Name  string // e.g. spam/00001.7848dde101aa985090474a91ec93fcf0
	Group string // easy_ham, easy_ham_2, hard_ham, spam, spam_2
	Spam  bool
	Raw   []byte // without the mbox From_ line
}

var (
	corpusOnce sync.Once
	corpusMsgs []corpusMessage
	corpusErr  error
)

// findTestdata walks up from the package directory to the directory holding
// shared/testdata (the repo's sibling "shared").
func findTestdata(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		for _, cand := range []string{filepath.Join(dir, "shared", "testdata"), filepath.Join(dir, "..", "shared", "testdata")} {
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// corpus loads the SpamAssassin public corpus from its tarball, or skips.
func corpus(t testing.TB) []corpusMessage {
	td := findTestdata(t)
	if td == "" {
		t.Skip("shared/testdata not found; skipping corpus test")
	}
	path := filepath.Join(td, "corpus-spamassassin", "spamassassin-public-corpus.tar.gz")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("SpamAssassin corpus missing (%v); skipping", err)
	}
	corpusOnce.Do(func() { corpusMsgs, corpusErr = loadCorpus(path) })
	if corpusErr != nil {
		t.Fatalf("loading corpus: %v", corpusErr)
	}
	return corpusMsgs
}

func loadCorpus(path string) ([]corpusMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	var out []corpusMessage
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		parts := strings.Split(strings.TrimPrefix(h.Name, "./"), "/")
		if h.Typeflag != tar.TypeReg || len(parts) != 3 || parts[0] != "spamassassin" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		var msg []byte
		if err := ReadMbox(bytes.NewReader(data), h.Name, func(r RawMessage) error {
			if msg == nil {
				msg = r.Data
			}
			return nil
		}); err != nil {
			msg = data
		}
		out = append(out, corpusMessage{
			Name: parts[1] + "/" + parts[2], Group: parts[1],
			Spam: strings.HasPrefix(parts[1], "spam"), Raw: msg,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

var (
	tagRE   = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)
	urlRE   = regexp.MustCompile(`(?i)\bhttps?://([a-z0-9][a-z0-9.-]*[a-z0-9])`)
	twoPart = map[string]bool{"co.uk": true, "com.au": true, "co.jp": true, "com.br": true, "co.kr": true, "co.nz": true, "com.cn": true, "org.uk": true, "ac.uk": true, "net.au": true, "co.za": true}
)

// corpusText is a stand-in for the content check in tests: the decoded
// text/plain parts and tag-stripped text/html parts.
func corpusText(raw []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return string(raw)
	}
	var b strings.Builder
	walkPart(textprotoHeader(msg.Header), msg.Body, &b, 0)
	return b.String()
}

type partHeader interface{ Get(string) string }

func textprotoHeader(h mail.Header) partHeader { return h }

func walkPart(h partHeader, body io.Reader, b *strings.Builder, depth int) {
	if depth > 5 {
		return
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walkPart(p.Header, p, b, depth+1)
		}
	}
	if mt != "text/plain" && mt != "text/html" {
		return
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	data, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	s := string(data)
	if mt == "text/html" {
		s = html.UnescapeString(tagRE.ReplaceAllString(s, " "))
	}
	b.WriteString(s)
	b.WriteString("\n")
}

// corpusDomains is a crude stand-in for URL extraction: hosts of http(s)
// URLs reduced to their last two labels (three under a few ccSLDs).
func corpusDomains(text string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range urlRE.FindAllStringSubmatch(text, 50) {
		labels := strings.Split(strings.ToLower(m[1]), ".")
		if len(labels) < 2 {
			continue
		}
		n := 2
		if len(labels) >= 3 && twoPart[strings.Join(labels[len(labels)-2:], ".")] {
			n = 3
		}
		d := strings.Join(labels[len(labels)-n:], ".")
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}
