package bayes

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/vigilmail/vigil/filters"
)

// Token origins: every token carries the prefix of where it came from, so
// "free" in the Subject and "free" in the body are learned separately.
const (
	prefixSubject    = "s:"   // Subject word
	prefixSubjBi     = "sb:"  // Subject word pair
	prefixText       = ""     // visible text word (the bulk: no prefix)
	prefixBigram     = "b:"   // adjacent visible text words
	prefixSkip       = "k:"   // visible text words one apart (OSB-style sparse pair)
	prefixHeader     = "h:"   // selected header facts
	prefixHeaderName = "hn:"  // name of a field the sender wrote
	prefixHost       = "u:"   // URL host
	prefixDomain     = "d:"   // registrable domain of a URL or linked address
	prefixURLPath    = "up:"  // word of a URL path and query
	prefixImage      = "i:"   // image counts and kinds
	prefixShape      = "x:"   // message shape (text length, caps, ...)
	prefixReceived   = "r:"   // shape of the Received chain
	prefixHTML       = "t:"   // HTML tag and tag.attribute names
	prefixFromName   = "fn:"  // word of the From display name
	prefixFooter     = "f:"   // visible text word after a footer delimiter
	prefixFooterBi   = "fb:"  // word pair after a footer delimiter
	prefixHidden     = "hid:" // word of text a reader cannot see
	prefixTLD        = "ut:"  // top-level domain of a URL host
)

// Word limits (runes). Shorter words carry no signal; longer ones are
// mostly encodings, hashes and tracking ids: SpamBayes's "skip" tokens
// keep only their first letter and length bucket.
const (
	minWordLen = 2
	maxWordLen = 20
	// maxTextWords bounds the words (and so the pairs) taken from one
	// text; the token cap bounds what is kept of them.
	maxTextWords = 4000
	// maxParts bounds the MIME structure walk.
	maxParts = 40
	maxDepth = 4
	// maxStructureBytes bounds the body bytes read for the structure.
	maxStructureBytes = 1 << 20
	// maxHeaderNames bounds the field-name tokens of one message.
	maxHeaderNames = 60
)

var folder = cases.Fold()

// Tokenize returns the unique tokens of m, at most max (<= 0: no cap), in
// a stable order: header, subject, URL and shape tokens first (few and
// telling), then text words, then word pairs. It reads the headers,
// m.Facts.Content (written by the content check) and, for the MIME
// structure only, the first parts of the body.
func Tokenize(m *filters.Message, max int) []string {
	return tokenize(m, max, defaultTokenOptions)
}

// tokenOptions select the token families (compared by cross-validation
// in cv_test.go).
type tokenOptions struct {
	bigrams, skips, headerNames, urlPaths bool
	// received: shape of the Received chain (hop count, protocols,
	// unresolved and literal HELOs), never host names or addresses.
	received bool
	// idShapes: character-class shapes of the Message-ID left part and
	// the MIME boundary, and the Date time zone.
	idShapes bool
	// addrShapes: shapes of the From and To addresses and the words of
	// the From display name.
	addrShapes bool
	// html: tag and attribute names of HTML parts; partHeaders: transfer
	// encodings, charsets and dispositions of MIME parts.
	html, partHeaders bool
	// htmlAttrs: with html, also tag.attribute names.
	htmlAttrs bool
	// htmlSet: with html, one token for the set of tag names of a part
	// and one for its size, instead of one token per tag.
	htmlSet bool
	// hidden: words of the HTML text a reader cannot see, learned apart
	// (hid:), and its length.
	hidden bool
	// scripts: the Unicode scripts of the visible letters (x:script:).
	scripts bool
	// tlds: the top-level domain of each URL host (ut:com), which
	// generalises to domains never learned.
	tlds bool
	// listFields: the fields a mailing list manager adds (List-*,
	// X-BeenThere, X-Mailman-Version, Precedence, ...) are not tokens:
	// what the list adds says the list delivered the message, not who
	// wrote it, and would make every spam sent to a list look like ham
	// (SpamAssassin's Bayes ignores them for that reason).
	listFields bool
	// listTag: on list mail, a leading "[list]" tag of the Subject is
	// not a token either.
	listTag bool
	// listFooter: on list mail, the text after the last footer delimiter
	// (the list's footer) is not tokenized.
	listFooter bool
	// noTZ: no Date zone token (SpamAssassin's Bayes ignores Date: it
	// "can provide invalid cues if your spam corpus is older/newer than
	// ham").
	noTZ bool
	// footer: 0 text after a footer delimiter is ordinary text; 1 its
	// words are learned apart (prefix f:); 2 they are dropped.
	footer int
}

