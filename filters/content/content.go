// Package content is the "content" check: it walks the MIME tree of a
// message once, decodes every text part, reduces HTML to the text a reader
// sees, and collects every URL, linked domain and image. It writes
// Facts.Content for the checks after it and reports content signals
// (hidden text, phishing-style anchors, image-only mail, ...) as symbols
// with modest scores: they are evidence, not verdicts.
package content

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
	htmlcharset "golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/images"
	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/urlcheck"
)

// Name is the check's name.
const Name = "content"

// Symbols reported by the check (scores in Spec).
const (
	SymLimitParts    = "CONTENT_LIMIT_PARTS"
	SymLimitDepth    = "CONTENT_LIMIT_DEPTH"
	SymLimitSize     = "CONTENT_LIMIT_SIZE"
	SymLimitURLs     = "CONTENT_LIMIT_URLS"
	SymMIMEMalformed = "CONTENT_MIME_MALFORMED"
	SymHiddenText    = "CONTENT_HIDDEN_TEXT"
	SymPhishMismatch = "CONTENT_PHISH_MISMATCH"
	SymHTMLOnly      = "CONTENT_HTML_ONLY"
	SymImageHeavy    = "CONTENT_IMAGE_HEAVY"
	SymTrackingPixel = "CONTENT_TRACKING_PIXEL"
	SymURLObfuscated = "CONTENT_URL_OBFUSCATED"
	SymURLUserinfo   = "CONTENT_URL_USERINFO"
	SymURLNumeric    = "CONTENT_URL_NUMERIC_HOST"
	SymURLIP         = "CONTENT_URL_IP"
	SymURLMixed      = "CONTENT_URL_MIXED_SCRIPT"
)

// Spec declares the check and its symbols.
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "content",
	Symbols: []filters.SymbolSpec{
		{Name: SymPhishMismatch, Score: 2.0, Doc: "an anchor's text shows a URL (scheme or www.) whose registrable domain is not where the link (or its unwrapped target) goes"},
		{Name: SymURLUserinfo, Score: 1.5, Doc: "a URL with user info (http://bank.example@evil.example/)"},
		{Name: SymURLNumeric, Score: 1.5, Doc: "a host written as a decimal, hex, octal or short IPv4 number"},
		{Name: SymURLMixed, Score: 1.5, Doc: "a host label mixing Latin, Cyrillic or Greek letters (a homograph such as pаypal.com)"},
		{Name: SymURLObfuscated, Score: 1.5, Doc: "a defanged link in text (hxxp://, [.], (dot)); obfuscated e-mail addresses do not count"},
		{Name: SymHiddenText, Score: 1.0, Doc: "text a reader cannot see: display:none, visibility:hidden, zero font size, opacity:0, hidden, text in the background colour"},
		{Name: SymImageHeavy, Score: 1.0, Doc: "images shown and little visible text; the reputation check then scores the pictures as the message"},
		{Name: SymURLIP, Score: 0.5, Doc: "a URL whose host is an IP address"},
		{Name: SymMIMEMalformed, Score: 0.5, Doc: "broken MIME: missing boundary, unterminated parts, base64 junk, unknown transfer encoding"},
		{Name: SymLimitParts, Score: 0.5, Doc: "more MIME parts than content.max_parts; the rest were not read"},
		{Name: SymLimitDepth, Score: 0.5, Doc: "MIME nested deeper than content.max_depth; the rest were not read"},
		{Name: SymLimitURLs, Score: 0.5, Doc: "URLs or images beyond content.max_urls / max_images were dropped"},
		{Name: SymHTMLOnly, Score: 0.3, Doc: "an HTML body without a text/plain alternative"},
		{Name: SymLimitSize, Score: 0.1, Doc: "a size cap was hit (a part, the total or an image)"},
		{Name: SymTrackingPixel, Score: 0.1, Doc: "a remote image of at most 2x2 pixels, or hidden"},
	},
})

// URL sources (filters.URL.Source).
const (
	SourceText          = "text"
	SourceHTML          = "html"
	SourceForm          = "html-form"
	SourceMetaRefresh   = "html-meta-refresh"
	SourceCSS           = "css"
	SourceRedirectParam = "redirect-param"
	SourceSubject       = "subject"
)

// Check is the "content" check. It needs no DNS.
type Check struct {
	cfg    Config
	hasher *images.Hasher
	qr     *QRReader
}

