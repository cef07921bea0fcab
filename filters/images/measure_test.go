package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/filters/images/imagestest"
)

// TestVariantsAndFalseMatches measures what the README reports: how many
// variants of a learned picture are found as near matches (NearBands of
// their bands among the bands learned), and how many unrelated everyday
// pictures are found too. With VIGIL_IMAGE_MEASURE=1 it runs on 100
// learned pictures and 1,000 unrelated ones of each kind (a few minutes);
// otherwise on a tenth of that.
//
//	VIGIL_IMAGE_MEASURE=1 go test -count=1 -v -run VariantsAndFalseMatches ./filters/images
func TestVariantsAndFalseMatches(t *testing.T) {
	learnedPerKind, unrelatedPerKind := 8, 40
	if os.Getenv("VIGIL_IMAGE_MEASURE") != "" {
		learnedPerKind, unrelatedPerKind = 100, 1000
	} else if testing.Short() || raceEnabled {
		learnedPerKind, unrelatedPerKind = 1, 5
	}

	type variantStat struct {
		n, matched, maxP, maxD int
		pDist, dDist           []int
	}
	stats := map[string]*variantStat{}
	var learned []Hash
	var variants [][]Hash // per learned picture
	var names []string
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
	if flat > 0 {
		t.Logf("learned pictures without a perceptual hash (flat), left out: %d", flat)
	}
	for _, v := range imagestest.Variants {
		names = append(names, v.Name)
		stats[v.Name] = &variantStat{}
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
	if len(unhashed) > 0 {
		t.Logf("unrelated pictures without a perceptual hash (flat): %v", unhashed)
	}

	// The store: every band of every learned picture.
	store := bandSet(learned)
	var total, matched int
	for i, vs := range variants {
		for j, h := range vs {
			st := stats[names[j]]
			st.n++
			total++
			if store.near(h) {
				st.matched++
				matched++
			}
			if h.IsZero() {
				continue
			}
			p, d := learned[i].Distance(h)
			st.maxP, st.maxD = max(st.maxP, p), max(st.maxD, d)
			st.pDist, st.dDist = append(st.pDist, p), append(st.dDist, d)
		}
	}
	t.Logf("%d learned pictures (%d of each kind), %d variants each:", len(learned), learnedPerKind, len(names))
	t.Logf("%-26s %8s %14s %14s", "variant", "found", "pHash med/max", "dHash med/max")
	for _, name := range names {
		st := stats[name]
		t.Logf("%-26s %3d/%-4d %8d/%-5d %8d/%-5d", name, st.matched, st.n, median(st.pDist), st.maxP, median(st.dDist), st.maxD)
	}
	recall := float64(matched) / float64(total)
	t.Logf("variants found: %d/%d (%.1f%%)", matched, total, 100*recall)

	falseMatches := func(store bands, items []item) (int, map[string]int) {
		n, byKind := 0, map[string]int{}
		for _, u := range items {
			if store.near(u.h) {
				n++
				byKind[u.kind]++
			}
		}
		return n, byKind
	}
	fm, byKind := falseMatches(store, unrelated)
	fmRate := float64(fm) / float64(len(unrelated))
	t.Logf("unrelated pictures found: %d/%d (%.2f%%) %v, %d learned", fm, len(unrelated), 100*fmRate, byKind, len(learned))

	// Ten times as many learned pictures: half the unrelated ones join
	// the learned, the other half is tested.
	var more []Hash
	var rest []item
	for i, u := range unrelated {
		if i%2 == 0 {
			more = append(more, u.h)
		} else {
			rest = append(rest, u)
		}
	}
	bigStore := bandSet(append(append([]Hash(nil), learned...), more...))
	fm2, byKind2 := falseMatches(bigStore, rest)
	t.Logf("unrelated pictures found: %d/%d (%.2f%%) %v, %d learned", fm2, len(rest), 100*float64(fm2)/float64(len(rest)), byKind2, len(learned)+len(more))

	// The trade-off of NearBands: bands required against variants found
	// and unrelated pictures found, with both learned sets.
	for m := 1; m <= 4; m++ {
		found, fp1, fp2 := 0, 0, 0
		for _, vs := range variants {
			for _, h := range vs {
				if store.hits(h) >= m {
					found++
				}
			}
		}
		for _, u := range unrelated {
			if store.hits(u.h) >= m {
				fp1++
			}
		}
		for _, u := range rest {
			if bigStore.hits(u.h) >= m {
				fp2++
			}
		}
		t.Logf("%d bands required: variants found %.1f%%, unrelated found %.2f%% (%d learned), %.2f%% (%d learned)", m,
			100*float64(found)/float64(total), 100*float64(fp1)/float64(len(unrelated)), len(learned),
			100*float64(fp2)/float64(len(rest)), len(learned)+len(more))
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
	chunkHits := 0
	for _, u := range unrelated {
		for _, k := range chunkKeys(u.h) {
			if chunks[k] {
				chunkHits++
				break
			}
		}
	}
	t.Logf("contiguous 16-bit chunks instead: unrelated pictures found: %d/%d (%.2f%%)", chunkHits, len(unrelated), 100*float64(chunkHits)/float64(len(unrelated)))

	if recall < 0.95 {
		t.Errorf("only %.1f%% of the variants found, want at least 95%%", 100*recall)
	}
	if fmRate > 0.01 {
		t.Errorf("%.2f%% of unrelated pictures found, want at most 1%%", 100*fmRate)
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

// near is the rule the reputation check applies: NearBands of the
// picture's bands were learned (from one picture or several).
func (s bands) near(h Hash) bool { return s.hits(h) >= NearBands }

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
