package content

import (
	"bytes"
	"io"
	"strings"

	"golang.org/x/net/html"
)

// partTail is the rest of a text part past what readText kept: the
// decoded (transfer encoding undone) stream and how to read it.
type partTail struct {
	r    io.Reader
	cs   string
	html bool
}

// Tail scanning reads the rest of a part in windows of at most
// tailWindow bytes, each cut where no link can be running: at the last
// white space (text) or the last '>' (HTML) within tailCutSearch bytes of
// the window's end, so that a link is never split between two windows.
// Memory is the window, whatever the size of the part; time is linear in
// it, and the message size limit and the check's deadline bound both.
const (
	tailWindow    = 256 << 10
	tailCutSearch = 64 << 10
)

// scanTail finds the links in the rest of a part (nil: none): URLs in
// text, and in HTML the attributes that carry them (href, src, action,
// background, poster, meta refresh) and the links written in its text. It
// keeps no text and reports no HTML signals: those come from the part's
// head, which is what a reader sees first.
func (x *extractor) scanTail(t *partTail) {
	if t == nil {
		return
	}
	buf := make([]byte, tailWindow)
	fill := 0
	eof := false
	for !eof || fill > 0 {
		if x.ctx.Err() != nil {
			x.stopped = true
			return
		}
		for fill < len(buf) && !eof {
			n, err := t.r.Read(buf[fill:])
			fill += n
			if err != nil {
				eof = true
			}
		}
		cut := fill
		if !eof {
			cut = tailCut(buf[:fill], t.html)
		}
		win := toUTF8(buf[:cut], t.cs)
		if t.html {
			x.tailHTML(win)
		} else {
			x.links(string(win), SourceText, "")
		}
		fill = copy(buf, buf[cut:fill])
	}
}

// tailCut returns where to end a full window: after the last '>' (HTML)
// or white space (text) in its last tailCutSearch bytes, or at its end
// when there is none (a hostile run without either, which then may split
// one link).
func tailCut(b []byte, isHTML bool) int {
	lo := max(0, len(b)-tailCutSearch)
	var i int
	if isHTML {
		i = bytes.LastIndexByte(b[lo:], '>')
	} else {
		i = bytes.LastIndexAny(b[lo:], " \t\r\n")
	}
	if i < 0 {
		return len(b)
	}
	return lo + i + 1
}

// tailAttrs are the attributes whose values are URLs a reader's client
// follows or fetches.
var tailAttrs = map[string]string{
	"href": SourceHTML, "src": SourceHTML, "action": SourceForm, "background": SourceHTML, "poster": SourceHTML,
}

// tailHTML reads one window of HTML with the tokenizer (no tree: the
// window is a fragment) for link attributes and links in text.
func (x *extractor) tailHTML(b []byte) {
	z := html.NewTokenizer(bytes.NewReader(b))
	z.SetMaxBuf(len(b) + 1)
	for {
		switch z.Next() {
		case html.ErrorToken:
			return
		case html.TextToken:
			x.links(string(z.Text()), SourceText, "")
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			refresh := false
			var content string
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				key := string(k)
				if src, ok := tailAttrs[key]; ok {
					x.addRaw(string(v), src, "")
				}
				if string(name) == "meta" {
					switch key {
					case "http-equiv":
						refresh = strings.EqualFold(strings.TrimSpace(string(v)), "refresh")
					case "content":
						content = string(v)
					}
				}
			}
			if refresh {
				if _, target, ok := strings.Cut(content, "="); ok {
					x.addRaw(strings.Trim(strings.TrimSpace(target), `'"`), SourceMetaRefresh, "")
				}
			}
		}
	}
}