// Deps are the check's collaborators: it needs none.
type Deps struct{}

var _ filters.Check = (*Check)(nil)

// New returns the content check.
func New(cfg Config, deps Deps) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Check{cfg: cfg, hasher: images.NewHasher(cfg.decodeLimits(), cfg.ImageHashCache), qr: NewQRReader(cfg.decodeLimits(), cfg.ImageHashCache)}, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Run extracts the message's content into m.Facts.Content and reports the
// content symbols. It reads m.Headers and streams m.Body once; a nil Body
// (message over the size limit) leaves only what the headers show.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	var body io.Reader
	if m.Body != nil {
		body = m.Body.Reader()
	}
	r, err := extract(ctx, c.cfg, c.hasher, c.qr, m.Headers, body)
	if err != nil {
		return nil, err
	}
	m.Facts.Content = r.Content
	return r.Symbols, nil
}

// Result is what Extract found.
type Result struct {
	Content filters.Content
	Symbols []filters.Symbol
	// Parts is the number of MIME entities walked.
	Parts int
}

// Extract walks the message given as parsed header fields and the body
// stream (nil for none). It fails only when ctx is done; malformed input
// yields symbols, never an error. Images are hashed without the cache of
// a Check.
func Extract(ctx context.Context, cfg Config, headers []filters.Header, body io.Reader) (*Result, error) {
	return extract(ctx, cfg, images.NewHasher(cfg.decodeLimits(), 0), NewQRReader(cfg.decodeLimits(), 0), headers, body)
}

