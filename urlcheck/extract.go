package urlcheck

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says how a URL was written in text.
type Kind string

const (
	// KindURL is a URL with an explicit scheme (http, https, ftp).
	KindURL Kind = "url"
	// KindDomain is a host without a scheme ("www.example.com/x",
	// "example.co.uk"); it is normalised as http://.
	KindDomain Kind = "domain"
	// KindEmail is an e-mail address, bare or as a mailto: URL; its
	// domain counts as a linked domain.
	KindEmail Kind = "email"
)

// Found is one link found in text.
type Found struct {
	// Text is the link as written (after undoing obfuscation), without
	// surrounding punctuation.
	Text string
	URL  URL
	Kind Kind
	// Obfuscated is true when the link was written defanged
	// ("hxxp://evil[.]example", "evil (dot) example").
	Obfuscated bool
}

// DefaultMaxFound bounds ExtractText's result.
const DefaultMaxFound = 1000

// maxLinkLen bounds one link; longer spans are cut (a hostile 10 MB "URL"
// must not become a 10 MB string in every downstream check).
const maxLinkLen = 4096

// ExtractText finds URLs, scheme-less domains and e-mail addresses in plain
// text. It runs in time linear in len(s) and returns at most
// DefaultMaxFound links, in order of appearance.
func ExtractText(s string) []Found {
	return ExtractTextLimit(s, DefaultMaxFound)
}

// ExtractTextLimit is ExtractText with an explicit bound on the result.
func ExtractTextLimit(s string, max int) []Found {
	t, marks := deobfuscate(s)
	sc := scanner{t: t, marks: marks, max: max}
	sc.run()
	return sc.out
}

type scanner struct {
	t     string
	marks []int // positions in t where deobfuscation replaced something
	out   []Found
	max   int
}

func (sc *scanner) run() {
	t := sc.t
	for i := 0; i < len(t) && len(sc.out) < sc.max; {
		c := t[i]
		if c < 0x80 && !isAlnum(c) && c != '/' && c != '.' && c != '_' && c != '+' && c != '-' && c != '%' {
			i++
			continue
		}
		prev := lastRune(t[:i])
		if isAlpha(c) && !isWordRune(prev) {
			if end, ok := sc.scheme(i); ok {
				i = end
				continue
			}
		}
		if c == '/' && strings.HasPrefix(t[i:], "//") && !isWordRune(prev) && prev != '/' && prev != ':' && prev != '\\' {
			if end, ok := sc.fuzzy(i+2, i, KindDomain, "http:"); ok {
				i = end
				continue
			}
		}
		r, n := utf8.DecodeRuneInString(t[i:])
		if isLocalRune(r) && !isLocalRune(prev) && r != '/' {
			if end, ok := sc.word(i, prev); ok {
				i = end
				continue
			}
		}
		i += n
	}
}

// scheme tries an explicit-scheme URL at i.
func (sc *scanner) scheme(i int) (int, bool) {
	t := sc.t
	rest := t[i:]
	var n int
	switch {
	case hasPrefixFold(rest, "mailto:"):
		return sc.mailto(i)
	case hasPrefixFold(rest, "https:"):
		n = 6
	case hasPrefixFold(rest, "http:"), hasPrefixFold(rest, "ftp:"):
		n = strings.IndexByte(rest, ':') + 1
	default:
		return 0, false
	}
	// Two slashes of either kind: browsers read http:\\host as http://host.
	if len(rest) < n+2 || (rest[n] != '/' && rest[n] != '\\') || (rest[n+1] != '/' && rest[n+1] != '\\') {
		return 0, false
	}
	end := spanEnd(t, i+n+2)
	if end == i+n+2 {
		// A symbol where the host starts ("http://✪df.ws/123"): no URL
		// here, but the rest of the word is not to be re-read as some
		// other domain either (a browser goes to xn--df-oiy.ws, not df.ws).
		if r, _ := utf8.DecodeRuneInString(t[end:]); r >= 0x80 && !unicode.IsSpace(r) {
			for end < len(t) {
				r, n := utf8.DecodeRuneInString(t[end:])
				if unicode.IsSpace(r) || r == '<' || r == '>' {
					break
				}
				end += n
			}
			return end, true
		}
		return 0, false
	}
	// Bound the work per link: a hostile megabyte-long "URL" is read as
	// its first few kilobytes.
	cut := min(end, i+maxLinkLen)
	u, err := Normalize(t[i:cut])
	if err != nil || !plausibleHost(u, hostPart(t[i+n+2:cut])) {
		// Consume the span anyway: a host a browser would reject is not to
		// be re-read as some other domain ("http://✪df.ws" is not df.ws).
		return end, true
	}
	if j, joined, ok := sc.rejoin(i, end, u); ok {
		sc.emitText(i, j, joined.String, joined, KindURL)
		return j, true
	}
	sc.emit(i, end, u, KindURL)
	return end, true
}

