package content

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigilmail/vigil/filters"
)

// PDF attachments are read by a scanner of our own rather than a PDF
// library: phishing PDFs are often malformed on purpose, and what matters
// here (link actions, forms, script, embedded files, images for QR codes)
// is found token by token, in the file and in its Flate-compressed
// streams (object streams hold the annotations of modern files), within
// max_inflate_bytes, without building the document. ISO 32000-1 sections
// are cited where each token is read.

// maxPDFStreams bounds the streams of one file looked at.
const maxPDFStreams = 4096

var (
	pdfStream = regexp.MustCompile(`stream\r?\n`)
	pdfDict   = regexp.MustCompile(`/(Filter|Subtype|Width|Height|BitsPerComponent|ColorSpace|Length|Predictor|DecodeParms)\b\s*(\[[^\]]{0,200}\]|/[A-Za-z0-9]+|\d+)?`)
)

// pdf reads a PDF: its links, forms and behaviours, and the QR codes of
// its images.
func (x *extractor) pdf(a *filters.Attachment, data []byte, where string) {
	if x.fileSource == "" {
		// A PDF inside an archive keeps the archive as the source.
		x.fileSource = SourcePDF
		defer func() { x.fileSource = "" }()
	}
	sc := pdfScan{x: x, a: a, where: where}
	sc.tokens(data)
	locs := pdfStream.FindAllIndex(data, maxPDFStreams)
	for _, l := range locs {
		if x.ctx.Err() != nil {
			return
		}
		start := l[1]
		// ISO 32000-1 §7.3.8.1: the dictionary precedes "stream".
		dictStart := bytes.LastIndex(data[max(0, l[0]-4096):l[0]], []byte("<<"))
		if dictStart < 0 {
			continue
		}
		dict := data[max(0, l[0]-4096)+dictStart : l[0]]
		end := bytes.Index(data[start:], []byte("endstream"))
		if end < 0 {
			end = len(data) - start
		}
		raw := data[start : start+end]
		sc.stream(dict, raw)
	}
	sc.finish()
}

type pdfScan struct {
	x     *extractor
	a     *filters.Attachment
	where string
	// text collects the literal strings of content streams, where a URL
	// written on the page is.
	text     strings.Builder
	form     filters.Form
	hasForm  bool
	images   int
	behaving map[filters.Behaviour]bool
}

func (sc *pdfScan) behave(b filters.Behaviour) {
	if sc.behaving == nil {
		sc.behaving = map[filters.Behaviour]bool{}
	}
	if !sc.behaving[b] {
		sc.behaving[b] = true
		sc.a.Behaviours = append(sc.a.Behaviours, b)
	}
}

// stream reads one stream: decompressed when Flate (and within the
// budget), scanned for tokens and text; an image is read for QR codes.
func (sc *pdfScan) stream(dict, raw []byte) {
	x := sc.x
	keys := map[string]string{}
	for _, m := range pdfDict.FindAllSubmatch(dict, 16) {
		keys[string(m[1])] = string(m[2])
	}
	flateEnc := strings.Contains(keys["Filter"], "FlateDecode") || strings.Contains(keys["Filter"], "/Fl")
	if keys["Subtype"] == "/Image" {
		sc.image(keys, raw, flateEnc)
		return
	}
	if !flateEnc || keys["Filter"] != "" && !strings.HasSuffix(strings.Trim(keys["Filter"], "[] "), "FlateDecode") && !strings.HasSuffix(strings.Trim(keys["Filter"], "[] "), "/Fl") {
		return // other filters (LZW, ASCII85, chains) are not undone
	}
	b := x.inflateFlate(raw, x.cfg.MaxAttachmentBytes)
	if b == nil {
		return
	}
	sc.tokens(b)
	if sc.text.Len() < 1<<20 {
		for _, s := range pdfLiterals(b, 1<<20-sc.text.Len()) {
			sc.text.WriteString(s)
		}
		sc.text.WriteByte('\n')
	}
}

// inflateFlate decompresses zlib (or raw deflate) data, at most limit
// bytes and what is left of max_inflate_bytes; nil when nothing is left.
func (x *extractor) inflateFlate(raw []byte, limit int64) []byte {
	room := min(limit, x.cfg.MaxInflateBytes-x.inflated)
	if room <= 0 {
		x.limit(SymLimitSize, "more than content.max_inflate_bytes decompressed")
		return nil
	}
	var r io.ReadCloser
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err == nil {
		r = zr
	} else {
		r = flate.NewReader(bytes.NewReader(raw))
	}
	defer r.Close()
	// A damaged stream still gives what it decompressed before the damage.
	b, _ := io.ReadAll(io.LimitReader(r, room))
	x.inflated += int64(len(b))
	return b
}