func extract(ctx context.Context, cfg Config, hasher *images.Hasher, qr *QRReader, headers []filters.Header, body io.Reader) (*Result, error) {
	x := newExtractor(ctx, cfg)
	x.hasher = hasher
	x.qr = qr
	defer func() {
		if x.pictureCancel != nil {
			x.pictureCancel()
		}
	}()
	var h textproto.Header
	// textproto.Header.Add prepends, so add in reverse to keep Get
	// returning the first field, as RFC 2045 readers do.
	for i := len(headers) - 1; i >= 0; i-- {
		h.Add(headers[i].Name, unfold(headers[i].Value))
	}
	if subj := h.Get("Subject"); subj != "" {
		x.text(decodeWords(subj), SourceSubject, false)
	}
	var root *filters.MIMEPart
	if body != nil {
		root = &filters.MIMEPart{}
		x.entity(h, body, 0, root)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	res := x.finish()
	res.Content.MIME = root
	return res, nil
}

type extractor struct {
	ctx     context.Context
	cfg     Config
	parts   int
	decoded int64
	stopped bool

	limits    map[string]string // symbol -> detail
	malformed []string

	urls    []filters.URL
	urlSeen map[string]int // URL -> index in urls
	// anchored[i]: urls[i].Text is the text of an anchor that links to
	// it, which a link written out in text does not replace.
	anchored  []bool
	urlsLost  int
	domains   map[string]bool
	kept      bytes.Buffer
	textRunes int

	images  []filters.Image
	imgSeen map[string]int // src -> index
	imgLost int
	hasher  *images.Hasher
	// qr reads QR codes (nil: none); qrScanned counts the pictures read,
	// qrCodes describes the codes with links, for the QR symbol.
	qr        *QRReader
	qrScanned int
	qrCodes   []string

	// attachments are the files read (attachLost: those past
	// max_attachments); inFile names the file whose markup is being
	// read ("" for the body); inflated counts the bytes decompressed
	// from PDF streams and archive entries (max_inflate_bytes).
	attachments []filters.Attachment
	attachLost  int
	inFile      string
	inflated    int64
	// fileSource is the source of the links found while a file is read
	// (SourcePDF, SourceArchive); "" in the message itself.
	fileSource  string
	formList    []filters.Form
	activeLinks []string
	hashed      int // images given to the hasher (content.max_hashed_images)
	// pictureCtx ends when the message's time for decoding images
	// (content.image_hash_timeout) is spent; made at the first picture.
	pictureCtx    context.Context
	pictureCancel context.CancelFunc
	// bigImages counts decoded images of ImageHeavyMinPixels and more.
	bigImages int
	cidRefs   []string
	hasPlain  bool
	hasHTML   bool

	hidden      int
	hiddenWhy   map[string]bool
	hiddenText  strings.Builder
	mismatches  []string
	pixels      int
	shownImages int

	obfuscated, userinfo, numeric, ipHosts, mixed []string
}

func newExtractor(ctx context.Context, cfg Config) *extractor {
	return &extractor{
		ctx: ctx, cfg: cfg,
		limits:    map[string]string{},
		urlSeen:   map[string]int{},
		domains:   map[string]bool{},
		imgSeen:   map[string]int{},
		hiddenWhy: map[string]bool{},
	}
}

func (x *extractor) limit(sym, detail string) {
	if _, ok := x.limits[sym]; !ok {
		x.limits[sym] = detail
	}
}

func (x *extractor) bad(detail string) {
	if len(x.malformed) < 8 {
		x.malformed = append(x.malformed, detail)
	}
}

// entity walks one MIME entity (RFC 2045 §2.4) whose header is h and whose
// still-encoded body is body.
func (x *extractor) entity(h textproto.Header, body io.Reader, depth int, node *filters.MIMEPart) {
	if x.stopped || x.ctx.Err() != nil {
		x.stopped = true
		return
	}
	if x.parts >= x.cfg.MaxParts {
		x.limit(SymLimitParts, fmt.Sprintf("more than %d parts", x.cfg.MaxParts))
		x.stopped = true
		return
	}
	if depth > x.cfg.MaxDepth {
		x.limit(SymLimitDepth, fmt.Sprintf("nesting deeper than %d", x.cfg.MaxDepth))
		return
	}
	x.parts++
	mediaType, params := contentType(h.Get("Content-Type"))
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	attachment := strings.EqualFold(disp, "attachment")
	node.Type, node.CTE = mediaType, cte
	node.Charset = strings.ToLower(params["charset"])
	node.Disposition = strings.ToLower(disp)

	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		x.multipart(mediaType == "multipart/alternative", params["boundary"], body, depth, node)
	case mediaType == "message/rfc822" || mediaType == "message/global":
		// RFC 2046 §5.2.1: only 7bit, 8bit or binary are allowed here, but
		// encoded forwards exist, so decode whatever is declared.
		guard := newHeaderGuard(x.decoder(cte, body), "", true)
		br := bufio.NewReader(guard)
		inner, err := textproto.ReadHeader(br)
		if guard.hit {
			x.bad(fmt.Sprintf("header block over %d bytes", maxHeaderBytes))
		}
		if err != nil {
			x.bad("message/rfc822: " + err.Error())
		}
		child := &filters.MIMEPart{}
		node.Parts = append(node.Parts, child)
		x.entity(inner, br, depth+1, child)
	case strings.HasPrefix(mediaType, "image/"),
		// An attached picture sent with the generic type: its name says
		// what it is (the decoder trusts only the bytes).
		mediaType == "application/octet-stream" && (isImageName(decodeWords(dparams["filename"])) || isImageName(decodeWords(params["name"]))):
		x.imagePart(h, dparams, cte, body)
	case (mediaType == "text/html" || mediaType == "application/xhtml+xml") && !attachment:
		b, tail := x.readText(cte, params["charset"], body, true)
		x.hasHTML = true
		x.html(b, true)
		x.scanTail(tail)
	case strings.HasPrefix(mediaType, "text/") || mediaType == "application/xhtml+xml":
		name := partName(params, dparams)
		isHTML := mediaType == "text/html" || mediaType == "application/xhtml+xml"
		b, tail := x.readText(cte, params["charset"], body, isHTML)
		if attachment || name != "" && !strings.EqualFold(disp, "inline") {
			// A file: told by its bytes and name (an .html attachment
			// that redirects, a .vbs sent as text/plain).
			x.textAttachment(mediaType, name, b, tail == nil)
			x.scanTail(tail)
			return
		}
		visible := mediaType == "text/plain" || mediaType == "text/enriched"
		if mediaType == "text/plain" {
			x.hasPlain = true
		}
		x.text(string(b), SourceText, visible)
		x.scanTail(tail)
	case readsAsAttachment(mediaType):
		x.attachmentPart(mediaType, partName(params, dparams), cte, body)
	}
}