// rejoin mends a link that a hard line wrap cut inside a redirect
// target ("https://t.example/r?u=https://simplysale" at the end of a line,
// "ping.zone/x" at the start of the next): when the target in the query
// has no host a reader could reach and the next line starts with what
// completes it, the link is the two lines joined. A link whose targets
// are whole is never joined, so a link at the end of a line followed by
// text stays as it is.
func (sc *scanner) rejoin(i, end int, u URL) (int, URL, bool) {
	t := sc.t
	nl := end
	if nl < len(t) && t[nl] == '\r' {
		nl++
	}
	if nl >= len(t) || t[nl] != '\n' || !cutTarget(u) {
		return 0, URL{}, false
	}
	next := nl + 1
	j := next
	for j < len(t) && j-i < maxLinkLen {
		r, n := utf8.DecodeRuneInString(t[j:])
		if isTerminator(r) && r != '"' && r != '\'' {
			break
		}
		j += n
	}
	j = spanEnd(t[:j], next)
	if j == next {
		return 0, URL{}, false
	}
	joined, err := Normalize(t[i:end] + t[next:j])
	if err != nil || cutTarget(joined) {
		return 0, URL{}, false
	}
	return j, joined, true
}

// cutTarget reports a URL whose query carries a redirect target with a
// one-label host ("https://simplysale"): what a line break inside the
// target's host leaves.
func cutTarget(u URL) bool {
	for _, tgt := range innerTargets(u.String) {
		n, err := Normalize(tgt)
		if err != nil || n.Host == "" {
			continue
		}
		if dotless(n) {
			return true
		}
	}
	return false
}

func (sc *scanner) mailto(i int) (int, bool) {
	t := sc.t
	start := i + len("mailto:")
	end := spanEnd(t, start)
	text := t[i:min(end, i+maxLinkLen)]
	at := strings.IndexByte(text, '@')
	if at < 0 {
		return 0, false
	}
	u, err := Normalize(text)
	if err != nil || u.Host == "" {
		return 0, false
	}
	sc.emit(i, end, u, KindEmail)
	return end, true
}

// word tries an e-mail address or a scheme-less domain starting at i.
func (sc *scanner) word(i int, prev rune) (int, bool) {
	t := sc.t
	k := i
	for k < len(t) {
		r, n := utf8.DecodeRuneInString(t[k:])
		if !isLocalRune(r) || r == '/' {
			break
		}
		k += n
	}
	if k < len(t) && t[k] == '@' && prev != '@' {
		return sc.email(i, k)
	}
	// RFC 3986 has no scheme-less form; like linkify, only accept a bare
	// domain that is not glued to a path, a port, a scheme or an address.
	switch prev {
	case ':', '/', '\\', '@', '.', '-', '_':
		return 0, false
	}
	return sc.fuzzy(i, i, KindDomain, "http://")
}