// defaultTokenOptions, chosen by cross-validation inside the training
// folders (README.md): adjacent word pairs yes, sparse (skip-one) pairs no
// (less than the noise of 500 spam for twice the keys); the header-derived
// families (Received-chain shape, Message-ID/boundary shapes and Date
// zone, address shapes, MIME part headers) yes; HTML tag tokens and
// footer handling no (more false positives, or no gain).
var defaultTokenOptions = tokenOptions{
	bigrams: true, headerNames: true,
	received: true, idShapes: true, addrShapes: true, partHeaders: true,
	hidden: true, listFields: true,
}

func tokenize(m *filters.Message, max int, o tokenOptions) []string {
	t := tokenSet{max: max, seen: map[string]struct{}{}, o: o}
	headerTokens(&t, m)
	list := (o.listTag || o.listFooter) && listMail(m)
	subj := decodeHeader(m.Header("Subject"))
	if list && o.listTag {
		subj = stripListTag(subj)
	}
	words := splitWords(subj, 64)
	for _, w := range words {
		t.add(prefixSubject + w)
	}
	for i := 1; i < len(words); i++ {
		t.add(prefixSubjBi + words[i-1] + " " + words[i])
	}
	t.add(prefixShape + "subj_caps:" + capsBucket(subj))
	if strings.Contains(subj, "!") {
		t.add(prefixShape + "subj_bang")
	}
	if subj == "" {
		t.add(prefixShape + "subj_empty")
	}
	urlTokens(&t, m.Facts.Content)
	imageTokens(&t, m.Facts.Content.Images)

	text := m.Facts.Content.Text
	t.add(prefixShape + "text_len:" + strconv.Itoa(bucket(utf8.RuneCountInString(text))))
	t.add(prefixShape + "text_caps:" + capsBucket(text))
	footer := ""
	if list && o.listFooter {
		if i := footerStart(text); i >= 0 {
			text = text[:i]
		}
	}
	if o.footer > 0 {
		if i := footerStart(text); i >= 0 {
			text, footer = text[:i], text[i:]
			t.add(prefixShape + "footer")
		}
	}
	textTokens(&t, text, prefixText, prefixBigram, maxTextWords)
	if o.scripts {
		scriptTokens(&t, text)
	}
	if o.hidden && m.Facts.Content.HiddenText != "" {
		hid := m.Facts.Content.HiddenText
		t.add(prefixShape + "hidden_len:" + strconv.Itoa(bucket(utf8.RuneCountInString(hid))))
		for _, w := range splitWords(hid, maxTextWords/4) {
			t.add(prefixHidden + w)
		}
	}
	if footer != "" && o.footer == 1 {
		textTokens(&t, footer, prefixFooter, prefixFooterBi, maxTextWords/4)
	}
	return t.list
}

func textTokens(t *tokenSet, text, word, pair string, max int) {
	words := splitWords(text, max)
	for _, w := range words {
		t.add(word + w)
	}
	for i := 1; i < len(words); i++ {
		if t.o.bigrams {
			t.add(pair + words[i-1] + " " + words[i])
		}
		if i >= 2 && t.o.skips {
			t.add(prefixSkip + words[i-2] + " " + words[i])
		}
	}
}

// footerLines is how far from the end of the text a footer delimiter is
// looked for.
const footerLines = 25

// footerStart returns the offset in text of the earliest footer delimiter
// line among its last footerLines lines, -1 when there is none. A
// delimiter is the signature separator "-- " (RFC 3676 §4.3) or a line
// that begins with ten or more of '_', '-', '=', '*' or '~' (what mailing
// list managers put above their footers: Mailman's underscores, Yahoo!
// Groups' "------------------------ Yahoo! Groups Sponsor").
func footerStart(text string) int {
	pos := -1
	end := len(text)
	for n := 0; n < footerLines && end > 0; n++ {
		start := strings.LastIndexByte(text[:end], '\n') + 1
		line := strings.TrimRight(text[start:end], "\r\n")
		if isDelimiter(line) && start > 0 {
			pos = start
		}
		end = start - 1
		if end < 0 {
			break
		}
	}
	return pos
}

func isDelimiter(line string) bool {
	if line == "-- " || line == "--" {
		return true
	}
	n := 0
	for n < len(line) && strings.IndexByte("_-=*~", line[n]) >= 0 {
		n++
	}
	return n >= 10
}

type tokenSet struct {
	o    tokenOptions
	max  int
	seen map[string]struct{}
	list []string
}

