package content

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/urlcheck"
)

// maxHTMLDepth bounds the element nesting the text walk follows; deeper
// subtrees (only hostile mail has them) are not read for text.
const maxHTMLDepth = 256

// html extracts links, images and visible text from one HTML part. shown is
// false for HTML attachments: their links count, their text and signals do
// not (the reader does not see them without opening the file).
func (x *extractor) html(b []byte, shown bool) {
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	// Scripting off, as in a mail client: <noscript> content is parsed as
	// markup, so its links are seen (HTML §13.2.5.4.4 "in head noscript").
	root, err := html.ParseWithOptions(bytes.NewReader(b), html.ParseOptionEnableScripting(false))
	if err != nil {
		x.bad("html: " + err.Error())
		return
	}
	doc := goquery.NewDocumentFromNode(root)
	var base *url.URL
	if v, ok := doc.Find("base[href]").First().Attr("href"); ok {
		if u, err := url.Parse(strings.TrimSpace(v)); err == nil && u.IsAbs() {
			base = u
		}
	}
	resolve := func(raw string) string {
		raw = strings.TrimSpace(raw)
		if base == nil || raw == "" {
			return raw
		}
		if r, err := url.Parse(raw); err == nil && !r.IsAbs() && !strings.HasPrefix(raw, "//") {
			return base.ResolveReference(r).String()
		}
		return raw
	}

	x.forms(doc, resolve)
	doc.Find("a[href], area[href]").Each(func(_ int, s *goquery.Selection) {
		href, _ := s.Attr("href")
		if shown {
			x.activeLink(href, anchorText(s.Get(0)))
		}
		u, ok := x.addRaw(resolve(href), SourceHTML, anchorText(s.Get(0)))
		if ok && shown {
			x.checkAnchor(s, u)
		}
	})
	doc.Find("form[action]").Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("action")
		x.addRaw(resolve(v), SourceForm, "")
	})
	doc.Find("iframe[src], frame[src], embed[src], script[src], link[href]").Each(func(_ int, s *goquery.Selection) {
		v, ok := s.Attr("src")
		if !ok {
			v, _ = s.Attr("href")
		}
		x.addRaw(resolve(v), SourceHTML, "")
	})
	doc.Find("meta[http-equiv][content]").Each(func(_ int, s *goquery.Selection) {
		if he, _ := s.Attr("http-equiv"); !strings.EqualFold(strings.TrimSpace(he), "refresh") {
			return
		}
		v, _ := s.Attr("content")
		if i := strings.Index(strings.ToLower(v), "url="); i >= 0 {
			x.addRaw(resolve(strings.Trim(strings.TrimSpace(v[i+4:]), `'"`)), SourceMetaRefresh, "")
		}
	})
	doc.Find("img, input[type=image], video[poster]").Each(func(_ int, s *goquery.Selection) {
		srcs := []string{}
		for _, a := range []string{"src", "poster"} {
			if v, ok := s.Attr(a); ok && strings.TrimSpace(v) != "" {
				srcs = append(srcs, v)
			}
		}
		if v, ok := s.Attr("srcset"); ok {
			srcs = append(srcs, srcsetURLs(v)...)
		}
		pixel := isPixel(s)
		for i, src := range srcs {
			x.imageRef(resolve(src), "remote", shown && !pixel && i == 0, pixel)
		}
	})
	doc.Find("[background]").Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("background")
		x.imageRef(resolve(v), "remote", shown, false)
	})
	doc.Find("[style]").Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("style")
		for _, u := range cssURLs(v) {
			x.imageRef(resolve(u), "css", shown, false)
		}
	})
	styled := false
	doc.Find("style").Each(func(_ int, s *goquery.Selection) {
		styled = true
		for _, u := range cssURLs(s.Text()) {
			x.imageRef(resolve(u), "css", false, false)
		}
	})

	var out, free strings.Builder
	w := textWalker{x: x, out: &out, free: &free, classStyles: styled, shown: shown}
	w.walk(root, style{}, 0)
	if shown {
		x.keepText(collapseSpace(out.String()))
	}
	// Links written in the text count, except an anchor's own text: it is
	// not where the click goes (checkAnchor compares the two).
	x.text(collapseSpace(free.String()), SourceText, false)
}

