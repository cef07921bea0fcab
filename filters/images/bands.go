package images

import "fmt"

// Near matches with exact lookups. A store of learned counts can only be
// asked about keys it has seen, so each picture is stored under bands:
// BandCount samples of BandBits bits each, drawn from the 192 bits of its
// three hashes (bit sampling for Hamming distance, Indyk and Motwani
// 1998). Two pictures whose hashes differ in D bits share a band with
// probability C(192−D, 40) / C(192, 40), and a picture counts as a near
// match of what was learned when NearBands of its bands carry evidence.
// Treating the bands as independent, that is 99.99% at D = 2, 98% at
// D = 4, 78% at D = 6, 43% at D = 8, 5% at D = 12 and 0.4% at D = 16;
// most variants of one picture measured in the tests differ in 0–4 bits,
// unrelated pictures of one kind in 20 or more.
//
// The bands of a picture are counted whether one learned picture or
// several supplied them, as a store of counts per key cannot tell. That
// is why three are required: with one, 2.7% of unrelated pictures of the
// kinds learned were found among 2,395 learned ones; with three, 0.10%,
// for 98.2% of the variants found instead of 99.5% (README). Contiguous
// chunks of the hashes, the way a SimHash is banded, were measured too
// and rejected: the chunk of a dHash over a flat area is mostly zeros,
// the chunk of a pHash's lowest frequencies is the layout, and both are
// shared by unrelated pictures of one kind.
const (
	BandCount = 16
	BandBits  = 40
	NearBands = 3
)

// bandPositions are the bit positions each band samples, numbered 0–191
// over P, DX, DY, most significant bit first. They are drawn once from a
// fixed seed: the bands are store keys and must stay the same across
// processes and releases (a test pins them).
var bandPositions = func() (out [BandCount][BandBits]uint8) {
	x := uint64(0x56494749_4d414745) // fixed seed
	// SplitMix64, as the content fingerprint's seeds.
	next := func() uint64 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	for b := range out {
		var perm [192]uint8
		for i := range perm {
			perm[i] = uint8(i)
		}
		// Partial Fisher–Yates: the first BandBits places are the sample.
		for i := 0; i < BandBits; i++ {
			j := i + int(next()%uint64(len(perm)-i))
			perm[i], perm[j] = perm[j], perm[i]
		}
		copy(out[b][:], perm[:BandBits])
	}
	return out
}()

func (h Hash) bit(pos uint8) uint64 {
	switch {
	case pos < 64:
		return h.P >> (63 - pos) & 1
	case pos < 128:
		return h.DX >> (127 - pos) & 1
	}
	return h.DY >> (191 - pos) & 1
}

// Bands returns the band keys of h, "<band>.<10 hex digits>"; nil for the
// zero Hash.
func (h Hash) Bands() []string {
	if h.IsZero() {
		return nil
	}
	out := make([]string, BandCount)
	for b, positions := range bandPositions {
		var v uint64
		for _, pos := range positions {
			v = v<<1 | h.bit(pos)
		}
		out[b] = fmt.Sprintf("%02d.%010x", b, v)
	}
	return out
}
