package content

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/PuerkitoBio/goquery"

	"github.com/vigilmail/vigil/filters"
)

// Sources of URLs found in attachments (filters.URL.Source).
const (
	// SourcePDF: a link of a PDF attachment (a /URI action, a form's
	// submit target, or a URL written in its text).
	SourcePDF = "pdf"
	// SourceArchive: a link in a file inside an archive attachment.
	SourceArchive = "archive"
)

// partName is the file name of a part (RFC 2183 filename, else the
// Content-Type name parameter), RFC 2047/2231 decoded.
func partName(params, dparams map[string]string) string {
	if n := decodeWords(dparams["filename"]); n != "" {
		return n
	}
	return decodeWords(params["name"])
}

// readsAsAttachment reports a part the reader gets as a file rather than
// as the message: a binary type, or any part named or disposed as an
// attachment except the text and HTML the walk reads as such.
func readsAsAttachment(mediaType string) bool {
	switch {
	case strings.HasPrefix(mediaType, "multipart/"), strings.HasPrefix(mediaType, "message/"),
		strings.HasPrefix(mediaType, "text/"), mediaType == "application/xhtml+xml":
		return false
	case strings.HasPrefix(mediaType, "image/") && mediaType != "image/svg+xml":
		return false // pictures: imagePart
	}
	return true
}

// attachmentPart reads a file part (at most max_attachment_bytes), tells
// it by its bytes and looks into it: links and forms of PDF, HTML and SVG
// files, the entries of archives, QR codes of pictures.
func (x *extractor) attachmentPart(mediaType, name, cte string, body io.Reader) {
	a := filters.Attachment{Name: name, Type: mediaType}
	if len(x.attachments) >= x.cfg.MaxAttachments {
		x.attachLost++
		return
	}
	max := min(x.cfg.MaxAttachmentBytes, x.budget())
	if max <= 0 {
		x.limit(SymLimitSize, fmt.Sprintf("more than %d decoded bytes", x.cfg.MaxDecodedBytes))
		a.Kind, a.Format = sniffText(nil, extOf(name))
		a.Truncated = true
		x.attachments = append(x.attachments, a)
		return
	}
	data, err := io.ReadAll(io.LimitReader(x.decoder(cte, body), max+1))
	if err != nil {
		x.bad("attachment: " + err.Error())
	}
	if int64(len(data)) > max {
		data, a.Truncated = data[:max], true
		x.limit(SymLimitSize, fmt.Sprintf("attachment larger than %d bytes read in part", max))
	}
	x.decoded += int64(len(data))
	a.Size = int64(len(data))
	sum := sha256.Sum256(data)
	a.SHA256 = hex.EncodeToString(sum[:])
	a.Kind, a.Format = sniff(data, name)
	x.lookInto(&a, data, sum)
	x.attachments = append(x.attachments, a)
}

func extOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return strings.ToLower(strings.TrimSpace(name[i:]))
	}
	return ""
}

// lookInto reads what the file a holds: links, forms and behaviours of
// documents, the entries of archives, QR codes of pictures.
func (x *extractor) lookInto(a *filters.Attachment, data []byte, sum [sha256.Size]byte) {
	where := a.Name
	if where == "" {
		where = "attachment " + a.Type
	}
	switch a.Kind {
	case filters.FilePDF:
		x.pdf(a, data, where)
	case filters.FileArchive:
		x.archive(a, data, where)
	case filters.FileHTML, filters.FileSVG:
		b := toUTF8(data, "")
		a.Behaviours = append(a.Behaviours, x.markup(b, where, a.Kind == filters.FileSVG)...)
	case filters.FileImage:
		if int64(len(data)) <= x.cfg.MaxHashBytes {
			x.scanQR(data, sum, "part:"+where)
		}
	case filters.FileText:
		x.links(string(toUTF8(data[:min(len(data), int(x.cfg.MaxPartBytes))], "")), SourceText, "")
	case filters.FileShortcut:
		if a.Format == "url" {
			x.internetShortcut(a, data)
		}
	}
}