func (x *extractor) multipart(alternative bool, boundary string, body io.Reader, depth int, node *filters.MIMEPart) {
	if boundary == "" {
		// A multipart without a boundary cannot be split; read it as text
		// so its links are not hidden by the malformation.
		x.bad("multipart without boundary")
		b, tail := x.readText("", "", body, false)
		x.text(string(b), SourceText, false)
		x.scanTail(tail)
		return
	}
	node.Split = true
	// Keep the head of the body in case no boundary line ever appears.
	var head bytes.Buffer
	guard := newHeaderGuard(io.TeeReader(body, &limitedWriter{w: &head, n: 64 << 10}), boundary, false)
	mr := textproto.NewMultipartReader(guard, boundary)
	defer func() {
		if guard.hit {
			x.bad(fmt.Sprintf("part header over %d bytes", maxHeaderBytes))
		}
	}()
	n := 0
	altStart := x.kept.Len()
	for !x.stopped {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			x.bad(err.Error())
			break
		}
		n++
		before := x.kept.Len()
		child := &filters.MIMEPart{}
		node.Parts = append(node.Parts, child)
		x.entity(p.Header, p, depth+1, child)
		if alternative && before > altStart && x.kept.Len() > before {
			// RFC 2046 §5.1.4: alternatives come in increasing order of
			// preference and the reader sees the last one it can show, so
			// only that one's text is kept (its links all count).
			last := bytes.Clone(x.kept.Bytes()[before:])
			x.kept.Truncate(altStart)
			if altStart == 0 {
				last = bytes.TrimLeft(last, "\n")
			}
			x.kept.Write(last)
		}
	}
	if n == 0 && head.Len() > 0 {
		x.bad("multipart without any part")
		x.text(string(toUTF8(head.Bytes(), "")), SourceText, false)
	}
}

// limitedWriter keeps the first n bytes written and drops the rest.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// decoder undoes the Content-Transfer-Encoding (RFC 2045 §6).
func (x *extractor) decoder(cte string, r io.Reader) io.Reader {
	switch cte {
	case "base64":
		return &base64Reader{r: r}
	case "quoted-printable":
		return &qpReader{r: r}
	case "", "7bit", "8bit", "binary":
		return r
	}
	x.bad("unknown Content-Transfer-Encoding " + strconv.Quote(cte))
	return r
}

// budget returns how many more decoded bytes may be read.
func (x *extractor) budget() int64 {
	return x.cfg.MaxDecodedBytes - x.decoded
}

// readText decodes a text part into UTF-8, keeping at most MaxPartBytes
// (and what is left of MaxDecodedBytes) for parsing. The rest of the part,
// when there is more, comes back as tail: the caller scans it for links
// after parsing the head (scanTail), so that a link far into a padded part
// is still found, with memory bounded by the scan window instead of the
// part.
func (x *extractor) readText(cte, cs string, body io.Reader, isHTML bool) ([]byte, *partTail) {
	max := min(x.cfg.MaxPartBytes, x.budget())
	dec := x.decoder(cte, body)
	if max <= 0 {
		x.limit(SymLimitSize, fmt.Sprintf("more than %d decoded bytes", x.cfg.MaxDecodedBytes))
		return nil, &partTail{r: dec, cs: cs, html: isHTML}
	}
	b, err := io.ReadAll(io.LimitReader(dec, max+1))
	if err != nil {
		// A part cut short (missing closing boundary, truncated spool) is
		// still worth reading: keep what was decoded.
		x.bad("part: " + err.Error())
	}
	var tail *partTail
	if int64(len(b)) > max {
		tail = &partTail{r: io.MultiReader(bytes.NewReader(b[max:]), dec), cs: cs, html: isHTML}
		b = b[:max]
		if max == x.cfg.MaxPartBytes {
			x.limit(SymLimitSize, fmt.Sprintf("text part larger than %d bytes", max))
		} else {
			x.limit(SymLimitSize, fmt.Sprintf("more than %d decoded bytes", x.cfg.MaxDecodedBytes))
		}
	}
	x.decoded += int64(len(b))
	if d, ok := dec.(*base64Reader); ok && d.junk > 0 {
		x.bad(fmt.Sprintf("base64 with %d invalid bytes", d.junk))
	}
	if isHTML && cs == "" {
		// RFC 2854 §4 allows the charset in a <meta> instead.
		if _, name, certain := htmlcharset.DetermineEncoding(b, "text/html"); certain {
			cs = name
		}
		if tail != nil {
			tail.cs = cs
		}
	}
	return toUTF8(b, cs), tail
}