func (t *tokenSet) add(tok string) {
	if t.max > 0 && len(t.list) >= t.max {
		return
	}
	if _, ok := t.seen[tok]; ok {
		return
	}
	t.seen[tok] = struct{}{}
	t.list = append(t.list, tok)
}

// headerTokens: sender-controlled header facts. The names and values of
// trace fields (Received, Return-Path, Delivered-To) are left out: they
// describe our delivery, not the sender's message, and would teach the
// classifier our own relays. Only the shape of the Received chain is
// taken (receivedTokens): our own hops have the same shape for spam and
// ham, so their tokens stay neutral.
func headerTokens(t *tokenSet, m *filters.Message) {
	from := addrDomain(m.Header("From"))
	t.add(prefixHeader + "from:" + orNone(from))
	if rt := m.Header("Reply-To"); rt != "" {
		d := addrDomain(rt)
		t.add(prefixHeader + "replyto:" + orNone(d))
		if d != from {
			t.add(prefixHeader + "replyto_differs")
		}
	}
	// RFC 5322 §3.6.4: msg-id is "<" id-left "@" id-right ">"; id-right
	// is usually the generating host's domain.
	mid := m.Header("Message-ID")
	if mid == "" {
		t.add(prefixHeader + "msgid:missing")
	} else {
		_, right, ok := strings.Cut(strings.Trim(mid, "<> \t"), "@")
		right = strings.ToLower(strings.TrimSpace(right))
		if !ok || right == "" {
			t.add(prefixHeader + "msgid:malformed")
		} else {
			t.add(prefixHeader + "msgid:" + lastLabels(right, 2))
			if from != "" && lastLabels(right, 2) == lastLabels(from, 2) {
				t.add(prefixHeader + "msgid_from_match")
			}
		}
	}
	mailer := m.Header("X-Mailer")
	if mailer == "" {
		mailer = m.Header("User-Agent")
	}
	t.add(prefixHeader + "mailer:" + mailerFamily(mailer))
	if m.Header("Date") == "" {
		t.add(prefixHeader + "date:missing")
	}
	if strings.Contains(m.Header("To"), ",") || len(m.HeaderValues("To")) > 1 {
		t.add(prefixHeader + "to:many")
	}
	for _, name := range []string{"Precedence", "X-Priority", "Importance"} {
		if t.o.listFields && listField(strings.ToLower(name)) {
			continue
		}
		if v := m.Header(name); v != "" {
			t.add(prefixHeader + strings.ToLower(name) + ":" + capLen(strings.ToLower(strings.Fields(v + " ")[0]), 20))
		}
	}
	// Which fields the sender's software wrote is a signature of that
	// software and of the kind of mail (In-Reply-To and References of a
	// conversation, List-* of a mailing list, X-MSMail-Priority of a
	// bulk mailer), as SpamBayes's "header:Name:1" tokens.
	names := 0
	for _, h := range m.Headers {
		name := strings.ToLower(h.Name)
		if !t.o.headerNames || traceField(name) || names >= maxHeaderNames || (t.o.listFields && listField(name)) {
			continue
		}
		names++
		t.add(prefixHeaderName + capLen(name, 40))
	}
	structureTokens(t, m)
	if t.o.received {
		receivedTokens(t, m)
	}
	if t.o.addrShapes {
		addrTokens(t, m)
	}
	if t.o.idShapes {
		if mid != "" {
			left, _, _ := strings.Cut(strings.Trim(mid, "<> \t"), "@")
			t.add(prefixHeader + "msgid_shape:" + shape(left, 12))
		}
		if _, params, err := mime.ParseMediaType(m.Header("Content-Type")); err == nil && params["boundary"] != "" {
			t.add(prefixHeader + "boundary:" + shape(params["boundary"], 12))
		}
		if d := m.Header("Date"); d != "" && !t.o.noTZ {
			f := strings.Fields(d)
			for i := len(f) - 1; i >= 0; i-- {
				if z := f[i]; len(z) == 5 && (z[0] == '+' || z[0] == '-') {
					t.add(prefixHeader + "tz:" + z)
					break
				}
			}
		}
	}
}