// markup reads an HTML or SVG file (an attachment, or a file inside an
// archive): its links and forms as for HTML parts, and what it does when
// the reader opens it in a browser.
func (x *extractor) markup(b []byte, where string, svg bool) []filters.Behaviour {
	x.inFile = where
	x.html(b, false)
	x.inFile = ""
	var out []filters.Behaviour
	lower := bytes.ToLower(b)
	if redirectScript.Match(lower) || metaRefresh.Match(lower) {
		out = append(out, filters.BehaviourRedirect)
	}
	if encodedPage(lower) {
		out = append(out, filters.BehaviourEncodedPage)
	}
	if svg && (bytes.Contains(lower, []byte("<script")) || svgHandler.Match(lower)) {
		out = append(out, filters.BehaviourScript)
	}
	return out
}

var (
	// navigatingScript: a javascript: URL that leaves for another page,
	// writes one or decodes one.
	navigatingScript = regexp.MustCompile(`location|document\.write|atob\(|eval\(|unescape\(|fetch\(|https?:`)
	// redirectScript: script that sends the browser elsewhere.
	redirectScript = regexp.MustCompile(`(?:window|document|top|self|parent)?\.?location(?:\.href)?\s*=\s*[^=]|location\.(?:replace|assign)\s*\(|window\.open\s*\(|\.submit\s*\(\s*\)`)
	// metaRefresh: <meta http-equiv="refresh" content="0; url=...">.
	metaRefresh = regexp.MustCompile(`<meta[^>]{0,200}http-equiv\s*=\s*["']?refresh[^>]{0,200}url\s*=`)
	// svgHandler: an event attribute that runs script in an SVG.
	svgHandler = regexp.MustCompile(`\son(?:load|click|mouseover|error|begin)\s*=`)
	// longBase64: a run of base64 long enough to hold a page.
	longBase64 = regexp.MustCompile(`[A-Za-z0-9+/]{400,}={0,2}`)
)

// encodedPage reports a file that builds its page from an encoded
// payload: a data:text/html;base64 URL, or script decoding a long
// base64 or escaped string (atob, unescape, decodeURIComponent,
// String.fromCharCode) into the document.
func encodedPage(lower []byte) bool {
	if bytes.Contains(lower, []byte("data:text/html;base64")) || bytes.Contains(lower, []byte("data:application/xhtml+xml;base64")) {
		return true
	}
	decodes := bytes.Contains(lower, []byte("atob(")) || bytes.Contains(lower, []byte("unescape(")) ||
		bytes.Contains(lower, []byte("decodeuricomponent(")) || bytes.Contains(lower, []byte("string.fromcharcode("))
	if !decodes {
		return false
	}
	writes := bytes.Contains(lower, []byte("document.write")) || bytes.Contains(lower, []byte("innerhtml")) ||
		bytes.Contains(lower, []byte("eval(")) || bytes.Contains(lower, []byte("location"))
	return writes && (longBase64.Match(lower) || bytes.Count(lower, []byte("%")) > 200)
}

// emailField: the name, id, placeholder or autocomplete of an input that
// asks for an address or a login, in the languages the mail is in.
var emailField = regexp.MustCompile(`(?i)e-?mail|user(?:name)?|login|account|correo|usuario|utilisateur|benutzer|konto|conta|identifiant|adresse`)