// toUTF8 converts b from the declared charset, by the WHATWG label table
// (filters.DecodeCharset: "iso-8859-1" is windows-1252, as in every mail
// client). Parts that declare no charset, an unknown one, US-ASCII or
// UTF-8 are read as UTF-8 when valid and as windows-1252 otherwise: the
// usual mislabelling, and what WHATWG's table makes of US-ASCII (RFC 2045
// §5.2's default) anyway.
func toUTF8(b []byte, cs string) []byte {
	cs = strings.ToLower(strings.Trim(cs, `" `))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
	default:
		if out, err := filters.DecodeCharset(cs, b); err == nil {
			return out
		}
	}
	if utf8.Valid(b) {
		return b
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	return out
}

// imagePart records an image part: its Content-ID, decoded size and
// hash, and when it is among the first content.max_hashed_images and
// small enough, its perceptual hash.
func (x *extractor) imagePart(h textproto.Header, dparams map[string]string, cte string, body io.Reader) {
	src := ""
	if cid := strings.Trim(strings.TrimSpace(h.Get("Content-Id")), "<>"); cid != "" {
		src = "cid:" + cid
	} else if name := decodeWords(dparams["filename"]); name != "" {
		src = "part:" + name
	} else {
		src = "part:" + strconv.Itoa(x.parts)
	}
	max := min(x.cfg.MaxImageBytes, x.budget())
	img := filters.Image{Kind: "inline", Src: src}
	if max > 0 {
		rp := x.readPicture(io.LimitReader(x.decoder(cte, body), max+1))
		defer rp.release()
		n, err := rp.n, rp.err
		if err != nil {
			x.bad("image part: " + err.Error())
		}
		x.decoded += min(n, max)
		switch {
		case n <= max && err == nil:
			img.Size = n
			img.SHA256 = hex.EncodeToString(rp.sum[:])
			if rp.kept != nil {
				x.picture(&img, rp.kept.Bytes(), rp.sum)
			}
		case n > max && max < x.cfg.MaxImageBytes:
			x.limit(SymLimitSize, fmt.Sprintf("more than %d decoded bytes", x.cfg.MaxDecodedBytes))
			x.stopped = true
		case n > max:
			// Listed without hash (a partial hash would identify nothing)
			// and with the declared size only (RFC 2183 §2.7), since the
			// real one is unknown without reading it all.
			x.limit(SymLimitSize, fmt.Sprintf("image larger than %d bytes not hashed", max))
			if d, err := strconv.ParseInt(dparams["size"], 10, 64); err == nil && d > 0 {
				img.Size = d
			}
		}
	}
	x.addImage(img)
}

// pictureRead is an image's bytes read through their SHA-256, and the
// bytes themselves when the image may be decoded.
type pictureRead struct {
	n   int64
	sum [sha256.Size]byte
	err error
	// kept holds the bytes when they may be decoded: the image is among
	// the first max_hashed_images and at most max_hash_bytes. Nil
	// otherwise.
	kept *bytes.Buffer
	pool bool
}

// pictureBuffers recycles the buffers pictures are read into: most images
// of a campaign are in the hasher's cache and their bytes are dropped at
// once, so a buffer per image would be garbage per message.
var pictureBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readPicture reads r to its end through SHA-256, keeping the bytes when
// the image may be decoded. Release the result when done with kept.
func (x *extractor) readPicture(r io.Reader) pictureRead {
	var out pictureRead
	h := sha256.New()
	var w io.Writer = h
	var buf *bytes.Buffer
	if x.wantPicture() {
		buf = pictureBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		out.pool = true
		w = io.MultiWriter(h, &limitedWriter{w: buf, n: int(x.cfg.MaxHashBytes) + 1})
	}
	out.n, out.err = io.Copy(w, r)
	h.Sum(out.sum[:0])
	if buf != nil && out.n <= x.cfg.MaxHashBytes {
		out.kept = buf
	} else if buf != nil {
		pictureBuffers.Put(buf)
		out.pool = false
	}
	return out
}

// release returns the buffer to the pool; buffers grown past 4 MiB are
// left to the collector.
func (p *pictureRead) release() {
	if p.pool && p.kept != nil && p.kept.Cap() <= 4<<20 {
		pictureBuffers.Put(p.kept)
	}
	p.kept, p.pool = nil, false
}

// wantPicture reports whether the next image may be decoded, for a
// perceptual hash or for QR codes.
func (x *extractor) wantPicture() bool { return x.wantHash() || x.wantQR() }