// addrTokens: the shape of the From address's local part (bulk senders
// and forgers write random or numbered local parts), the words of its
// display name (prefix "fn:"), and whether To is undisclosed, missing or
// the same as From.
func addrTokens(t *tokenSet, m *filters.Message) {
	from := m.Header("From")
	if a, err := mail.ParseAddress(decodeHeader(from)); err == nil {
		local, _, _ := strings.Cut(a.Address, "@")
		t.add(prefixHeader + "from_local:" + shape(local, 8))
		for _, w := range splitWords(a.Name, 8) {
			t.add(prefixFromName + w)
		}
		if a.Name == "" {
			t.add(prefixHeader + "from_noname")
		}
	} else if from != "" {
		t.add(prefixHeader + "from:unparsed")
	}
	to := m.Header("To")
	switch {
	case to == "":
		t.add(prefixHeader + "to:missing")
	case strings.Contains(strings.ToLower(to), "undisclosed"):
		t.add(prefixHeader + "to:undisclosed")
	case from != "" && addrOf(to) == addrOf(from):
		t.add(prefixHeader + "to:from")
	}
	if m.Header("Cc") != "" {
		t.add(prefixHeader + "cc")
	}
}

func addrOf(v string) string {
	if a, err := mail.ParseAddress(v); err == nil {
		return strings.ToLower(a.Address)
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// shape maps s to the runs of its character classes: "d" digits, "a"
// lower-case letters, "A" upper-case, other bytes as they are, at most
// max runs ("20020822113407.GA1234" -> "d.Ad"): mail software writes
// Message-IDs and boundaries of a recognisable shape.
func shape(s string, max int) string {
	var b strings.Builder
	last := byte(0)
	runs := 0
	for i := 0; i < len(s) && runs < max; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c = 'd'
		case c >= 'a' && c <= 'z':
			c = 'a'
		case c >= 'A' && c <= 'Z':
			c = 'A'
		case c < 0x20 || c >= 0x7f:
			c = '?'
		}
		if c != last {
			b.WriteByte(c)
			runs++
			last = c
		}
	}
	return b.String()
}

// receivedTokens: the shape of the Received chain (RFC 5321 §4.4), never
// its host names or addresses: the number of hops, and for the hops the
// protocols ("with ESMTP", "with SMTP", "with HTTP"), HELO names that are
// address literals or carry no dot, relays that could not resolve the
// client ("unknown"), qmail's "invoked from network". The earliest hop
// (the bottom field, nearest the sender) is also tokenised apart.
func receivedTokens(t *tokenSet, m *filters.Message) {
	var rs []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, "Received") {
			rs = append(rs, h.Value)
		}
	}
	t.add(prefixReceived + "hops:" + strconv.Itoa(bucket(len(rs))))
	for i, v := range rs {
		if i >= 20 {
			break
		}
		for _, f := range hopShape(v) {
			t.add(prefixReceived + f)
			if i == len(rs)-1 {
				t.add(prefixReceived + "first:" + f)
			}
		}
	}
}

func hopShape(v string) []string {
	v = strings.ToLower(capLen(v, 1000))
	var out []string
	f := strings.Fields(v)
	for i, w := range f {
		switch {
		case w == "with" && i+1 < len(f):
			out = append(out, "with:"+capLen(strings.Trim(f[i+1], ";(),"), 12))
		case w == "from" && i == 0 && i+1 < len(f):
			helo := strings.Trim(f[i+1], "()")
			switch {
			case strings.HasPrefix(helo, "["):
				out = append(out, "helo:literal")
			case helo == "unknown":
				out = append(out, "helo:unknown")
			case !strings.Contains(helo, "."):
				out = append(out, "helo:nodot")
			}
		}
	}
	if strings.Contains(v, "(unknown [") || strings.Contains(v, "from unknown") {
		out = append(out, "unknown")
	}
	if strings.Contains(v, "invoked from network") {
		out = append(out, "qmail_network")
	}
	if !strings.HasPrefix(strings.TrimSpace(v), "from") {
		out = append(out, "nofrom")
	}
	return out
}