// imageRef records an image reference by kind; shown counts it towards
// the image-heavy signal, pixel towards tracking pixels.
func (x *extractor) imageRef(src, kind string, shown, pixel bool) {
	src = strings.TrimSpace(src)
	lower := strings.ToLower(src[:min(len(src), 5)])
	switch {
	case src == "":
		return
	case strings.HasPrefix(lower, "cid:"):
		// RFC 2392: the cid URL is the percent-encoded Content-ID.
		x.addImage(filters.Image{Kind: "inline", Src: "cid:" + strings.Trim(percentDecodeLoose(src[4:]), "<>")})
	case strings.HasPrefix(lower, "data:"):
		x.addImage(x.dataImage(src))
	default:
		if strings.HasPrefix(src, "//") {
			src = "http:" + src
		}
		u, err := urlcheck.Normalize(src)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return
		}
		x.addImage(filters.Image{Kind: kind, Src: u.String, Host: u.Host})
		if pixel {
			x.pixels++
		}
	}
	if shown {
		x.shownImages++
	}
}

// dataImage decodes an RFC 2397 data: URI. Src keeps only the media type,
// not the payload; the hashes identify the bytes.
func (x *extractor) dataImage(src string) filters.Image {
	head, payload, _ := strings.Cut(src, ",")
	img := filters.Image{Kind: "data", Src: strings.ToLower(strings.ReplaceAll(head, " ", ""))}
	var r io.Reader = strings.NewReader(percentDecodeLoose(payload))
	if strings.HasSuffix(img.Src, ";base64") {
		r = &base64Reader{r: r}
	}
	rp := x.readPicture(r)
	defer rp.release()
	img.Size = rp.n
	img.SHA256 = hex.EncodeToString(rp.sum[:])
	if _, seen := x.imgSeen[imageKey(img)]; !seen && rp.kept != nil {
		x.picture(&img, rp.kept.Bytes(), rp.sum)
	}
	return img
}

// srcsetURLs returns the URLs of an img srcset (HTML §4.8.4.3.1): comma
// separated candidates, each a URL and an optional descriptor.
func srcsetURLs(v string) []string {
	var out []string
	for _, c := range strings.Split(v, ",") {
		if f := strings.Fields(c); len(f) > 0 && len(out) < 16 {
			out = append(out, f[0])
		}
	}
	return out
}

// cssURLs returns the url(...) references of a style sheet or a style
// attribute, in one linear pass.
func cssURLs(css string) []string {
	var out []string
	lower := strings.ToLower(css)
	for i := 0; len(out) < 64; {
		j := strings.Index(lower[i:], "url(")
		if j < 0 {
			break
		}
		start := i + j + 4
		end := strings.IndexByte(css[start:], ')')
		if end < 0 {
			break
		}
		u := strings.Trim(strings.TrimSpace(css[start:start+end]), `'"`)
		if u != "" {
			out = append(out, u)
		}
		i = start + end + 1
	}
	return out
}

// isPixel reports an image rendered at most 2x2 pixels or not at all: the
// shape of a tracking beacon.
func isPixel(s *goquery.Selection) bool {
	decl := parseStyle(s.AttrOr("style", ""))
	if decl["display"] == "none" || decl["visibility"] == "hidden" {
		return true
	}
	w := dimension(s.AttrOr("width", decl["width"]))
	h := dimension(s.AttrOr("height", decl["height"]))
	return w >= 0 && h >= 0 && w <= 2 && h <= 2
}

// dimension parses "1", "1px", " 0 " and returns -1 when unknown.
func dimension(v string) int {
	v = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v)), "px")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return -1
	}
	return n
}

// maxLinkText caps filters.URL.Text, in bytes.
const maxLinkText = 200

// anchorText returns the visible text of an <a> element, or the alt text
// of an <area> (HTML §4.8.14: the alt of an area with href is its link
// text). A link with no text but an image says what the image's alt says.
// Whitespace is collapsed; hidden subtrees, script and style are skipped;
// the result is valid UTF-8 of at most maxLinkText bytes.
func anchorText(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	if n.DataAtom == atom.Area {
		b.WriteString(attr(n, "alt"))
	} else {
		var alt string
		var walk func(*html.Node, int)
		walk = func(n *html.Node, depth int) {
			if depth >= maxHTMLDepth || b.Len() > 4*maxLinkText {
				return
			}
			switch n.Type {
			case html.TextNode:
				b.WriteString(n.Data)
				return
			case html.ElementNode:
				switch n.DataAtom {
				case atom.Script, atom.Style, atom.Template:
					return
				case atom.Img:
					if alt == "" {
						alt = attr(n, "alt")
					}
				}
				if hiddenElement(n) {
					return
				}
			}
			// Inline elements join their text ("Pay<b>Pal</b>"); block
			// ones and line breaks separate it.
			sep := n.Type == html.ElementNode && (isBlock(n.DataAtom) || n.DataAtom == atom.Br || n.DataAtom == atom.Td)
			if sep {
				b.WriteByte(' ')
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, depth+1)
			}
			if sep {
				b.WriteByte(' ')
			}
		}
		walk(n, 0)
		if strings.TrimSpace(b.String()) == "" {
			b.Reset()
			b.WriteString(alt)
		}
	}
	// Invisible format and control characters (zero-width spaces and
	// joiners, bidi controls) render nothing: drop them, so "Pay\u200bPal"
	// reads as the reader sees it.
	text := strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) || (unicode.IsControl(r) && !unicode.IsSpace(r)) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(b.String(), ""))
	return capText(strings.Join(strings.Fields(text), " "), maxLinkText)
}