// wantHash reports whether the next image may be decoded for a perceptual
// hash.
func (x *extractor) wantHash() bool {
	return x.cfg.ImageHashes && x.hashed < x.cfg.MaxHashedImages && x.hasher != nil
}

// picture decodes data (at most content.max_hash_bytes, whose SHA-256 is
// sum) for img's perceptual hash and size. Bytes that are no picture, a
// bomb refused from its header or a decode past its deadline leave img
// with its SHA-256 only.
//
// The same decode serves the QR reader: a picture not remembered by
// either is decoded once for both.
func (x *extractor) picture(img *filters.Image, data []byte, sum [sha256.Size]byte) {
	hash, qr := x.wantHash(), x.wantQR()
	if !hash && !qr {
		return
	}
	var p images.Picture
	var texts []string
	hashDone, qrDone := !hash, !qr
	if hash {
		x.hashed++
		p, hashDone = x.hasher.Lookup(sum)
	}
	if qr {
		x.qrScanned++
		texts, qrDone = x.qr.Cached(sum)
	}
	if !hashDone || !qrDone {
		ctx := x.pictureContext()
		decoded, _, err := decode.Decode(ctx, data, x.cfg.decodeLimits())
		switch {
		case err != nil && !hashDone:
			// The hasher tells (and remembers) why there is no picture.
			p = x.hasher.Hash(ctx, data, sum)
		case err == nil && !hashDone:
			p = x.hasher.HashImage(decoded, sum)
		}
		if !qrDone {
			if err == nil {
				texts = x.qr.Image(decoded)
			}
			if err == nil || ctx.Err() == nil {
				x.qr.Remember(sum, texts)
			}
		}
	}
	if qr {
		x.qrURLs(texts, img.Src)
	}
	if !hash {
		return
	}
	img.Width, img.Height, img.Perceptual = p.Width, p.Height, p.Hash
	if int64(p.Width)*int64(p.Height) >= x.cfg.ImageHeavyMinPixels {
		x.bigImages++
	}
}

// imageNames are the file name extensions of the formats the decoder
// reads, for attachments sent as application/octet-stream.
var imageNames = []string{".png", ".jpg", ".jpeg", ".jpe", ".gif", ".webp", ".bmp"}