// listField reports the fields mailing list managers add (RFC 2369
// List-*, RFC 2919 List-Id, Mailman's X-BeenThere and X-Mailman-Version,
// the Precedence and Errors-To of list software, resent and original
// fields of gatewayed mail): the list of SpamAssassin's Bayes
// IGNORED_HDRS, plus Precedence and Errors-To.
func listField(name string) bool {
	switch name {
	case "precedence", "errors-to", "sender", "x-sender", "mailing-list", "x-mailing-list", "x-loop",
		"x-beenthere", "x-mailman-version", "mail-followup-to", "x-egroups-return", "x-egroups-from",
		"x-mdmailing-list", "x-xemacs-list", "x-unsub", "x-unsubscribe":
		return true
	}
	for _, p := range []string{"list-", "x-list", "resent-", "x-resent-", "original-", "x-original-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// listMail reports a message a mailing list delivered: it has a List-Id
// (RFC 2919) or another RFC 2369 List-* field, or Mailman's X-BeenThere.
func listMail(m *filters.Message) bool {
	for _, h := range m.Headers {
		n := strings.ToLower(h.Name)
		if strings.HasPrefix(n, "list-") || n == "x-beenthere" || n == "mailing-list" || n == "x-mailing-list" {
			return true
		}
	}
	return false
}

// stripListTag removes the "[list-name]" tag list managers put at the
// start of the Subject (after any "Re:").
func stripListTag(subj string) string {
	s := strings.TrimSpace(subj)
	prefix := ""
	for {
		l := strings.ToLower(s)
		if strings.HasPrefix(l, "re:") || strings.HasPrefix(l, "fw:") {
			prefix += s[:3] + " "
			s = strings.TrimSpace(s[3:])
			continue
		}
		if strings.HasPrefix(l, "fwd:") {
			prefix += s[:4] + " "
			s = strings.TrimSpace(s[4:])
			continue
		}
		break
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 && i <= 40 {
			return prefix + strings.TrimSpace(s[i+1:])
		}
	}
	return subj
}

// traceField reports fields that describe the delivery rather than the
// sender's message (RFC 5321 §4.4 trace fields, what receiving MTAs,
// filters and mail clients add): they would teach the classifier our own
// relays and the habits of the reporting user's mail client.
func traceField(name string) bool {
	switch name {
	case "received", "return-path", "delivered-to", "delivery-date", "envelope-to", "x-original-to",
		"authentication-results", "received-spf", "x-status", "x-keywords", "x-uid", "x-uidl", "status",
		"x-apparently-to", "x-envelope-to", "x-delivered-to", "lines", "content-length", "x-original-date",
		"x-mail-from", "x-sieve", "x-mailscanner", "x-virus-scanned", "x-virus-status", "x-spam", "x-originalarrivaltime":
		return true
	}
	return strings.HasPrefix(name, "x-spam-") || strings.HasPrefix(name, "arc-") ||
		strings.HasPrefix(name, "x-vigil") || strings.HasPrefix(name, "x-virus-") || strings.HasPrefix(name, "x-mailscanner")
}

// structureTokens add the Content-Type structure of the message (RFC 2045
// §5, RFC 2046 §5.1): the top type with its charset and transfer encoding,
// and the types of the parts, e.g. "multipart/alternative(text/plain,text/html)".
func structureTokens(t *tokenSet, m *filters.Message) {
	mt, params, err := mime.ParseMediaType(m.Header("Content-Type"))
	if err != nil {
		if m.Header("Content-Type") == "" {
			mt = "none"
		} else {
			mt = "malformed"
		}
	}
	t.add(prefixHeader + "ct:" + mt)
	if cs := strings.ToLower(params["charset"]); cs != "" {
		t.add(prefixHeader + "charset:" + capLen(cs, 30))
	}
	if cte := strings.ToLower(m.Header("Content-Transfer-Encoding")); cte != "" {
		t.add(prefixHeader + "cte:" + capLen(cte, 30))
	}
	if mt == "text/html" && t.o.html && m.Body != nil {
		htmlTokens(t, m.Body.Reader(), m.Header("Content-Transfer-Encoding"))
	}
	if !strings.HasPrefix(mt, "multipart/") || m.Body == nil || params["boundary"] == "" {
		return
	}
	budget := maxParts
	if root := m.Facts.Content.MIME; root != nil && root.Split && !t.o.html {
		// The content check already walked the tree: render it instead of
		// parsing the body a second time.
		s := t.structureOf(root, 0, &budget)
		t.add(prefixHeader + "mime:" + capLen(s, 120))
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '(' || r == ')' || r == ',' }) {
			t.add(prefixHeader + "part:" + part)
		}
		return
	}
	// The walk reads at most maxStructureBytes of the body: the parts
	// that tell a message's kind come first, and an attachment of many
	// megabytes must not make scoring cost its size.
	s := t.structure(io.LimitReader(m.Body.Reader(), maxStructureBytes), mt, params["boundary"], 0, &budget)
	t.add(prefixHeader + "mime:" + capLen(s, 120))
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '(' || r == ')' || r == ',' }) {
		t.add(prefixHeader + "part:" + part)
	}
}

