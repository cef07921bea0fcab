package reputation

import (
	"bytes"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/sharedtest"
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
)

// corpus is the SpamAssassin public corpus without the mbox From_ lines,
// or skips.
func corpus(t testing.TB) []corpusMessage {
	shared := sharedtest.SpamAssassin(t)
	corpusOnce.Do(func() {
		for _, cm := range shared {
			var msg []byte
			err := feedback.ReadMbox(bytes.NewReader(cm.Raw), cm.Name, func(r feedback.RawMessage) error {
				if msg == nil {
					msg = r.Data
				}
				return nil
			})
			if err != nil || msg == nil {
				msg = cm.Raw
			}
			corpusMsgs = append(corpusMsgs, corpusMessage{Name: cm.Name, Group: cm.Group, Spam: cm.Spam, Raw: msg})
		}
	})
	return corpusMsgs
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
		r = feedback.Base64Reader(body)
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