// hiddenElement reports an element that renders nothing, by the same
// attribute and inline-style rules as the text walk.
func hiddenElement(n *html.Node) bool {
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "hidden":
			return true
		case "style":
			d := parseStyle(a.Val)
			if d["display"] == "none" || d["visibility"] == "hidden" || isZero(d["font-size"]) || isZero(d["opacity"]) {
				return true
			}
		}
	}
	return false
}

// capText cuts s to at most n bytes at a rune boundary.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strings.TrimSpace(s[:i])
}

// checkAnchor reports an anchor whose visible text shows a URL or domain
// whose registrable domain differs from where the link goes (the classic
// <a href="http://evil.example">https://www.bank.example</a>).
func (x *extractor) checkAnchor(s *goquery.Selection, u urlcheck.URL) {
	if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "mailto" {
		return
	}
	text := strings.TrimSpace(s.Text())
	if text == "" || len(text) > 512 {
		return
	}
	found := urlcheck.ExtractTextLimit(text, 4)
	if len(found) == 0 {
		return
	}
	// Only text that looks like an address to click counts: a scheme or a
	// www. host. Newsletters routinely link a brand name ("news.com") to
	// their click tracker, which is not what a phisher shows.
	if f := found[0]; f.Kind != urlcheck.KindURL && !strings.HasPrefix(strings.ToLower(f.Text), "www.") {
		return
	}
	shown := found[0].URL
	shownKey := shown.Domain
	if shownKey == "" {
		shownKey = shown.Host
	}
	if shownKey == "" {
		return
	}
	targets := map[string]bool{u.Domain: true, u.Host: true}
	for _, hop := range urlcheck.Unwrap(u) {
		targets[hop.Domain], targets[hop.Host] = true, true
	}
	if targets[shownKey] {
		return
	}
	if len(x.mismatches) < 3 {
		to := u.Domain
		if to == "" {
			to = u.Host
		}
		x.mismatches = append(x.mismatches, fmt.Sprintf("text shows %s, link goes to %s", shownKey, to))
	}
}

// style is the inherited rendering state the text walk tracks.
type style struct {
	hidden string // why the subtree is invisible, "" when visible
	color  string // normalised text colour, "" when not set
	bg     string // normalised background colour, "" when not set
	link   bool   // inside <a href>
}

type textWalker struct {
	x *extractor
	// out gets all visible text; free only the text outside links.
	out, free *strings.Builder
	// classStyles is true when the document has <style> blocks, whose
	// class rules this walk does not evaluate: then only explicitly known
	// colours are compared, never the default white background.
	classStyles bool
	shown       bool
}

func (w *textWalker) walk(n *html.Node, st style, depth int) {
	switch n.Type {
	case html.TextNode:
		w.textNode(n.Data, st)
		return
	case html.ElementNode:
		switch n.DataAtom {
		case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template:
			return
		}
		st = w.elementStyle(n, st)
	case html.DocumentNode:
	default:
		return
	}
	if depth >= maxHTMLDepth {
		return
	}
	block := isBlock(n.DataAtom)
	if block {
		w.newline()
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c, st, depth+1)
	}
	if block || n.DataAtom == atom.Br || n.DataAtom == atom.Td {
		w.newline()
	}
}

func (w *textWalker) newline() {
	w.out.WriteByte('\n')
	w.free.WriteByte('\n')
}