// structureOf renders a multipart node of the content check's MIME tree
// the way structure renders a body it parses: same caps, same tokens.
func (t *tokenSet) structureOf(n *filters.MIMEPart, depth int, budget *int) string {
	if depth >= maxDepth {
		return n.Type + "(...)"
	}
	var kids []string
	for _, c := range n.Parts {
		if *budget <= 0 {
			break
		}
		if c.Type == "" {
			continue // not walked (content caps)
		}
		*budget--
		pt := c.Type
		if strings.HasPrefix(pt, "multipart/") && c.Split {
			pt = t.structureOf(c, depth+1, budget)
		}
		if t.o.partHeaders {
			if c.CTE != "" {
				t.add(prefixHeader + "part_cte:" + capLen(c.CTE, 30))
			}
			if c.Charset != "" {
				t.add(prefixHeader + "part_charset:" + capLen(c.Charset, 30))
			}
			if c.Disposition != "" {
				t.add(prefixHeader + "part_disp:" + capLen(c.Disposition, 20))
			}
		}
		kids = append(kids, pt)
	}
	return n.Type + "(" + strings.Join(kids, ",") + ")"
}

func (t *tokenSet) structure(r io.Reader, mt, boundary string, depth int, budget *int) string {
	if depth >= maxDepth {
		return mt + "(...)"
	}
	mr := multipart.NewReader(r, boundary)
	var kids []string
	for *budget > 0 {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		*budget--
		pt, pp, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			pt = "text/plain" // RFC 2045 §5.2 default
		}
		if strings.HasPrefix(pt, "multipart/") && pp["boundary"] != "" {
			pt = t.structure(p, pt, pp["boundary"], depth+1, budget)
		}
		if t.o.partHeaders {
			if cte := strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))); cte != "" {
				t.add(prefixHeader + "part_cte:" + capLen(cte, 30))
			}
			if cs := strings.ToLower(pp["charset"]); cs != "" {
				t.add(prefixHeader + "part_charset:" + capLen(cs, 30))
			}
			if d := strings.ToLower(p.Header.Get("Content-Disposition")); d != "" {
				disp, _, _ := strings.Cut(d, ";")
				t.add(prefixHeader + "part_disp:" + capLen(strings.TrimSpace(disp), 20))
			}
		}
		if pt == "text/html" && t.o.html {
			// multipart.Reader already decoded quoted-printable.
			cte := p.Header.Get("Content-Transfer-Encoding")
			if strings.EqualFold(strings.TrimSpace(cte), "quoted-printable") {
				cte = ""
			}
			htmlTokens(t, p, cte)
		}
		kids = append(kids, pt)
	}
	return mt + "(" + strings.Join(kids, ",") + ")"
}

// maxHTMLBytes bounds the decoded HTML read for tag tokens.
const maxHTMLBytes = 64 << 10

// htmlTokens add the tag names ("t:font") and tag-attribute names
// ("t:font.color") of an HTML part (RFC 2854), decoded from its transfer
// encoding (RFC 2045 §6): how a message is marked up is a signature of
// the software that wrote it. Values are left out, except that the
// element names of comments, scripts and styles are counted like tags.
func htmlTokens(t *tokenSet, r io.Reader, cte string) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r) // skips CR and LF
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	b, _ := io.ReadAll(io.LimitReader(r, maxHTMLBytes))
	if t.o.htmlSet {
		tags := map[string]struct{}{}
		htmlTags(b, func(tag string) { tags[tag] = struct{}{} })
		list := make([]string, 0, len(tags))
		for tag := range tags {
			list = append(list, tag)
		}
		sort.Strings(list)
		t.add(prefixHTML + "set:" + capLen(strings.Join(list, ","), 200))
		t.add(prefixHTML + "distinct:" + strconv.Itoa(bucket(len(list))))
		return
	}
	n := 0
	for i := 0; i < len(b) && n < maxHTMLTokens; i++ {
		if b[i] != '<' {
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '/' {
			j++
		}
		if j+2 < len(b) && b[j] == '!' && b[j+1] == '-' && b[j+2] == '-' {
			t.add(prefixHTML + "comment")
			n++
			continue
		}
		k := j
		for k < len(b) && k-j < 12 && isAlnum(b[k]) {
			k++
		}
		if k == j {
			continue
		}
		tag := strings.ToLower(string(b[j:k]))
		t.add(prefixHTML + tag)
		n++
		// attribute names up to '>'
		for k < len(b) && b[k] != '>' && b[k] != '<' && n < maxHTMLTokens && t.o.htmlAttrs {
			if b[k] == '"' || b[k] == '\'' {
				q := b[k]
				k++
				for k < len(b) && b[k] != q && k-i < 4096 {
					k++
				}
				k++
				continue
			}
			if isAlnum(b[k]) && (b[k-1] == ' ' || b[k-1] == '\t' || b[k-1] == '\n' || b[k-1] == '\r' || b[k-1] == '"' || b[k-1] == '\'') {
				a := k
				for k < len(b) && k-a < 16 && (isAlnum(b[k]) || b[k] == '-') {
					k++
				}
				t.add(prefixHTML + tag + "." + strings.ToLower(string(b[a:k])))
				n++
				continue
			}
			k++
		}
		i = k - 1
	}
}