func isImageName(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, ext := range imageNames {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// imageKey tells images apart: by Src, and for data: images, whose Src is
// only the media type, by their bytes too.
func imageKey(img filters.Image) string {
	if img.Kind == "data" {
		return img.Src + "#" + img.SHA256
	}
	return img.Src
}

func (x *extractor) addImage(img filters.Image) {
	if i, ok := x.imgSeen[imageKey(img)]; ok {
		// A cid: reference seen in HTML first gets the part's size and
		// hashes.
		if x.images[i].SHA256 == "" && img.SHA256 != "" {
			seen := &x.images[i]
			seen.Size, seen.SHA256 = img.Size, img.SHA256
			seen.Width, seen.Height, seen.Perceptual = img.Width, img.Height, img.Perceptual
		}
		return
	}
	if len(x.images) >= x.cfg.MaxImages {
		x.imgLost++
		return
	}
	x.imgSeen[imageKey(img)] = len(x.images)
	x.images = append(x.images, img)
}

// text extracts links from plain text and, when visible, keeps the text.
func (x *extractor) text(s, source string, visible bool) {
	if visible {
		x.keepText(s)
	}
	x.links(s, source, "")
}

// links adds the links written in s. Their text is anchor, the text of
// the anchor they sit behind (a javascript: href), or else the link as it
// is written, which is what the reader sees of it.
func (x *extractor) links(s, source, anchor string) {
	for _, f := range urlcheck.ExtractTextLimit(s, x.cfg.MaxURLs) {
		// Addresses written "user (at) example (dot) org" are a courtesy
		// against harvesters, common in legitimate mail; defanged URLs are not.
		if f.Obfuscated && f.Kind != urlcheck.KindEmail {
			x.note(&x.obfuscated, f.Text)
		}
		text := anchor
		if text == "" && writtenOut(source) {
			text = capText(strings.Join(strings.Fields(f.Text), " "), maxLinkText)
		}
		x.addURL(f.URL, f.Kind == urlcheck.KindEmail, source, text)
	}
}

func (x *extractor) keepText(s string) { appendCapped(&x.kept, s, '\n', x.cfg.MaxTextBytes) }

// keepHidden keeps invisible text for Facts.Content.HiddenText, up to a
// quarter of max_text_bytes.
func (x *extractor) keepHidden(s string) {
	appendCapped(&x.hiddenText, s, ' ', x.cfg.MaxTextBytes/4)
}

// textBuffer is a bytes.Buffer or a strings.Builder.
type textBuffer interface {
	Len() int
	WriteByte(byte) error
	WriteString(string) (int, error)
}

// appendCapped appends s to b after sep (when b is not empty), cutting s
// at a rune boundary so that b never exceeds limit bytes.
func appendCapped(b textBuffer, s string, sep byte, limit int) {
	room := limit - b.Len()
	if b.Len() > 0 {
		room-- // the separator
	}
	if room <= 0 {
		return
	}
	if len(s) > room {
		for room > 0 && !utf8.RuneStart(s[room]) {
			room--
		}
		s = s[:room]
	}
	if b.Len() > 0 {
		b.WriteByte(sep)
	}
	b.WriteString(s)
}

func (x *extractor) note(list *[]string, s string) {
	if len(*list) < 3 {
		*list = append(*list, s)
	}
}

// addRaw normalises a URL found in HTML or CSS and adds it.
func (x *extractor) addRaw(raw, source, text string) (urlcheck.URL, bool) {
	raw = strings.TrimSpace(raw)
	if strings.HasPrefix(raw, "//") {
		raw = "http:" + raw // scheme-relative: mail clients fetch it as http(s)
	}
	u, err := urlcheck.Normalize(raw)
	if err != nil {
		return u, false
	}
	switch u.Scheme {
	case "http", "https", "ftp":
		x.addURL(u, false, source, text)
	case "mailto":
		x.addURL(u, true, source, text)
	case "javascript":
		// Links hidden in script URLs are still links, behind the
		// anchor's text.
		x.links(percentDecodeLoose(strings.TrimPrefix(u.String, "javascript:")), source, text)
	default:
		return u, false
	}
	return u, true
}

// addURL records u (and the targets of a redirect wrapper) and its domain.
// text is the anchor text of the link, or the link as written for one
// found in text. A URL keeps the first anchor text it is linked with; a
// link written out in text gives its text only to a URL no anchor names.
func (x *extractor) addURL(u urlcheck.URL, email bool, source, text string) {
	if u.Domain != "" {
		x.domains[u.Domain] = true
	}
	if email {
		return // addresses count as linked domains, not as URLs
	}
	if x.fileSource != "" && source != SourceRedirectParam && source != SourceQR {
		source = x.fileSource
	}
	anchored := !writtenOut(source) && text != ""
	if i, ok := x.urlSeen[u.String]; ok {
		if text != "" && (x.urls[i].Text == "" || anchored && !x.anchored[i]) {
			x.urls[i].Text, x.anchored[i] = text, anchored
			// The targets of a wrapper are where the anchor leads, so
			// they take its text too (only those already recorded: the
			// URL set does not depend on the order links were seen).
			for _, hop := range urlcheck.Unwrap(u) {
				if j, ok := x.urlSeen[hop.String]; ok && (x.urls[j].Text == "" || anchored && !x.anchored[j]) {
					x.urls[j].Text, x.anchored[j] = text, anchored
				}
			}
		}
		return
	}
	if len(x.urls) >= x.cfg.MaxURLs {
		x.urlsLost++
		return
	}
	x.urlSeen[u.String] = len(x.urls)
	x.urls = append(x.urls, filters.URL{URL: u.String, Host: u.Host, Domain: u.Domain, Source: source, Text: text})
	x.anchored = append(x.anchored, anchored)
	if u.Userinfo {
		x.note(&x.userinfo, u.String)
	}
	if u.NumericHost {
		x.note(&x.numeric, u.String)
	}
	if u.IP.IsValid() {
		x.note(&x.ipHosts, u.Host)
	}
	if u.MixedScript {
		x.note(&x.mixed, u.Host)
	}
	if source == SourceRedirectParam {
		return
	}
	for _, hop := range urlcheck.Unwrap(u) {
		x.addURL(hop, false, SourceRedirectParam, text)
	}
}

// writtenOut reports whether links of source are written out in text (a
// text part, the Subject) rather than behind an anchor.
func writtenOut(source string) bool { return source == SourceText || source == SourceSubject }

func (x *extractor) finish() *Result {
	r := &Result{Parts: x.parts}
	c := &r.Content
	c.URLs = x.urls
	if c.URLs == nil {
		c.URLs = []filters.URL{}
	}
	c.Images = x.images
	if c.Images == nil {
		c.Images = []filters.Image{}
	}
	for _, img := range x.images {
		if d := urlcheck.RegistrableDomain(img.Host, urlcheck.Registry); d != "" {
			x.domains[d] = true
		}
	}
	for d := range x.domains {
		c.Domains = append(c.Domains, d)
	}
	sort.Strings(c.Domains)
	c.Attachments = x.attachments
	c.Forms = x.formList
	c.ActiveLinks = x.activeLinks
	c.QRCodes = x.qrCodes
	c.Text = x.kept.String()
	c.HiddenText = x.hiddenText.String()

	add := func(name, detail string) {
		r.Symbols = append(r.Symbols, Spec.Symbol(name, detail))
	}
	for _, sym := range []string{SymLimitParts, SymLimitDepth, SymLimitSize} {
		if d, ok := x.limits[sym]; ok {
			add(sym, d)
		}
	}
	if x.urlsLost > 0 || x.imgLost > 0 {
		add(SymLimitURLs, fmt.Sprintf("%d URLs and %d images beyond the caps", x.urlsLost, x.imgLost))
	}
	if len(x.malformed) > 0 {
		add(SymMIMEMalformed, strings.Join(x.malformed, "; "))
	}
	if x.hidden >= x.cfg.HiddenTextMin {
		var why []string
		for w := range x.hiddenWhy {
			why = append(why, w)
		}
		sort.Strings(why)
		add(SymHiddenText, fmt.Sprintf("%d hidden characters (%s)", x.hidden, strings.Join(why, ", ")))
	}
	if len(x.mismatches) > 0 {
		add(SymPhishMismatch, strings.Join(x.mismatches, "; "))
	}
	if x.hasHTML && !x.hasPlain {
		add(SymHTMLOnly, "")
	}
	visible := 0
	for _, r := range c.Text {
		if !unicode.IsSpace(r) {
			visible++
		}
	}
	// The pictures are the message when there is little text and an
	// image is shown, or a large picture is attached: the reputation
	// check then scores them by what users reported. The shape alone
	// scores only as it did before pictures were decoded (an image shown
	// by HTML): "see attached" with a screenshot is ordinary mail.
	c.ImageHeavy = (x.shownImages > 0 || x.bigImages > 0) && visible < x.cfg.ImageHeavyMaxText
	if x.shownImages > 0 && visible < x.cfg.ImageHeavyMaxText {
		// Listed images include what a reader never sees (tracking
		// pixels, srcset alternatives, unused CSS), so say both counts.
		add(SymImageHeavy, fmt.Sprintf("%d of %d images shown, %d visible characters", x.shownImages, len(x.images), visible))
	}
	if x.pixels > 0 {
		add(SymTrackingPixel, fmt.Sprintf("%d", x.pixels))
	}
	for _, s := range []struct {
		sym  string
		list []string
	}{{SymURLObfuscated, x.obfuscated}, {SymURLUserinfo, x.userinfo}, {SymURLNumeric, x.numeric}, {SymURLIP, x.ipHosts}, {SymURLMixed, x.mixed}} {
		if len(s.list) > 0 {
			add(s.sym, strings.Join(s.list, " "))
		}
	}
	return r
}

// contentType parses a Content-Type leniently: RFC 2045 §5.2 makes a
// missing or unparsable field text/plain, but a type with a broken
// parameter list keeps its type and whatever boundary can be salvaged.
func contentType(v string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return strings.ToLower(mt), params
	}
	head, rest, _ := strings.Cut(v, ";")
	mt = strings.ToLower(strings.TrimSpace(head))
	if !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	params = map[string]string{}
	for _, kv := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := params[k]; !dup {
			params[k] = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return mt, params
}

// decodeWords decodes RFC 2047 encoded words, keeping the raw text when
// they are broken.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return string(toUTF8([]byte(s), ""))
	}
	if d, err := filters.DecodeHeader(s); err == nil {
		return d
	}
	return string(toUTF8([]byte(s), ""))
}

func unfold(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "")
	return strings.TrimSpace(strings.ReplaceAll(v, "\n", ""))
}

func percentDecodeLoose(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
