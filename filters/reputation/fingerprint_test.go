package reputation

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// referenceFingerprint is Fingerprint written with hash/fnv and
// fmt.Sprintf: the band keys in the store must not change when the
// fast path changes.
func referenceFingerprint(text string) []string {
	ws := words(text)
	if len(ws) < shingleWords {
		return nil
	}
	shingles := map[uint64]struct{}{}
	for i := 0; i+shingleWords <= len(ws); i++ {
		h := fnv.New64a()
		for _, w := range ws[i : i+shingleWords] {
			h.Write([]byte(w))
			h.Write([]byte{0})
		}
		shingles[h.Sum64()] = struct{}{}
	}
	if len(shingles) < minShingles {
		return nil
	}
	var sig [minhashBands * minhashRows]uint64
	for i := range sig {
		sig[i] = ^uint64(0)
	}
	for sh := range shingles {
		for i, seed := range minhashSeeds {
			sig[i] = min(sig[i], mix64(sh^seed))
		}
	}
	out := make([]string, minhashBands)
	var buf [8]byte
	for b := range minhashBands {
		h := fnv.New64a()
		h.Write([]byte{byte(b)})
		for _, v := range sig[b*minhashRows : (b+1)*minhashRows] {
			binary.BigEndian.PutUint64(buf[:], v)
			h.Write(buf[:])
		}
		out[b] = fmt.Sprintf("%02d.%016x", b, h.Sum64())
	}
	return out
}

// referenceWords is words written with a strings.Builder per word, as
// the fingerprints in stores were made.
func referenceWords(text string) []string {
	var out []string
	var b strings.Builder
	digits := false
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
		digits = false
	}
	for _, r := range text {
		if len(out) >= maxWords {
			break
		}
		switch {
		case unicode.IsDigit(r):
			if !digits {
				b.WriteByte('#')
				digits = true
			}
		case unicode.IsLetter(r):
			digits = false
			b.WriteRune(unicode.ToLower(r))
		default:
			flush()
		}
	}
	flush()
	if len(out) > maxWords {
		out = out[:maxWords]
	}
	return out
}

func TestWordsUnchanged(t *testing.T) {
	for _, text := range []string{
		"", "   ", "Order 12345 shipped 2024-01-02 to \u00c9LODIE at 10:30!",
		"\u0130stanbul \u03a3\u039f\u03a3 \u6f22\u5b57 x\u0301y \xff\xfe broken utf8 \u0661\u0662\u0663 arabic digits",
		strings.Repeat("word ", maxWords+10),
	} {
		got, want := words(text), referenceWords(text)
		if len(want) == 0 && len(got) == 0 {
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("words(%.30q) = %q, want %q", text, got, want)
		}
	}
}

func TestFingerprintKeysUnchanged(t *testing.T) {
	texts := []string{
		"",
		"too short",
		"Dear customer, your account 12345 has been suspended. Click the link below to verify your identity within 24 hours or lose access.",
		strings.Repeat("Gr\u00fc\u00dfe aus M\u00fcnchen, wir liefern 100 St\u00fcck sofort. ", 30),
		strings.Repeat("a b c d e f g h i j k l m n o p ", 3),
	}
	for _, text := range texts {
		if got, want := Fingerprint(text), referenceFingerprint(text); !slices.Equal(got, want) {
			t.Errorf("Fingerprint(%.30q) = %v, want %v", text, got, want)
		}
	}
	for i := range minhashBands {
		if got, want := bandKey(i, 0xfedcba9876543210), fmt.Sprintf("%02d.%016x", i, uint64(0xfedcba9876543210)); got != want {
			t.Errorf("bandKey(%d) = %q, want %q", i, got, want)
		}
	}
}

func shareBand(a, b []string) bool {
	set := map[string]bool{}
	for _, x := range a {
		set[x] = true
	}
	for _, x := range b {
		if set[x] {
			return true
		}
	}
	return false
}

func shingleSet(text string) map[string]bool {
	ws := words(text)
	out := map[string]bool{}
	for i := 0; i+shingleWords <= len(ws); i++ {
		out[strings.Join(ws[i:i+shingleWords], " ")] = true
	}
	return out
}

func jaccard(a, b map[string]bool) float64 {
	inter := 0
	for k := range a {
		if b[k] {
			inter++
		}
	}
	union := len(a) + len(b) - inter
	if union == 0 {
		return 0
	}
	return float64(inter) / float64(union)
}