func (sc *scanner) email(i, at int) (int, bool) {
	t := sc.t
	local := strings.TrimLeft(t[i:at], ".")
	start := at - len(local)
	if local == "" || strings.HasSuffix(local, ".") {
		return 0, false
	}
	h := hostEnd(t, at+1)
	host := strings.TrimRight(t[at+1:h], ".-")
	h = at + 1 + len(host)
	if !validDomainSyntax(host) {
		return 0, false
	}
	if h < len(t) {
		if r, _ := utf8.DecodeRuneInString(t[h:]); isWordRune(r) || r == '@' {
			return 0, false
		}
	}
	ascii, err := domainToASCII(host)
	if err != nil || !hasListedSuffix(ascii) {
		return 0, false
	}
	u, err := Normalize("mailto:" + t[start:h])
	if err != nil {
		return 0, false
	}
	sc.emitText(start, h, t[start:h], u, KindEmail)
	return h, true
}

// fuzzy tries a scheme-less host at hs (the link text starts at start,
// which differs for "//host"), followed by an optional port and path.
func (sc *scanner) fuzzy(hs, start int, kind Kind, prefix string) (int, bool) {
	t := sc.t
	h := hostEnd(t, hs)
	host := t[hs:h]
	host = strings.TrimRight(host, ".")
	h = hs + len(host)
	if !validDomainSyntax(host) {
		return 0, false
	}
	end := h
	if end < len(t) {
		r, _ := utf8.DecodeRuneInString(t[end:])
		if isWordRune(r) || r == '@' || r == '+' || r == '%' {
			return 0, false
		}
	}
	ascii, err := domainToASCII(host)
	if err != nil {
		return 0, false
	}
	isIP := endsInNumber(ascii)
	if isIP {
		// A bare dotted quad is a link only with a port or a path: in mail
		// text "1.2.3.4" is far more often a version than a host.
		if _, err := parseIPv4(ascii); err != nil || strings.Count(ascii, ".") != 3 {
			return 0, false
		}
	} else if !hasListedSuffix(ascii) && !wwwHost(ascii) {
		return 0, false
	}
	if end < len(t) && t[end] == ':' {
		p := end + 1
		for p < len(t) && isDigit(t[p]) {
			p++
		}
		if p > end+1 {
			if p-end-1 > 5 || atoi(t[end+1:p]) > 65535 {
				return 0, false
			}
			end = p
		}
	}
	if end < len(t) && (t[end] == '/' || t[end] == '?' || t[end] == '#') {
		end = spanEnd(t, end)
	}
	if isIP && end == h {
		return 0, false
	}
	if end == h && prefix == "http://" && sentenceJoin(host) {
		return 0, false
	}
	u, err := Normalize(prefix + t[start:min(end, start+maxLinkLen)])
	if err != nil || u.Host == "" {
		return 0, false
	}
	sc.emit(start, end, u, kind)
	return end, true
}

func (sc *scanner) emit(start, end int, u URL, kind Kind) {
	sc.emitText(start, end, sc.t[start:end], u, kind)
}

func (sc *scanner) emitText(start, end int, text string, u URL, kind Kind) {
	if len(text) > maxLinkLen {
		text = text[:maxLinkLen]
	}
	f := Found{Text: text, URL: u, Kind: kind}
	if len(sc.marks) > 0 {
		j := sort.SearchInts(sc.marks, start)
		f.Obfuscated = j < len(sc.marks) && sc.marks[j] < end
	}
	sc.out = append(sc.out, f)
}

// spanEnd returns the end of a URL tail starting at i: up to white space or
// a delimiter, keeping balanced brackets and quotes, without trailing
// punctuation that belongs to the sentence.
func spanEnd(t string, i int) int {
	var stack []byte
	end := i
	quotes, apos := 0, 0
	for end < len(t) {
		r, n := utf8.DecodeRuneInString(t[end:])
		if isTerminator(r) {
			break
		}
		switch r {
		case '(', '[', '{':
			if len(stack) < 64 {
				stack = append(stack, byte(r))
			}
		case ')', ']', '}':
			open := map[rune]byte{')': '(', ']': '[', '}': '{'}[r]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				goto done
			}
			stack = stack[:len(stack)-1]
		case '"':
			quotes++
		case '\'':
			apos++
		}
		end += n
	}
