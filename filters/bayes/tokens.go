package bayes

import (
	"io"
	"mime"
	"mime/multipart"
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
	prefixHeader     = "h:"   // selected header facts
	prefixHeaderName = "hn:"  // name of a field the sender wrote
	prefixHost       = "u:"   // URL host
	prefixDomain     = "d:"   // registrable domain of a URL or linked address
	prefixImage      = "i:"   // image counts and kinds
	prefixShape      = "x:"   // message shape (text length, caps, ...)
	prefixReceived   = "r:"   // shape of the Received chain
	prefixFromName   = "fn:"  // word of the From display name
	prefixHidden     = "hid:" // word of text a reader cannot see
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
// telling), then text words, then word pairs. It reads the headers, the
// identities, m.Facts.Content (written by the content check) and, for the
// MIME structure only when the content check did not walk it, the first
// parts of the body.
//
// The token families are the ones cross-validation inside the training
// folders chose (README.md, with the figures of the families it turned
// down): words and adjacent word pairs of the visible text, the hidden
// text apart, the Subject, URL hosts and domains, the shape of the
// Received chain, of the Message-ID, MIME boundary and addresses, the Date
// zone, the MIME structure with its part headers, and the names of the
// fields the sender wrote, leaving out what mailing lists add.
func Tokenize(m *filters.Message, max int) []string {
	t := newTokenSet(max, len(m.Facts.Content.Text))
	headerTokens(&t, m)
	subj := decodeHeader(m.Header("Subject"))
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
	textTokens(&t, text, maxTextWords)
	if hid := m.Facts.Content.HiddenText; hid != "" {
		t.add(prefixShape + "hidden_len:" + strconv.Itoa(bucket(utf8.RuneCountInString(hid))))
		for _, w := range splitWords(hid, maxTextWords/4) {
			t.add(prefixHidden + w)
		}
	}
	return t.list
}

// textTokens adds the words of text and its adjacent word pairs.
func textTokens(t *tokenSet, text string, max int) {
	words := splitWords(text, max)
	for _, w := range words {
		t.add(prefixText + w)
	}
	for i := 1; i < len(words); i++ {
		t.add(prefixBigram + words[i-1] + " " + words[i])
	}
}

type tokenSet struct {
	max  int
	seen map[string]struct{}
	list []string
}

// newTokenSet sizes the set for a text of textLen bytes: about one word
// and one word pair per six bytes, plus the header tokens. Growing the
// map token by token was a fifth of the tokenizer's time.
func newTokenSet(max, textLen int) tokenSet {
	hint := 64 + textLen/3
	if max > 0 {
		hint = min(hint, max)
	}
	return tokenSet{max: max, seen: make(map[string]struct{}, hint), list: make([]string, 0, hint)}
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
	id := m.Identities()
	from := capLen(id.Author().Domain, 80)
	t.add(prefixHeader + "from:" + orNone(from))
	if m.Header("Reply-To") != "" {
		d := ""
		if len(id.ReplyTo) > 0 {
			d = capLen(id.ReplyTo[0].Domain, 80)
		}
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
		if listField(strings.ToLower(name)) {
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
		if traceField(name) || names >= maxHeaderNames || listField(name) {
			continue
		}
		names++
		t.add(prefixHeaderName + capLen(name, 40))
	}
	structureTokens(t, m)
	receivedTokens(t, m)
	addrTokens(t, m, id)
	if mid != "" {
		left, _, _ := strings.Cut(strings.Trim(mid, "<> \t"), "@")
		t.add(prefixHeader + "msgid_shape:" + shape(left, 12))
	}
	if _, params, err := mime.ParseMediaType(m.Header("Content-Type")); err == nil && params["boundary"] != "" {
		t.add(prefixHeader + "boundary:" + shape(params["boundary"], 12))
	}
	if d := m.Header("Date"); d != "" {
		f := strings.Fields(d)
		for i := len(f) - 1; i >= 0; i-- {
			if z := f[i]; len(z) == 5 && (z[0] == '+' || z[0] == '-') {
				t.add(prefixHeader + "tz:" + z)
				break
			}
		}
	}
}

// addrTokens: the shape of the From address's local part (bulk senders
// and forgers write random or numbered local parts), the words of its
// display name (prefix "fn:"), and whether To is undisclosed, missing or
// the same as From.
func addrTokens(t *tokenSet, m *filters.Message, id *filters.Identities) {
	from := m.Header("From")
	single := id.FromFields == 1 && !id.FromMalformed && len(id.From) == 1
	if single {
		a := id.From[0]
		t.add(prefixHeader + "from_local:" + shape(a.Local, 8))
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
	case single && len(id.To) == 1 && strings.EqualFold(id.To[0].String(), id.From[0].String()):
		t.add(prefixHeader + "to:from")
	}
	if m.Header("Cc") != "" {
		t.add(prefixHeader + "cc")
	}
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
	if !strings.HasPrefix(mt, "multipart/") || m.Body == nil || params["boundary"] == "" {
		return
	}
	budget := maxParts
	if root := m.Facts.Content.MIME; root != nil && root.Split {
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
		if c.CTE != "" {
			t.add(prefixHeader + "part_cte:" + capLen(c.CTE, 30))
		}
		if c.Charset != "" {
			t.add(prefixHeader + "part_charset:" + capLen(c.Charset, 30))
		}
		if c.Disposition != "" {
			t.add(prefixHeader + "part_disp:" + capLen(c.Disposition, 20))
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
		kids = append(kids, pt)
	}
	return mt + "(" + strings.Join(kids, ",") + ")"
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
		if u.Domain != "" {
			t.add(prefixDomain + capLen(strings.ToLower(u.Domain), 80))
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
		case r >= 0x2e80 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana): // these scripts start at U+2E80
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