func TestFingerprintBasics(t *testing.T) {
	long := strings.Repeat("Your account has been suspended, verify your identity now at our secure portal. ", 3) +
		"Call 555-1234 before Friday or lose access to your funds and your online banking forever."
	tests := []struct {
		name  string
		a, b  string
		match bool
	}{
		{"identical", long, long, true},
		{"numbers changed", long, strings.ReplaceAll(long, "555-1234", "800-9876"), true},
		{"case and spacing", long, strings.ToUpper(strings.Join(strings.Fields(long), "\n  ")), true},
		{"unrelated", long, "The meeting about the quarterly budget moved to Tuesday afternoon; please bring the revised spreadsheets and the notes from last week's review.", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fa, fb := Fingerprint(tc.a), Fingerprint(tc.b)
			if len(fa) != minhashBands || len(fb) != minhashBands {
				t.Fatalf("fingerprint sizes %d, %d; want %d", len(fa), len(fb), minhashBands)
			}
			if got := shareBand(fa, fb); got != tc.match {
				t.Fatalf("share a band = %v, want %v", got, tc.match)
			}
		})
	}
	for _, short := range []string{"", "thanks", "see you at 5", "ok ok ok ok ok ok ok ok ok ok ok ok ok"} {
		if fp := Fingerprint(short); fp != nil {
			t.Errorf("Fingerprint(%q) = %v, want nil (too short to identify)", short, fp)
		}
	}
	if a, b := Fingerprint(long), Fingerprint(long); strings.Join(a, ",") != strings.Join(b, ",") {
		t.Error("fingerprint is not deterministic")
	}
}

// personalise rewrites text the way a campaign varies copies: another
// recipient name in the greeting and the body, other numbers.
func personalise(text, name string, n int) string {
	text = fmt.Sprintf("Dear %s,\n\n%s\n\nReference number %d-%d. Regards to %s.", name, text, n, n*7, name)
	var b strings.Builder
	for _, r := range text {
		if r >= '0' && r <= '9' {
			r = '0' + (r-'0'+rune(n))%10
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestCorpusFingerprintPairs: on SpamAssassin corpus texts, a personalised
// copy (changed name and numbers) matches its original, and distinct
// messages rarely share a band.
func TestCorpusFingerprintPairs(t *testing.T) {
	msgs := corpus(t)
	var texts []string
	var names []string
	for i := 0; i < len(msgs) && len(texts) < 400; i += 13 { // spread over groups
		txt := corpusText(msgs[i].Raw)
		if len(words(txt)) < 40 {
			continue
		}
		texts = append(texts, txt)
		names = append(names, msgs[i].Name)
	}
	if len(texts) < 200 {
		t.Fatalf("only %d usable corpus texts", len(texts))
	}
	fps := make([][]string, len(texts))
	for i, txt := range texts {
		fps[i] = Fingerprint(txt)
	}

	t.Run("personalised copies match", func(t *testing.T) {
		miss := 0
		for i, txt := range texts {
			if !shareBand(fps[i], Fingerprint(personalise(txt, "Robert Zimmermann", i+3))) {
				miss++
				t.Logf("no band shared with its personalised copy: %s", names[i])
			}
		}
		t.Logf("personalised copies matched: %d/%d", len(texts)-miss, len(texts))
		if miss*100 > len(texts) { // at most 1%
			t.Fatalf("%d of %d personalised copies did not match their original", miss, len(texts))
		}
	})

	t.Run("different messages do not match", func(t *testing.T) {
		pairs, matched, falseMatch := 0, 0, 0
		for i := range texts {
			for j := i + 1; j < len(texts); j++ {
				pairs++
				if !shareBand(fps[i], fps[j]) {
					continue
				}
				matched++
				// The corpus has real near-duplicates (one campaign sent
				// twice, list traffic with long quoted text); a match is
				// false only when the texts are actually different.
				if jac := jaccard(shingleSet(texts[i]), shingleSet(texts[j])); jac < 0.3 {
					falseMatch++
					t.Logf("false match (jaccard %.2f): %s %s", jac, names[i], names[j])
				}
			}
		}
		t.Logf("pairs %d, sharing a band %d, of which with shingle jaccard < 0.3: %d", pairs, matched, falseMatch)
		if falseMatch*1000 > pairs { // under 0.1%
			t.Fatalf("%d false matches in %d pairs", falseMatch, pairs)
		}
	})
}

func FuzzFingerprint(f *testing.F) {
	f.Add("Dear customer, your account 1234 is suspended, click here to verify now please")
	f.Add(strings.Repeat("\u00e9\u0301 ", 100))
	f.Fuzz(func(t *testing.T, s string) {
		fp := Fingerprint(s)
		if fp != nil && len(fp) != minhashBands {
			t.Fatalf("%d bands", len(fp))
		}
	})
}
