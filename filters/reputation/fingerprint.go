package reputation

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strings"
	"unicode"
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

// Fingerprint returns the band keys of text's MinHash signature, nil when
// the text is too short to fingerprint.
func Fingerprint(text string) []string {
	ws := words(text)
	if len(ws) < shingleWords {
		return nil
	}
	shingles := make(map[uint64]struct{}, len(ws))
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
			if v := mix64(sh ^ seed); v < sig[i] {
				sig[i] = v
			}
		}
	}
	out := make([]string, minhashBands)
	var buf [8]byte
	for b := 0; b < minhashBands; b++ {
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