// pdfStringAfter returns the PDF string (literal or hexadecimal) that
// follows the name key in b at or after i, with the offset after it; ok
// is false when key is followed by anything else (an indirect reference,
// a dictionary).
func pdfStringAfter(b []byte, i int) (string, int, bool) {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	if i >= len(b) {
		return "", i, false
	}
	switch b[i] {
	case '(':
		j, ok := literalEnd(b, i, 1<<16)
		if !ok {
			return "", i, false
		}
		return pdfString(b[i:j]), j, true
	case '<':
		if i+1 < len(b) && b[i+1] == '<' {
			return "", i, false
		}
		j := bytes.IndexByte(b[i:min(len(b), i+1<<16)], '>')
		if j < 0 {
			return "", i, false
		}
		return pdfString(b[i : i+j+1]), i + j + 1, true
	}
	return "", i, false
}

// pdfStrings calls fn with every string that follows key in b (at most
// max of them).
func pdfStrings(b []byte, key string, max int, fn func(s string, at int)) {
	k := []byte(key)
	for off, n := 0, 0; n < max; {
		i := bytes.Index(b[off:], k)
		if i < 0 {
			return
		}
		at := off + i + len(k)
		// The name must end there (/URI, not /URIs).
		if at < len(b) && (b[at] >= 'A' && b[at] <= 'Z' || b[at] >= 'a' && b[at] <= 'z') {
			off = at
			continue
		}
		s, end, ok := pdfStringAfter(b, at)
		if ok {
			fn(s, at)
			n++
			off = end
		} else {
			off = at
		}
	}
}

// tokens reads the actions, forms and behaviours written in b (the file,
// or a decompressed stream).
func (sc *pdfScan) tokens(b []byte) {
	x := sc.x
	// ISO 32000-1 §12.6.4.7: a URI action's /URI string.
	pdfStrings(b, "/URI", 256, func(s string, _ int) { x.addRaw(s, SourcePDF, "") })
	// §12.7.5.2: a submit-form action posts the fields to its /F target
	// (a string, or a URL file specification whose /F is the string).
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte("/SubmitForm"))
		if i < 0 {
			break
		}
		sc.hasForm = true
		at := off + i + len("/SubmitForm")
		win := b[at:min(len(b), at+600)]
		pdfStrings(win, "/F", 2, func(s string, _ int) {
			if strings.HasPrefix(strings.ToLower(s), "http") && sc.form.Action == "" {
				sc.form.Action = s
				x.addRaw(s, SourceForm, "")
			}
		})
		off = at
	}
	if bytes.Contains(b, []byte("/AcroForm")) {
		sc.hasForm = true
	}
	// §12.7.3.1: a field's partial name /T.
	pdfStrings(b, "/T", 256, func(s string, _ int) {
		name := strings.ToLower(s)
		switch {
		case strings.Contains(name, "pass") || strings.Contains(name, "senha") || strings.Contains(name, "contrase") || strings.Contains(name, "pwd"):
			sc.form.Password = true
		case emailField.MatchString(name):
			sc.form.Email = true
		}
	})
	if bytes.Contains(b, []byte("/Launch")) {
		sc.behave(filters.BehaviourLaunch)
	}
	if bytes.Contains(b, []byte("/JavaScript")) || bytes.Contains(b, []byte("/JS ")) || bytes.Contains(b, []byte("/JS(")) || bytes.Contains(b, []byte("/JS<")) {
		sc.behave(filters.BehaviourScript)
	}
	if bytes.Contains(b, []byte("/EmbeddedFile")) {
		sc.behave(filters.BehaviourEmbedded)
	}
}

// finish records the form and the links written in the text.
func (sc *pdfScan) finish() {
	x := sc.x
	if sc.hasForm && (sc.form.Password || sc.form.Email) && len(x.formList) < 16 {
		sc.form.In = sc.where
		x.formList = append(x.formList, sc.form)
	}
	if sc.text.Len() > 0 {
		x.links(sc.text.String(), SourcePDF, "")
	}
}

