package follow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/bits"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Fingerprint identifies a page by its visible text, independent of the
// domain it is served from: Hash matches the same text exactly, Sim (a
// 64-bit SimHash over word 3-shingles) matches text that differs in a few
// words (a tracking id, a name, a date).
type Fingerprint struct {
	// Hash is the hex SHA-256 (first 16 bytes) of the normalised text;
	// "" when the page had too little text to identify it.
	Hash string `json:"hash,omitempty"`
	Sim  uint64 `json:"sim,omitempty"`
	// Words is the number of words of normalised text.
	Words int `json:"words,omitempty"`
}

// IsZero reports whether there is nothing to compare.
func (f Fingerprint) IsZero() bool { return f.Hash == "" }

// SimBands is the number of 16-bit bands of Sim in Keys.
const SimBands = 4

// Keys returns the store keys of f: "page:<hash>" and one
// "pageband:<i>:<16 bits hex>" per band of Sim. Two SimHashes within
// Hamming distance 3 share at least one band (pigeonhole over 4 bands), so
// a store indexed by these keys finds near matches with exact lookups.
func (f Fingerprint) Keys() []string {
	if f.IsZero() {
		return nil
	}
	out := []string{"page:" + f.Hash}
	for i := 0; i < SimBands; i++ {
		out = append(out, fmt.Sprintf("pageband:%d:%04x", i, uint16(f.Sim>>(16*i))))
	}
	return out
}

// NearMatch is the largest Hamming distance between two SimHashes that
// still counts as the same page.
const NearMatch = 3

// Matches reports whether f and g are the same page text, exactly or nearly.
func (f Fingerprint) Matches(g Fingerprint) bool {
	if f.IsZero() || g.IsZero() {
		return false
	}
	return f.Hash == g.Hash || bits.OnesCount64(f.Sim^g.Sim) <= NearMatch
}

// minWords is the smallest page that gets a fingerprint: "Loading..." or
// an empty shell would match every other empty shell.
const minWords = 8

// maxTextWords bounds the words considered.
const maxTextWords = 20000

// PageFingerprint fingerprints an HTML (or plain text when html is false)
// page.
func PageFingerprint(body []byte, isHTML bool) Fingerprint {
	var text string
	if isHTML {
		text = VisibleText(body)
	} else {
		text = string(body)
	}
	words := normaliseWords(text)
	if len(words) < minWords {
		return Fingerprint{Words: len(words)}
	}
	sum := sha256.Sum256([]byte(strings.Join(words, " ")))
	return Fingerprint{Hash: hex.EncodeToString(sum[:16]), Sim: simHash(words), Words: len(words)}
}

// VisibleText returns the text a reader would see: text nodes outside
// script, style, template, noscript and head metadata, and the value of
// input placeholders and button labels (login pages are mostly form).
func VisibleText(body []byte) string {
	z := html.NewTokenizer(bytes.NewReader(body))
	var b strings.Builder
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Script, atom.Style, atom.Template, atom.Noscript, atom.Svg:
				if tt == html.StartTagToken {
					skip++
				}
			case atom.Input, atom.Button, atom.Img:
				for more := hasAttr; more; {
					var k, v []byte
					k, v, more = z.TagAttr()
					switch string(k) {
					case "placeholder", "value", "alt":
						b.WriteByte(' ')
						b.Write(v)
						b.WriteByte(' ')
					}
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Script, atom.Style, atom.Template, atom.Noscript, atom.Svg:
				if skip > 0 {
					skip--
				}
			}
		case html.TextToken:
			if skip == 0 && b.Len() < 1<<20 {
				b.Write(z.Text())
				b.WriteByte(' ')
			}
		}
	}
}

// normaliseWords lower-cases, splits on non-letters/digits, folds digits to
// 0 (order numbers, dates) and drops tokens that look like host names or
// URLs, so the same kit on a new domain gives the same words.
func normaliseWords(text string) []string {
	var out []string
	for _, f := range strings.Fields(text) {
		if len(out) >= maxTextWords {
			break
		}
		lf := strings.ToLower(f)
		if strings.Contains(lf, "://") || strings.Contains(lf, "@") || looksLikeHost(strings.Trim(lf, ".,;:!?()[]\"'")) {
			continue
		}
		for _, w := range strings.FieldsFunc(lf, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			out = append(out, strings.Map(func(r rune) rune {
				if unicode.IsDigit(r) {
					return '0'
				}
				return r
			}, w))
		}
	}
	return out
}

// looksLikeHost reports "label.label" tokens with a letter after the last dot.
func looksLikeHost(s string) bool {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	for _, r := range s[i+1:] {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// simHash is Charikar's SimHash over word 3-shingles (FNV-1a 64).
func simHash(words []string) uint64 {
	var v [64]int
	add := func(s string) {
		h := fnv.New64a()
		h.Write([]byte(s))
		x := h.Sum64()
		for i := 0; i < 64; i++ {
			if x&(1<<i) != 0 {
				v[i]++
			} else {
				v[i]--
			}
		}
	}
	if len(words) < 3 {
		add(strings.Join(words, " "))
	}
	for i := 0; i+3 <= len(words); i++ {
		add(words[i] + " " + words[i+1] + " " + words[i+2])
	}
	var out uint64
	for i := 0; i < 64; i++ {
		if v[i] > 0 {
			out |= 1 << i
		}
	}
	return out
}

// hasPasswordInput reports an <input type=password> in the page.
func hasPasswordInput(body []byte) bool {
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return false
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if atom.Lookup(name) != atom.Input {
				continue
			}
			for more := hasAttr; more; {
				var k, v []byte
				k, v, more = z.TagAttr()
				if string(k) == "type" && strings.EqualFold(strings.TrimSpace(string(v)), "password") {
					return true
				}
			}
		}
	}
}