// htmlTags calls f with the lower-cased name of every tag of b.
func htmlTags(b []byte, f func(string)) {
	for i := 0; i < len(b); i++ {
		if b[i] != '<' {
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '/' {
			j++
		}
		k := j
		for k < len(b) && k-j < 12 && isAlnum(b[k]) {
			k++
		}
		if k > j {
			f(strings.ToLower(string(b[j:k])))
		}
		i = k - 1
	}
}

// maxHTMLTokens bounds the tag tokens of one HTML part.
const maxHTMLTokens = 400

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func urlTokens(t *tokenSet, c filters.Content) {
	hosts := 0
	for _, u := range c.URLs {
		h := strings.ToLower(strings.TrimSuffix(u.Host, "."))
		if h == "" {
			continue
		}
		hosts++
		t.add(prefixHost + capLen(h, 80))
		if t.o.urlPaths {
			if _, rest, ok := strings.Cut(u.URL, "://"); ok {
				if i := strings.IndexAny(rest, "/?"); i >= 0 {
					for _, w := range splitWords(rest[i:], 20) {
						t.add(prefixURLPath + w)
					}
				}
			}
		}
		if u.Domain != "" {
			t.add(prefixDomain + capLen(strings.ToLower(u.Domain), 80))
		}
		if t.o.tlds {
			tld := h[strings.LastIndexByte(h, '.')+1:]
			if tld != "" && strings.Trim(tld, "0123456789[]:") == tld {
				t.add(prefixTLD + capLen(tld, 30))
			} else {
				t.add(prefixTLD + "#literal")
			}
		}
		if hosts >= 50 {
			break
		}
	}
	for i, d := range c.Domains {
		if i >= 50 {
			break
		}
		t.add(prefixDomain + capLen(strings.ToLower(d), 80))
	}
	t.add(prefixShape + "urls:" + strconv.Itoa(bucket(len(c.URLs))))
}

// scriptTokens names the Unicode scripts that make up at least a tenth of
// the first letters of the visible text: x:script:latin, x:script:hangul.
// A language the learned mail never used says something even when none
// of its words were learned.
func scriptTokens(t *tokenSet, text string) {
	counts := map[string]int{}
	letters := 0
	for _, r := range text {
		if !unicode.IsLetter(r) {
			continue
		}
		letters++
		counts[scriptOf(r)]++
		if letters >= 4000 {
			break
		}
	}
	for _, s := range scriptTables {
		if n := counts[s.name]; n > 0 && n*10 >= letters {
			t.add(prefixShape + "script:" + s.name)
		}
	}
	if n := counts["other"]; n > 0 && n*10 >= letters {
		t.add(prefixShape + "script:other")
	}
}

var scriptTables = []struct {
	name  string
	table *unicode.RangeTable
}{
	{"latin", unicode.Latin}, {"cyrillic", unicode.Cyrillic}, {"greek", unicode.Greek},
	{"han", unicode.Han}, {"hangul", unicode.Hangul}, {"hiragana", unicode.Hiragana},
	{"katakana", unicode.Katakana}, {"arabic", unicode.Arabic}, {"hebrew", unicode.Hebrew},
	{"thai", unicode.Thai}, {"devanagari", unicode.Devanagari},
}

func scriptOf(r rune) string {
	if r < 0x80 {
		return "latin"
	}
	for _, s := range scriptTables {
		if unicode.Is(s.table, r) {
			return s.name
		}
	}
	return "other"
}

func imageTokens(t *tokenSet, imgs []filters.Image) {
	kinds := map[string]int{}
	for _, img := range imgs {
		kinds[capLen(strings.ToLower(img.Kind), 20)]++
	}
	t.add(prefixImage + "count:" + strconv.Itoa(bucket(len(imgs))))
	for _, k := range []string{"inline", "remote", "css", "data"} {
		if n := kinds[k]; n > 0 {
			t.add(prefixImage + k + ":" + strconv.Itoa(bucket(n)))
		}
	}
}

// splitWords normalises s (NFKC, case-folded) and splits it into words:
// runs of letters, digits and marks with inner apostrophes, dots, dashes
// and commas ("don't", "e-mail", "1,000.00"). Words of ideographic and
// kana scripts, which do not separate words with spaces, become one token
// per character. Numbers are bucketed by shape, over-long words become
// "skip" tokens. At most max words are returned.
func splitWords(s string, max int) []string {
	if s == "" {
		return nil
	}
	s = folder.String(norm.NFKC.String(s))
	var out []string
	var cur []rune
	flush := func() {
		w := strings.Trim(string(cur), "'.-,_")
		cur = cur[:0]
		if w == "" {
			return
		}
		if tok := wordToken(w); tok != "" {
			out = append(out, tok)
		}
	}
	for _, r := range s {
		if len(out) >= max {
			return out
		}
		switch {
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana):
			flush()
			out = append(out, string(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '$' || r == '€' || r == '£':
			if len(cur) < 4*maxWordLen {
				cur = append(cur, r)
			}
		case (r == '\'' || r == '.' || r == '-' || r == ',' || r == '_') && len(cur) > 0:
			cur = append(cur, r)
		default:
			flush()
		}
	}
	if len(out) < max {
		flush()
	}
	return out
}

// wordToken maps a normalised word to its token: "" for noise, a shape for
// numbers ("#4" for four digits, "$#4" for a four-digit amount), a skip
// token for over-long words.
func wordToken(w string) string {
	n := utf8.RuneCountInString(w)
	letters, digits := 0, 0
	for _, r := range w {
		switch {
		case unicode.IsLetter(r):
			letters++
		case unicode.IsDigit(r):
			digits++
		}
	}
	if digits > 0 && (letters == 0 || digits >= 4) {
		// Numbers and ids: the amount of digits says something ("$1,000,000"),
		// the exact value is noise (dates, order numbers, tracking codes).
		cur := ""
		switch {
		case strings.ContainsAny(w, "$€£"):
			cur = "$"
		case letters > 0:
			cur = "id"
		}
		return cur + "#" + strconv.Itoa(min(digits, 12))
	}
	if n < minWordLen {
		return ""
	}
	if n > maxWordLen {
		first, _ := utf8.DecodeRuneInString(w)
		return "skip:" + string(first) + strconv.Itoa(n/10*10)
	}
	return w
}

// bucket maps a count to a power-of-two bucket: 0, 1, 2, 4, 8, ...
func bucket(n int) int {
	if n <= 0 {
		return 0
	}
	b := 1
	for b*2 <= n && b < 1<<20 {
		b *= 2
	}
	return b
}

// capsBucket is the share of upper-case letters among the letters of s,
// in tenths ("none" when s has fewer than 10 letters).
func capsBucket(s string) string {
	letters, upper := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters < 10 {
		return "none"
	}
	return strconv.Itoa(upper * 10 / letters)
}

func decodeHeader(v string) string {
	if strings.Contains(v, "=?") {
		if d, err := filters.DecodeHeader(v); err == nil {
			v = d
		}
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	return v
}

// addrDomain is the lower-cased domain of the first address in a From or
// Reply-To value, "" when there is none.
func addrDomain(v string) string {
	if v == "" {
		return ""
	}
	addr := ""
	if a, err := mail.ParseAddress(v); err == nil {
		addr = a.Address
	} else if as, err := mail.ParseAddressList(v); err == nil && len(as) > 0 {
		addr = as[0].Address
	} else {
		addr = v
		if i := strings.LastIndexByte(addr, '<'); i >= 0 {
			addr = addr[i+1:]
		}
		addr = strings.TrimRight(addr, "> \t")
	}
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return capLen(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(addr[i+1:])), "."), 80)
}

// mailerFamily reduces an X-Mailer or User-Agent value to its product name:
// letters up to the first digit, slash or parenthesis ("Microsoft Outlook
// Express 6.00.2600" -> "microsoft outlook express").
func mailerFamily(v string) string {
	if v == "" {
		return "none"
	}
	v = strings.ToLower(decodeHeader(v))
	if i := strings.IndexFunc(v, func(r rune) bool {
		return unicode.IsDigit(r) || r == '/' || r == '(' || r == '[' || r == ';' || r == ','
	}); i >= 0 {
		v = v[:i]
	}
	v = strings.Join(strings.Fields(strings.Trim(v, " -_.v")), " ")
	if v == "" {
		return "other"
	}
	return capLen(v, 40)
}

// lastLabels returns the last n dot-separated labels of a host name.
func lastLabels(h string, n int) string {
	labels := strings.Split(strings.Trim(capLen(h, 255), "."), ".")
	if len(labels) > n {
		labels = labels[len(labels)-n:]
	}
	return capLen(strings.Join(labels, "."), 80)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// capLen cuts s to at most n bytes at a rune boundary.
func capLen(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