done:
	for end > i {
		c := t[end-1]
		switch {
		case strings.IndexByte(".,;:!?*", c) >= 0:
		case c == '"' && quotes%2 == 1:
			quotes--
		case c == '\'' && apos%2 == 1:
			apos--
		default:
			return end
		}
		end--
	}
	return end
}

func isTerminator(r rune) bool {
	if r < 0x80 {
		return r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == '`'
	}
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r == utf8.RuneError
}

// hostEnd returns the end of a run of host characters at i.
func hostEnd(t string, i int) int {
	for i < len(t) {
		r, n := utf8.DecodeRuneInString(t[i:])
		if !isHostRune(r) {
			break
		}
		i += n
	}
	return i
}

func isHostRune(r rune) bool {
	if r < 0x80 {
		return isAlnum(byte(r)) || r == '-' || r == '.'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// isLocalRune is a character that may appear in the local part of an
// address or in a host (RFC 5322 dot-atom, restricted to what mail text
// actually uses around addresses).
func isLocalRune(r rune) bool {
	return isHostRune(r) || r == '_' || r == '+' || r == '%'
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// wwwHost reports a host written with a "www." label in front, a name and
// an alphabetic top-level label: mail clients (Outlook, Thunderbird,
// Gmail) make such a name a link whatever its top-level domain, so a
// reader can click it even where the Public Suffix List knows no such
// suffix (a new gTLD, a private root).
func wwwHost(ascii string) bool {
	if len(ascii) < 4 || !strings.EqualFold(ascii[:4], "www.") {
		return false
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 3 {
		return false
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if !isAlpha(tld[i]) {
			return strings.HasPrefix(strings.ToLower(tld), "xn--")
		}
	}
	return true
}

// wordTLDs are country-code top-level domains that are also short words
// of the languages mail is written in, the ones a missing space after a
// full stop turns into a "domain" ("sign.in", "log.in", "opt.in").
var wordTLDs = map[string]bool{
	"am": true, "an": true, "as": true, "at": true, "be": true, "by": true, "do": true, "go": true,
	"if": true, "in": true, "is": true, "it": true, "me": true, "my": true, "no": true, "of": true,
	"on": true, "or": true, "so": true, "to": true, "up": true, "us": true, "we": true,
}

// sentenceJoin reports a bare name (no scheme, no "www.", nothing after
// it) that is two words run together by a missing space rather than a
// domain a reader would take for a link:
//   - the top-level label is capitalised after a lower-case one
//     ("reserved.No", "today.Please"): a new sentence, not a TLD, which
//     nobody capitalises inside a name;
//   - two labels, the top-level one a word (wordTLDs) and the first a
//     short word of letters ("sign.in", "check.in"): a phrase. A longer
//     first label ("freebitco.in") is taken for the name it is.
func sentenceJoin(host string) bool {
	if len(host) >= 4 && strings.EqualFold(host[:4], "www.") {
		return false
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return false
	}
	tld, prev := labels[len(labels)-1], labels[len(labels)-2]
	if len(tld) >= 2 && isUpper(tld[0]) && isLowerWord(tld[1:]) && prev != "" && isLower(prev[len(prev)-1]) {
		return true
	}
	if len(labels) == 2 && wordTLDs[tld] && len(prev) <= 6 && isLowerWord(strings.ToLower(prev)) {
		return true
	}
	return false
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// isLowerWord: s is non-empty lower-case ASCII letters.
func isLowerWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLower(s[i]) {
			return false
		}
	}
	return true
}

// validDomainSyntax: at least two labels, none empty, none starting or
// ending with a hyphen (RFC 1123 §2.1 host name syntax).
func validDomainSyntax(host string) bool {
	if !strings.Contains(host, ".") || len(host) > 253*4 {
		return false
	}
	for _, l := range strings.Split(host, ".") {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
	}
	return true
}

// plausibleHost rejects what WHATWG accepts but no mail reader would show
// as a link: empty labels ("http://.example.com") and labels with leading
// hyphens.
func plausibleHost(u URL, raw string) bool {
	if u.Host == "" {
		return false
	}
	if u.IP.IsValid() {
		return true
	}
	for _, l := range strings.Split(u.Host, ".") {
		if l == "" || l[0] == '-' {
			return false
		}
	}
	return raw != ""
}

// hostPart returns the authority's host as written, for plausibility checks.
func hostPart(s string) string {
	if i := strings.IndexAny(s, "/\\?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

func lastRune(s string) rune {
	if s == "" {
		return ' '
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// deobfuscate undoes the common ways links are defanged so that filters
// cannot be dodged by them: hxxp:// for http://, [.] (.) {.} [dot] (dot)
// for ".", [at] (at) [@] for "@", [:] for ":". It returns s unchanged (no
// copy) when there is nothing to undo, and the positions in the result
// where a replacement happened.
func deobfuscate(s string) (string, []int) {
	var b *strings.Builder
	var marks []int
	last := 0
	flush := func(upto int) {
		if b == nil {
			b = &strings.Builder{}
			b.Grow(len(s))
		}
		b.WriteString(s[last:upto])
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case (c == 'h' || c == 'H') && len(s) >= i+4 && (s[i+1]|0x20) == 'x' && (s[i+2]|0x20) == 'x' && (s[i+3]|0x20) == 'p' &&
			(i == 0 || !isAlnum(s[i-1])) && (hasPrefixFold(s[i+4:], "://") || hasPrefixFold(s[i+4:], "s://") || hasPrefixFold(s[i+4:], "[:]") || hasPrefixFold(s[i+4:], "s[:]")):
			flush(i)
			marks = append(marks, b.Len())
			b.WriteString(s[i:i+1] + "tt" + s[i+3:i+4])
			last = i + 4
			i += 3
		case c == '[' || c == '(' || c == '{':
			rep, n, spaced := defang(s[i:])
			if n == 0 {
				continue
			}
			// "example (dot) com": the word forms need letters on both
			// sides, so "(at) the park" stays text.
			pre := i
			for pre > last && s[pre-1] == ' ' && i-pre < 2 {
				pre--
			}
			post := i + n
			for post < len(s) && s[post] == ' ' && post-(i+n) < 2 {
				post++
			}
			if spaced || pre < i || post > i+n {
				if pre == 0 || post >= len(s) || !isAlnum(s[pre-1]) || !isAlnum(s[post]) {
					continue
				}
			}
			flush(pre)
			marks = append(marks, b.Len())
			b.WriteString(rep)
			last = post
			i = post - 1
		}
	}
	if b == nil {
		return s, nil
	}
	b.WriteString(s[last:])
	return b.String(), marks
}

// defang matches a bracketed defanging token at the start of s and returns
// its replacement, its length, and whether it is a spelled-out word form.
func defang(s string) (string, int, bool) {
	closeFor := map[byte]byte{'[': ']', '(': ')', '{': '}'}[s[0]]
	for _, tok := range [...]struct {
		in, out string
		word    bool
	}{{".", ".", false}, {"dot", ".", true}, {"@", "@", false}, {"at", "@", true}, {":", ":", false}, {"://", "://", false}} {
		n := 1 + len(tok.in)
		if len(s) > n && s[n] == closeFor && strings.EqualFold(s[1:n], tok.in) {
			return tok.out, n + 1, tok.word
		}
	}
	return "", 0, false
}
