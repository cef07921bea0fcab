package phishing

import (
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// fold is the form names are compared in: NFKC (fullwidth and
// mathematical letters become plain ones), lower case, then the UTS #39
// skeleton (a Cyrillic "а" or a digit "0" becomes the Latin letter it
// passes for) lower-cased again, so "Μetamаsk", "PayPaI" and "Micros0ft"
// compare equal to the names they imitate. Both sides of a comparison
// are folded.
func fold(s string) string {
	if isASCIILower(s) {
		// The skeleton still maps some ASCII ("0" to "o", "1" to "l",
		// "m" to "rn"); for ASCII it is a table.
		return foldASCII(s)
	}
	// ASCII is lower-cased first (the skeleton reads a capital I as an
	// l), except a capital I after a small letter, which is one
	// ("PayPaI"). Other letters go through the skeleton before
	// lower-casing, which would turn a Greek capital Μ (an M to the eye)
	// into μ (a u), and again after it, so that M and m fold alike.
	return confusables.Skeleton(strings.ToLower(confusables.Skeleton(lowerASCII(norm.NFKC.String(s)))))
}

// foldWords splits text into its words (runs of letters, digits and
// invisible joiners) and folds each: punctuation is split on before the
// skeleton, which would read "|" as "l" ("|BANCO*DO*BRASIL|").
// Zero-width characters inside a word are dropped.
func foldWords(s string) []string {
	raw := strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) && !invisible(r)
	})
	out := raw[:0]
	for _, w := range raw {
		if isASCIILetterDigits(w) {
			out = append(out, foldASCII(lowerASCII(w)))
			continue
		}
		w = strings.Map(func(r rune) rune {
			if invisible(r) {
				return -1
			}
			return r
		}, w)
		out = append(out, words(fold(w))...)
	}
	return out
}

func isASCIILetterDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases ASCII letters, a capital I after a small letter
// becoming an l (as in fold).
func lowerASCII(s string) string {
	lower := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			lower = false
			break
		}
	}
	if lower {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == 'I' && i > 0 && s[i-1] >= 'a' && s[i-1] <= 'z':
			b[i] = 'l'
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// invisible characters take no room where they stand: zero-width
// spaces and joiners, the word joiner, the soft hyphen, the byte order
// mark. Inside a name they split it for a filter and not for a reader.
func invisible(r rune) bool {
	return r >= 0x200b && r <= 0x200d || r == 0x2060 || r == 0xfeff || r == 0x00ad || r == 0x180e
}

// hiddenJoiners reports a word with an invisible character between its
// letters ("V\u200de\u200dnmo").
func hiddenJoiners(s string) bool {
	prevLetter := false
	for _, r := range s {
		switch {
		case invisible(r):
			if prevLetter {
				return true
			}
		case unicode.IsLetter(r):
			prevLetter = true
		default:
			prevLetter = false
		}
	}
	return false
}

// asciiSkeleton is the skeleton of each ASCII character.
var asciiSkeleton = func() (t [128]string) {
	for c := range t {
		t[c] = confusables.Skeleton(string(rune(c)))
	}
	return t
}()

// foldASCII is fold of lower-case ASCII: the skeleton character by
// character (NFD changes no ASCII), without allocating when it changes
// nothing.
func foldASCII(s string) string {
	i := 0
	for i < len(s) && asciiSkeleton[s[i]] == s[i:i+1] {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		b.WriteString(asciiSkeleton[s[i]])
	}
	return b.String()
}

func isASCIILower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] >= 'A' && s[i] <= 'Z' {
			return false
		}
	}
	return true
}

