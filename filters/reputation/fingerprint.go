package reputation

import (
	"unicode"
	"unicode/utf8"
)

// The content fingerprint is MinHash over word 3-shingles with banding
// (Broder 1997; Leskovec, Rajaraman, Ullman, "Mining of Massive Datasets"
// §3.4). Two texts share a band with probability 1-(1-J^rows)^bands for
// Jaccard similarity J of their shingle sets: with 20 bands of 5 rows, 0.80
// → 99.9%, 0.5 → 47%, 0.3 → 4.7%, 0.1 → 0.02%. Every band is a key, so a
// near-duplicate of learned spam hits at least one learned band.
const (
	shingleWords = 3
	minhashBands = 20
	minhashRows  = 5
	// maxWords bounds the work on hostile input (Text is capped upstream
	// too); 4000 words is far beyond what identifies a message.
	maxWords = 4000
	// minShingles: shorter texts are too generic to fingerprint ("see
	// attached", "thanks").
	minShingles = 8
)

var minhashSeeds = func() [minhashBands * minhashRows]uint64 {
	var s [minhashBands * minhashRows]uint64
	x := uint64(0x5649474c5245500a) // fixed: fingerprints must be stable across processes and releases
	for i := range s {
		x += 0x9e3779b97f4a7c15
		s[i] = mix64(x)
	}
	return s
}()

// mix64 is the SplitMix64 finaliser: a fast bijective 64-bit mixer.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// words normalises text into tokens: lower case, runs of letters and digits,
// every run of digits replaced by "#" so that changed prices, phone numbers,
// order numbers and dates keep the shingles around them.
func words(text string) []string {
	// One buffer for every word (a strings.Builder reset per word grew
	// from nothing each time), one string allocation per word.
	out := make([]string, 0, min(len(text)/6+1, maxWords))
	var b []byte
	digits := false
	flush := func() {
		if len(b) > 0 {
			out = append(out, string(b))
			b = b[:0]
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
				b = append(b, '#')
				digits = true
			}
		case unicode.IsLetter(r):
			digits = false
			b = utf8.AppendRune(b, unicode.ToLower(r))
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

// Fingerprint returns the band keys of text's MinHash signature, nil when
// the text is too short to fingerprint.
func Fingerprint(text string) []string {
	ws := words(text)
	if len(ws) < shingleWords {
		return nil
	}
	shingles := make(map[uint64]struct{}, len(ws))
	for i := 0; i+shingleWords <= len(ws); i++ {
		h := uint64(fnvOffset64)
		for _, w := range ws[i : i+shingleWords] {
			h = fnvString(h, w)
			h = fnvByte(h, 0)
		}
		shingles[h] = struct{}{}
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
			if v := mix64(sh ^ seed); v < sig[i] {
				sig[i] = v
			}
		}
	}
	out := make([]string, minhashBands)
	for b := 0; b < minhashBands; b++ {
		h := fnvByte(fnvOffset64, byte(b))
		for _, v := range sig[b*minhashRows : (b+1)*minhashRows] {
			for shift := 56; shift >= 0; shift -= 8 { // big-endian bytes of v
				h = fnvByte(h, byte(v>>shift))
			}
		}
		out[b] = bandKey(b, h)
	}
	return out
}

// bandKey is the key value of band b with hash h: the band as two decimal
// digits, a dot, h as 16 lower-case hex digits ("07.00ab…").
func bandKey(b int, h uint64) string {
	const hexDigits = "0123456789abcdef"
	var k [3 + 16]byte
	k[0] = byte('0' + b/10%10)
	k[1] = byte('0' + b%10)
	k[2] = '.'
	for i := 18; i >= 3; i-- {
		k[i] = hexDigits[h&0xf]
		h >>= 4
	}
	return string(k[:])
}

// FNV-1a, 64-bit (as hash/fnv's New64a), computed inline: the hash.Hash
// interface would allocate and copy every word into a byte slice.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime64 }

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime64
	}
	return h
}