// forms records the forms of a parsed document that ask for a password or
// an address, and where they post (resolve makes the action absolute).
func (x *extractor) forms(doc *goquery.Document, resolve func(string) string) {
	in := x.inFile
	if in == "" {
		in = "body"
	}
	record := func(action string, inputs *goquery.Selection) {
		f := filters.Form{In: in}
		inputs.Each(func(_ int, s *goquery.Selection) {
			typ := strings.ToLower(strings.TrimSpace(s.AttrOr("type", "text")))
			switch typ {
			case "password":
				f.Password = true
			case "email":
				f.Email = true
			case "text", "":
				for _, attr := range []string{"name", "id", "placeholder", "autocomplete", "aria-label"} {
					if emailField.MatchString(s.AttrOr(attr, "")) {
						f.Email = true
					}
				}
			}
		})
		if !f.Password && !f.Email {
			return
		}
		if action != "" {
			if u, err := url.Parse(resolve(action)); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				f.Action = u.String()
			}
		}
		if len(x.formList) < 16 {
			x.formList = append(x.formList, f)
		}
	}
	doc.Find("form").Each(func(_ int, s *goquery.Selection) {
		record(s.AttrOr("action", ""), s.Find("input"))
	})
	// Inputs outside any form post through script.
	orphans := doc.Find("input").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return s.Closest("form").Length() == 0
	})
	if orphans.Length() > 0 {
		record("", orphans)
	}
}

// activeLink records an anchor whose href runs script or opens a page the
// message carries (data:, javascript:).
func (x *extractor) activeLink(href, text string) {
	h := strings.TrimSpace(href)
	lower := strings.ToLower(h[:min(len(h), 40)])
	var kind string
	switch {
	case strings.HasPrefix(lower, "data:"):
		kind, _, _ = strings.Cut(lower, ",")
	case strings.HasPrefix(lower, "javascript:"):
		// Pop-ups and void(0) placeholders are common in old HTML
		// newsletters; script that navigates, writes or decodes a page
		// is what a phishing link does.
		if !navigatingScript.MatchString(strings.ToLower(h[:min(len(h), 4096)])) {
			return
		}
		kind = "javascript:"
	default:
		return
	}
	if len(x.activeLinks) < 8 {
		x.activeLinks = append(x.activeLinks, strings.TrimSpace(kind+" "+capText(text, 60)))
	}
}

// textAttachment records a text part that is a file (named, or disposed
// as an attachment): HTML and SVG are read as markup (links, forms, what
// they do when opened), other text for its links. whole reports that b
// is the whole file.
func (x *extractor) textAttachment(mediaType, name string, b []byte, whole bool) {
	a := filters.Attachment{Name: name, Type: mediaType, Size: int64(len(b)), Truncated: !whole}
	a.Kind, a.Format = sniffText(b, extOf(name))
	if mediaType == "text/html" && a.Kind == filters.FileText {
		a.Kind = filters.FileHTML
	}
	if whole {
		sum := sha256.Sum256(b)
		a.SHA256 = hex.EncodeToString(sum[:])
	}
	switch a.Kind {
	case filters.FileHTML, filters.FileSVG:
		where := name
		if where == "" {
			where = "attachment " + mediaType
		}
		a.Behaviours = x.markup(b, where, a.Kind == filters.FileSVG)
	default:
		x.text(string(b), SourceText, false)
	}
	if len(x.attachments) < x.cfg.MaxAttachments {
		x.attachments = append(x.attachments, a)
	} else {
		x.attachLost++
	}
}

// internetShortcut reads an Internet shortcut (.url, an INI file): its
// URL= target is one of the message's links; a target on a file share,
// a local file or a Windows search (file:, \\host\share, search-ms:)
// runs what it points to when opened (BehaviourLaunch).
func (x *extractor) internetShortcut(a *filters.Attachment, data []byte) {
	for _, line := range strings.Split(string(data[:min(len(data), 64<<10)]), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "URL") {
			continue
		}
		v = strings.TrimSpace(v)
		lv := strings.ToLower(v)
		if strings.HasPrefix(lv, "file:") || strings.HasPrefix(lv, `\\`) || strings.HasPrefix(lv, "search-ms:") || strings.HasPrefix(lv, "search:") {
			a.Behaviours = append(a.Behaviours, filters.BehaviourLaunch)
			continue
		}
		x.addRaw(v, SourceHTML, "")
	}
}
