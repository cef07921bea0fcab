package images

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/filters/images/imagestest"
	"github.com/vigilmail/vigil/filters/sharedtest"
)

// variantStat is what the measurement found for one kind of variant.
type variantStat struct {
	n, found, maxP, maxD int
	pDist, dDist         []int
}

// measurement is what measure found.
type measurement struct {
	learned   int
	variants  map[string]*variantStat // by imagestest.Variant name
	names     []string                // variant names in order
	found     int                     // variants found
	total     int                     // variants looked up
	unrelated int                     // unrelated pictures with a hash
	// falseFound[m] is the number of unrelated pictures found with m
	// bands required (m = 1..4), against the learned pictures; bigLearned
	// and bigTested are the second learned set (the learned pictures and
	// every other unrelated one) and the pictures tested against it,
	// bigFalseFound the same counts for it.
	falseFound, bigFalseFound [5]int
	foundWith                 [5]int // variants found with m bands required
	bigLearned, bigTested     int
	chunkFalse                int // unrelated found by contiguous 16-bit chunks, one shared
	unrelatedByKind           map[string]int
}

// measure learns learnedPerKind pictures of each kind, looks up 13
// variants of each and unrelatedPerKind unrelated pictures of each kind,
// as a store of band keys would (every band of every learned picture
// together).
func measure(t *testing.T, learnedPerKind, unrelatedPerKind int) measurement {
	ms := measurement{variants: map[string]*variantStat{}, unrelatedByKind: map[string]int{}}
	for _, v := range imagestest.Variants {
		ms.names = append(ms.names, v.Name)
		ms.variants[v.Name] = &variantStat{}
	}
	var learned []Hash
	var variants [][]Hash // per learned picture
	flat := 0
	for _, kind := range imagestest.Kinds {
		for seed := 0; seed < learnedPerKind; seed++ {
			src := imagestest.Generate(kind, uint64(seed))
			orig, err := Compute(src)
			if errors.Is(err, ErrFlat) {
				flat++ // no perceptual hash: nothing to learn or find
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			learned = append(learned, orig)
			var vs []Hash
			for _, v := range imagestest.Variants {
				// A variant without a hash (flat) is the zero Hash,
				// never found.
				img, _, err := decode.Decode(context.Background(), v.Make(src, uint64(seed)), decodeLimits)
				if err != nil {
					t.Fatal(err)
				}
				h, _ := Compute(img)
				vs = append(vs, h)
			}
			variants = append(variants, vs)
		}
	}
	type item struct {
		kind string
		h    Hash
	}
	var unrelated []item
	unhashed := map[string]int{}
	for _, kind := range imagestest.Kinds {
		for seed := 0; seed < unrelatedPerKind; seed++ {
			// Seeds far from the learned ones: other pictures. A logo
			// whose colours differ in hue only has no luminance contrast
			// and no perceptual hash; it can match nothing.
			h, err := Compute(imagestest.Generate(kind, uint64(1_000_000+seed)))
			if errors.Is(err, ErrFlat) {
				unhashed[kind]++
				continue
			}
			if err != nil {
				t.Fatalf("%s %d: %v", kind, seed, err)
			}
			unrelated = append(unrelated, item{kind, h})
		}
	}
	t.Logf("pictures without a perceptual hash (flat): %d learned, %v unrelated", flat, unhashed)
	ms.learned, ms.unrelated = len(learned), len(unrelated)

	store := bandSet(learned)
	for i, vs := range variants {
		for j, h := range vs {
			st := ms.variants[ms.names[j]]
			st.n++
			ms.total++
			hits := store.hits(h)
			if hits >= NearBands {
				st.found++
				ms.found++
			}
			for m := 1; m <= 4; m++ {
				if hits >= m {
					ms.foundWith[m]++
				}
			}
			if h.IsZero() {
				continue
			}
			p, d := learned[i].Distance(h)
			st.maxP, st.maxD = max(st.maxP, p), max(st.maxD, d)
			st.pDist, st.dDist = append(st.pDist, p), append(st.dDist, d)
		}
	}
	// The second learned set: the learned pictures and every other
	// unrelated one; the rest are tested against it.
	more := append([]Hash(nil), learned...)
	var rest []item
	for i, u := range unrelated {
		if i%2 == 0 {
			more = append(more, u.h)
		} else {
			rest = append(rest, u)
		}
	}
	big := bandSet(more)
	ms.bigLearned, ms.bigTested = len(more), len(rest)
	for m := 1; m <= 4; m++ {
		for _, u := range unrelated {
			if store.hits(u.h) >= m {
				ms.falseFound[m]++
				if m == NearBands {
					ms.unrelatedByKind[u.kind]++
				}
			}
		}
		for _, u := range rest {
			if big.hits(u.h) >= m {
				ms.bigFalseFound[m]++
			}
		}
	}

	// The rejected alternative: contiguous 16-bit chunks of the pHash and
	// the row dHash, one shared chunk a match (as a SimHash is banded).
	chunkKeys := func(h Hash) []string {
		var out []string
		for i := 0; i < 4; i++ {
			out = append(out, fmt.Sprintf("p%d.%04x", i, uint16(h.P>>(16*i))), fmt.Sprintf("d%d.%04x", i, uint16(h.DX>>(16*i))))
		}
		return out
	}
	chunks := map[string]bool{}
	for _, h := range learned {
		for _, k := range chunkKeys(h) {
			chunks[k] = true
		}
	}
	for _, u := range unrelated {
		for _, k := range chunkKeys(u.h) {
			if chunks[k] {
				ms.chunkFalse++
				break
			}
		}
	}

	t.Logf("%d learned pictures (%d of each kind), %d variants each:", len(learned), learnedPerKind, len(ms.names))
	t.Logf("%-26s %8s %14s %14s", "variant", "found", "pHash med/max", "dHash med/max")
	for _, name := range ms.names {
		st := ms.variants[name]
		t.Logf("%-26s %3d/%-4d %8d/%-5d %8d/%-5d", name, st.found, st.n, median(st.pDist), st.maxP, median(st.dDist), st.maxD)
	}
	t.Logf("variants found: %d/%d (%.1f%%)", ms.found, ms.total, 100*ms.rate(ms.found, ms.total))
	for m := 1; m <= 4; m++ {
		t.Logf("%d bands required: variants found %.1f%%, unrelated found %d/%d (%.2f%%) with %d learned, %d/%d (%.2f%%) with %d learned", m,
			100*ms.rate(ms.foundWith[m], ms.total), ms.falseFound[m], ms.unrelated, 100*ms.rate(ms.falseFound[m], ms.unrelated), ms.learned,
			ms.bigFalseFound[m], ms.bigTested, 100*ms.rate(ms.bigFalseFound[m], ms.bigTested), ms.bigLearned)
	}
	t.Logf("unrelated found by kind: %v", ms.unrelatedByKind)
	t.Logf("contiguous 16-bit chunks instead: unrelated pictures found: %d/%d (%.2f%%)", ms.chunkFalse, ms.unrelated, 100*ms.rate(ms.chunkFalse, ms.unrelated))
	return ms
}

func (measurement) rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// TestVariantsMatch: on a few pictures of each kind, the variants of a
// learned picture are near matches and unrelated pictures are not. The
// figures of the README come from TestCorpusImageVariants.
func TestVariantsMatch(t *testing.T) {
	learnedPerKind, unrelatedPerKind := 8, 40
	if testing.Short() || raceEnabled {
		learnedPerKind, unrelatedPerKind = 1, 5
	}
	ms := measure(t, learnedPerKind, unrelatedPerKind)
	if r := ms.rate(ms.found, ms.total); r < 0.95 {
		t.Errorf("only %.1f%% of the variants found, want at least 95%%", 100*r)
	}
	if r := ms.rate(ms.falseFound[NearBands], ms.unrelated); r > 0.01 {
		t.Errorf("%.2f%% of unrelated pictures found, want at most 1%%", 100*r)
	}
}

// TestCorpusImageVariants measures what filters/images/README.md and
// README.md report, on 100 learned pictures and 1,000 unrelated ones of
// each kind (generated, so no corpus is read; it is named for the pass
// that runs it, without -race, as it takes a minute or two):
//
//	go test -count=1 -v -run CorpusImageVariants ./filters/images
func TestCorpusImageVariants(t *testing.T) {
	if raceEnabled {
		t.Skip("a measurement of a minute or more; it runs in the pass without -race")
	}
	ms := measure(t, 100, 1000)
	const doc = "filters/images/README.md"
	pct := func(n, of int) float64 { return 100 * ms.rate(n, of) }
	// The rows of the variants table: the README's words and count.
	rows := map[string]struct {
		row   string
		found int
	}{
		"png": {"PNG (lossless)", 399}, "jpeg-q90": {"JPEG quality 90", 398}, "jpeg-q70": {"JPEG quality 70", 396},
		"jpeg-q50": {"JPEG quality 50", 385}, "jpeg-q30": {"JPEG quality 30", 379}, "noise-s8": {"Gaussian noise σ 8", 383},
		"one-pixel": {"one pixel changed", 399}, "resize-97": {"resized 97%", 399}, "resize-103": {"resized 103%", 399},
		"resize-90": {"resized 90%", 399}, "gif-dither": {"GIF (216 colours, Floyd–Steinberg)", 394},
		"brighter-10": {"10 levels brighter", 375}, "resize-97+jpeg-q60+noise": {"resized 97% + noise σ 4 + JPEG 60", 389},
	}
	for _, name := range ms.names {
		r, ok := rows[name]
		if !ok {
			t.Fatalf("variant %s has no row in %s", name, doc)
		}
		// The generated pictures and encoders are deterministic; the
		// slack of two pictures allows for floating point on another
		// architecture.
		sharedtest.Claim{Doc: doc, Text: fmt.Sprintf("| %s | %d/399 |", r.row, r.found), Value: float64(r.found)}.AtLeast(t, float64(ms.variants[name].found), 2)
	}
	claims := []struct {
		c     sharedtest.Claim
		got   float64
		atMin bool
	}{
		{sharedtest.Claim{Doc: doc, Text: "98.2% of all variants are found (5,094 of 5,187)", Value: 98.2}, pct(ms.found, ms.total), true},
		{sharedtest.Claim{Doc: doc, Text: "| **3 (the rule)** | **98.2%** |", Value: 98.2}, pct(ms.foundWith[3], ms.total), true},
		{sharedtest.Claim{Doc: doc, Text: "**0.00%** (0 of 3,992)", Value: 0}, pct(ms.falseFound[3], ms.unrelated), false},
		{sharedtest.Claim{Doc: doc, Text: "**0.10%** (2 of 1,996)", Value: 0.10}, pct(ms.bigFalseFound[3], ms.bigTested), false},
		{sharedtest.Claim{Doc: doc, Text: "| 1 | 99.5% | 0.43% | 2.71% |", Value: 2.71}, pct(ms.bigFalseFound[1], ms.bigTested), false},
		{sharedtest.Claim{Doc: doc, Text: "| 2 | 98.8% | 0.05% | 0.45% |", Value: 0.45}, pct(ms.bigFalseFound[2], ms.bigTested), false},
		{sharedtest.Claim{Doc: doc, Text: "| 4 | 97.1% | 0.00% | 0.00% |", Value: 97.1}, pct(ms.foundWith[4], ms.total), true},
		{sharedtest.Claim{Doc: doc, Text: "found 77.8% of the unrelated pictures", Value: 77.8}, pct(ms.chunkFalse, ms.unrelated), true},
		{sharedtest.Claim{Doc: "README.md", Text: "as near matches 98.2% of the time", Value: 98.2}, pct(ms.found, ms.total), true},
		{sharedtest.Claim{Doc: "README.md", Text: "0.10% with 2,395", Value: 0.10}, pct(ms.bigFalseFound[3], ms.bigTested), false},
	}
	for _, c := range claims {
		// One point of slack on rates of variants found; a tenth of a
		// point (two pictures in 1,996) on unrelated pictures found.
		if c.atMin {
			c.c.AtLeast(t, c.got, 1)
		} else {
			c.c.AtMost(t, c.got, 0.1)
		}
	}
}

// bands is a set of learned band keys, as a store holds them.
type bands map[string]bool

func bandSet(hs []Hash) bands {
	s := bands{}
	for _, h := range hs {
		for _, k := range h.Bands() {
			s[k] = true
		}
	}
	return s
}

// hits counts the bands of h that were learned (from one picture or
// several): the reputation check's near match is NearBands of them.
func (s bands) hits(h Hash) int {
	n := 0
	for _, k := range h.Bands() {
		if s[k] {
			n++
		}
	}
	return n
}

func median(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int(nil), xs...)
	sort.Ints(s)
	return s[len(s)/2]
}