// image reads an image XObject (§8.9.5) for QR codes: DCT (JPEG) bytes
// as they are, Flate-compressed samples of 1 or 8 bits in DeviceGray or
// DeviceRGB without predictor, within the picture limits.
func (sc *pdfScan) image(keys map[string]string, raw []byte, flateEnc bool) {
	x := sc.x
	if !x.wantQR() || sc.images >= 8 {
		return
	}
	sc.images++
	if strings.Contains(keys["Filter"], "DCTDecode") {
		if int64(len(raw)) <= x.cfg.MaxHashBytes {
			x.scanQR(raw, sha256.Sum256(raw), "pdf:"+sc.where)
		}
		return
	}
	if !flateEnc || keys["Predictor"] != "" || keys["DecodeParms"] != "" {
		return
	}
	w, _ := strconv.Atoi(keys["Width"])
	h, _ := strconv.Atoi(keys["Height"])
	bpc, _ := strconv.Atoi(keys["BitsPerComponent"])
	comps := map[string]int{"/DeviceGray": 1, "/G": 1, "/DeviceRGB": 3, "/RGB": 3}[keys["ColorSpace"]]
	if w < 21 || h < 21 || int64(w)*int64(h) > x.cfg.MaxHashPixels || comps == 0 || (bpc != 1 && bpc != 8) || (bpc == 1 && comps != 1) {
		return
	}
	row := (w*comps*bpc + 7) / 8
	samples := x.inflateFlate(raw, int64(row*h))
	if len(samples) < row*h {
		return
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		line := samples[y*row : (y+1)*row]
		for xx := 0; xx < w; xx++ {
			var v uint8
			switch {
			case bpc == 1:
				if line[xx/8]&(0x80>>(xx%8)) != 0 {
					v = 255
				}
			case comps == 1:
				v = line[xx]
			default:
				p := line[xx*3 : xx*3+3]
				v = uint8((299*int(p[0]) + 587*int(p[1]) + 114*int(p[2])) / 1000)
			}
			img.Pix[y*img.Stride+xx] = v
		}
	}
	x.qrScanned++
	x.qrURLs(x.qr.Image(img), "pdf:"+sc.where)
}

// pdfString decodes a PDF string token: a literal (§7.3.4.2: escapes,
// octal codes) or a hexadecimal string (§7.3.4.3).
func pdfString(tok []byte) string {
	if len(tok) >= 2 && tok[0] == '<' {
		h := strings.Map(func(r rune) rune {
			if strings.ContainsRune(" \t\r\n", r) {
				return -1
			}
			return r
		}, string(tok[1:len(tok)-1]))
		if len(h)%2 == 1 {
			h += "0"
		}
		b, _ := hex.DecodeString(h)
		return string(b)
	}
	if len(tok) >= 2 && tok[0] == '(' {
		tok = tok[1 : len(tok)-1]
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '\\' || i+1 == len(tok) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := tok[i]; e {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b', 'f':
		case '\r', '\n':
			// a line continuation
		default:
			if e >= '0' && e <= '7' {
				v, j := 0, i
				for ; j < len(tok) && j < i+3 && tok[j] >= '0' && tok[j] <= '7'; j++ {
					v = v*8 + int(tok[j]-'0')
				}
				b.WriteByte(byte(v))
				i = j - 1
				continue
			}
			b.WriteByte(e)
		}
	}
	return b.String()
}

// pdfLiterals returns the literal strings of a content stream in order
// (balanced parentheses, escapes undone), at most limit bytes in all: the
// text shown by Tj and TJ, where a URL written on the page is. Fonts with
// custom encodings show other bytes; those pages are not read.
func pdfLiterals(b []byte, limit int) []string {
	var out []string
	total := 0
	for i := 0; i < len(b) && total < limit; i++ {
		if b[i] != '(' {
			continue
		}
		j, ok := literalEnd(b, i, len(b))
		if !ok {
			break
		}
		s := pdfString(b[i:j])
		out = append(out, s)
		total += len(s)
		i = j - 1
	}
	return out
}

// literalEnd returns the end of the literal string opening at b[i]
// (§7.3.4.2: balanced parentheses, backslash escapes), reading at most
// max bytes; ok is false when it does not close.
func literalEnd(b []byte, i, max int) (int, bool) {
	depth, j := 1, i+1
	for ; j < len(b) && depth > 0 && j-i < max; j++ {
		switch b[j] {
		case '\\':
			j++
		case '(':
			depth++
		case ')':
			depth--
		}
	}
	return j, depth == 0 && j <= len(b)
}