// words splits folded text into its runs of letters and digits.
func words(folded string) []string {
	return strings.FieldsFunc(folded, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// alias is one name of a brand, folded into words.
type alias struct {
	brand  *brandSet
	words  []string
	joined string // the words without spaces
	// plain is the name lower-cased without spaces and not folded,
	// plainLen its length in letters.
	plain    string
	plainLen int
	rank     int // its place in Check.aliases
	// strict: a short name or an ordinary word ("BB", "Ledger", "Visa"):
	// claimed only as a whole sender name, with service words, in
	// brackets, or in "<someone> from <brand>".
	strict bool
}

// claimIn reports whether the folded words ws claim alias a: its words
// appear consecutively, spaced or run together ("Meta Mask", "TrustWallet").
// A strict alias claims only as described on alias.strict; name says ws
// is a sender's display name (the only place a strict alias can claim).
func (a *alias) claimIn(ws []string, name bool) bool {
	for i := range ws {
		if a.claimAt(ws, i, name) {
			return true
		}
	}
	return false
}

// claimAt is claimIn at word i.
func (a *alias) claimAt(ws []string, i int, name bool) bool {
	j, ok := a.matchAt(ws, i)
	if !ok {
		return false
	}
	if !a.strict {
		return true
	}
	if !name {
		return false
	}
	rest := append(append([]string(nil), ws[:i]...), ws[j:]...)
	if allService(rest) {
		return true
	}
	if i > 0 && (ws[i-1] == "frorn" || ws[i-1] == "de" || ws[i-1] == "von") { // "from", folded
		return true
	}
	return j < len(ws) && ws[j] == "via"
}

// matchAt matches the alias at ws[i:], its words concatenated; j is
// where the match ends.
func (a *alias) matchAt(ws []string, i int) (int, bool) {
	rest := a.joined
	j := i
	for j < len(ws) && rest != "" {
		w := ws[j]
		if !strings.HasPrefix(rest, w) {
			return 0, false
		}
		rest = rest[len(w):]
		j++
	}
	return j, rest == ""
}

// foldedService are serviceWords folded as names are ("team" is "tearn").
var foldedService = func() map[string]bool {
	out := map[string]bool{}
	for w := range serviceWords {
		for _, f := range words(fold(w)) {
			out[f] = true
		}
	}
	return out
}()

func allService(ws []string) bool {
	for _, w := range ws {
		if !foldedService[w] && !isNumber(w) && len(w) > 1 {
			return false
		}
	}
	return true
}

func isNumber(w string) bool {
	for _, r := range w {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return w != ""
}

// bracketed reports the alias written in brackets in raw ("[BB] - ...").
func (a *alias) bracketed(raw string) bool {
	for _, open := range []string{"[", "("} {
		close := map[string]string{"[": "]", "(": ")"}[open]
		for rest := raw; ; {
			i := strings.Index(rest, open)
			if i < 0 {
				break
			}
			j := strings.Index(rest[i:], close)
			if j < 0 {
				break
			}
			if strings.Join(foldWords(rest[i+1:i+j]), "") == a.joined {
				return true
			}
			rest = rest[i+j:]
		}
	}
	return false
}

// lookalikeText reports a display name or subject written with letters
// that pass for Latin ones: a word mixing Latin letters with Cyrillic,
// Greek or other letters whose skeleton is Latin ("Μetamаsk", "wаllet"),
// or a word of three or more letters written entirely in styled Latin
// (small capitals, mathematical, fullwidth or enclosed letters: "ʟᴏᴡᴇ's",
// "𝐏𝐚𝐲𝐏𝐚𝐥"). Text wholly in another script is not (it is a language).
// It returns the first such word.
func lookalikeText(s string) string {
	if isASCII(s) {
		// Only the case trick can be written in ASCII.
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) {
			if caseTrick(w) {
				return w
			}
		}
		return ""
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsMark(r) }) {
		var latin, foreign, styled, letters int
		for _, r := range w {
			if !unicode.IsLetter(r) {
				continue
			}
			letters++
			switch {
			case r < 0x80:
				latin++
			case unicode.Is(unicode.Latin, r) && r < 0x250:
				latin++ // accented Latin: a language's own letters
			case isStyled(r):
				styled++
			case passesForLatin(r):
				if unicode.Is(unicode.Latin, r) || unicode.Is(unicode.Common, r) {
					styled++
				} else {
					foreign++
				}
			}
		}
		if latin > 0 && foreign > 0 && latin+foreign == letters {
			return w
		}
		if styled > 0 && letters >= 3 && styled+latin == letters && styled*2 >= letters {
			return w
		}
		if caseTrick(w) {
			return w
		}
	}
	return ""
}

// passesForLatin: r is not ASCII and its skeleton (or NFKC form) is a
// run of ASCII letters.
func passesForLatin(r rune) bool {
	s := string(r)
	for _, t := range []string{confusables.Skeleton(s), norm.NFKC.String(s)} {
		if t != s && t != "" && isASCIILetters(t) {
			return true
		}
	}
	return false
}

// isStyled: letters that are Latin letters in another style (Unicode's
// small capitals, modifier letters, mathematical alphanumerics,
// fullwidth forms, enclosed alphanumerics).
func isStyled(r rune) bool {
	return r >= 0x1d00 && r <= 0x1dbf || r >= 0x1d400 && r <= 0x1d7ff || r >= 0xff21 && r <= 0xff5a ||
		r >= 0x24b6 && r <= 0x24e9 || r >= 0x1f130 && r <= 0x1f189 || r >= 0x250 && r <= 0x2af || r >= 0x2b0 && r <= 0x2ff
}

func isASCIILetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// caseTrick reports the ASCII look-alike of a capital I and a small L
// swapped inside a word: a small "l" between capitals ("VlAGRA",
// "ClALlS") or a capital "I" ending small letters ("PayPaI"). Words of
// four letters and more.
func caseTrick(w string) bool {
	if len(w) < 4 {
		return false
	}
	up := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	low := func(c byte) bool { return c >= 'a' && c <= 'z' }
	for i := 1; i < len(w); i++ {
		switch {
		case w[i] == 'l' && up(w[i-1]) && i+1 < len(w) && up(w[i+1]):
			return true
		case w[i] == 'I' && low(w[i-1]) && i+1 == len(w):
			// Inside a word a capital I starts a syllable of camel case
			// ("WordInfo"); at the end after a small letter it is an l.
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