func (w *textWalker) textNode(s string, st style) {
	why := st.hidden
	if why == "" {
		color, bg := st.color, st.bg
		if bg == "" && !w.classStyles {
			bg = "#ffffff" // the reader's default canvas
		}
		if color != "" && color == bg {
			why = "text colour equals background"
		}
	}
	if why == "" {
		if w.out.Len() < 4*w.x.cfg.MaxTextBytes {
			w.out.WriteString(s)
		}
		if !st.link && w.free.Len() < 4*w.x.cfg.MaxTextBytes {
			w.free.WriteString(s)
		} else if st.link {
			w.free.WriteByte(' ')
		}
		return
	}
	if !w.shown {
		return
	}
	n := 0
	for _, r := range s {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	if n > 0 {
		w.x.hidden += n
		w.x.hiddenWhy[why] = true
		w.x.keepHidden(collapseSpace(s))
	}
}

func (w *textWalker) elementStyle(n *html.Node, st style) style {
	if (n.DataAtom == atom.A || n.DataAtom == atom.Area) && attr(n, "href") != "" {
		st.link = true
	}
	if n.DataAtom == atom.Table {
		// Mail HTML renders in quirks mode, where tables do not inherit the
		// text colour of an enclosing <font> (HTML §15.3.3 "Quirks").
		st.color = ""
	}
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "hidden":
			st.hidden = "hidden attribute"
		case "background":
			st.bg = "image" // text over an image: colour comparison is moot
		case "bgcolor":
			if c := normColor(a.Val); c != "" {
				st.bg = c
			}
		case "color":
			if n.DataAtom == atom.Font {
				if c := normColor(a.Val); c != "" {
					st.color = c
				}
			}
		case "style":
			d := parseStyle(a.Val)
			switch {
			case d["display"] == "none":
				st.hidden = "display:none"
			case d["visibility"] == "hidden":
				st.hidden = "visibility:hidden"
			case isZero(d["font-size"]):
				st.hidden = "zero font size"
			case isZero(d["opacity"]):
				st.hidden = "opacity:0"
			}
			if c := normColor(d["color"]); c != "" {
				st.color = c
			}
			bg := d["background-color"]
			if bg == "" {
				if f := strings.Fields(d["background"]); len(f) > 0 {
					bg = f[0]
				}
			}
			if c := normColor(bg); c != "" {
				st.bg = c
			} else if strings.Contains(d["background"]+d["background-image"], "url(") {
				st.bg = "image"
			}
		}
	}
	return st
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// parseStyle splits a CSS declaration list into lower-case properties and
// values (the last declaration of a property wins, as in CSS).
func parseStyle(s string) map[string]string {
	d := map[string]string{}
	for _, decl := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.ToLower(v)), "!important"))
		d[strings.TrimSpace(strings.ToLower(k))] = v
	}
	return d
}

// isZero reports a CSS length or number that renders nothing: 0, 0px,
// 0.0em, 0%.
func isZero(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	v = strings.TrimRight(v, "abcdefghijklmnopqrstuvwxyz%")
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return err == nil && f == 0
}

var namedColors = map[string]string{
	"white": "#ffffff", "black": "#000000", "red": "#ff0000", "green": "#008000", "blue": "#0000ff",
	"yellow": "#ffff00", "gray": "#808080", "grey": "#808080", "silver": "#c0c0c0", "navy": "#000080",
	"snow": "#fffafa", "ivory": "#fffff0", "whitesmoke": "#f5f5f5", "lime": "#00ff00", "aqua": "#00ffff",
	"fuchsia": "#ff00ff", "maroon": "#800000", "olive": "#808000", "purple": "#800080", "teal": "#008080",
}

// normColor returns a colour as #rrggbb, or "" when it is not one we can
// compare (transparent, inherit, var(), ...).
func normColor(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if c, ok := namedColors[v]; ok {
		return c
	}
	if strings.HasPrefix(v, "rgb(") || strings.HasPrefix(v, "rgba(") {
		inner := v[strings.IndexByte(v, '(')+1:]
		inner = strings.TrimSuffix(inner, ")")
		parts := strings.FieldsFunc(inner, func(r rune) bool { return r == ',' || r == ' ' || r == '/' })
		if len(parts) < 3 {
			return ""
		}
		var b strings.Builder
		b.WriteByte('#')
		for _, p := range parts[:3] {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 255 {
				return ""
			}
			fmt.Fprintf(&b, "%02x", n)
		}
		return b.String()
	}
	if !strings.HasPrefix(v, "#") && len(v) == 6 {
		v = "#" + v // bgcolor="ffffff", which browsers accept
	}
	if !strings.HasPrefix(v, "#") {
		return ""
	}
	h := v[1:]
	for i := 0; i < len(h); i++ {
		if !isHex(h[i]) {
			return ""
		}
	}
	switch len(h) {
	case 3:
		return "#" + string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	case 6:
		return v
	}
	return ""
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Tr, atom.Li, atom.Ul, atom.Ol, atom.Table, atom.H1, atom.H2, atom.H3,
		atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Pre, atom.Section, atom.Article, atom.Header,
		atom.Footer, atom.Center, atom.Hr, atom.Body:
		return true
	}
	return false
}

// collapseSpace turns runs of blanks into one space and runs of line
// breaks into one newline, as rendering does.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space, nl := false, false
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			nl = true
		case unicode.IsSpace(r):
			space = true
		default:
			if nl && b.Len() > 0 {
				b.WriteByte('\n')
			} else if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space, nl = false, false
			b.WriteRune(r)
		}
	}
	return b.String()
}
