package images

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/filters/images/imagestest"
)

// decodeLimits: the tests check hashes, not speed; no loaded machine
// reaches this deadline.
var decodeLimits = decode.Limits{Timeout: time.Minute}

func hashOf(t testing.TB, data []byte) Hash {
	t.Helper()
	img, _, err := decode.Decode(context.Background(), data, decodeLimits)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Compute(img)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sharedBands counts the bands two hashes have in common.
func sharedBands(a, b Hash) int {
	n := 0
	bb := b.Bands()
	for i, k := range a.Bands() {
		if bb[i] == k {
			n++
		}
	}
	return n
}

func TestComputeRefuses(t *testing.T) {
	solid := image.NewRGBA(image.Rect(0, 0, 200, 100))
	draw.Draw(solid, solid.Rect, image.NewUniform(color.RGBA{30, 60, 90, 255}), image.Point{}, draw.Src)
	transparent := image.NewNRGBA(image.Rect(0, 0, 200, 100))
	for i := range transparent.Pix {
		transparent.Pix[i] = byte(i * 31) // colours under alpha 0 are not seen
	}
	for i := 3; i < len(transparent.Pix); i += 4 {
		transparent.Pix[i] = 0
	}
	for _, tc := range []struct {
		name string
		img  image.Image
		want error
	}{
		{"tracking pixel", image.NewRGBA(image.Rect(0, 0, 1, 1)), ErrTooSmall},
		{"bullet", imagestest.Generate(imagestest.Logo, 1).SubImage(image.Rect(0, 0, 15, 40)), ErrTooSmall},
		{"solid colour", solid, ErrFlat},
		{"fully transparent", transparent, ErrFlat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if h, err := Compute(tc.img); !errors.Is(err, tc.want) || !h.IsZero() {
				t.Fatalf("Compute = %v, %v; want %v", h, err, tc.want)
			}
		})
	}
}

// generic hides an image's concrete type, so Compute reads it through At.
type generic struct{ image.Image }

// TestPixelLayouts: the fast path for each decoder's pixel layout gives
// the hash the generic path (At) gives for the same pixels.
func TestPixelLayouts(t *testing.T) {
	src := imagestest.Generate(imagestest.Banner, 5)
	b := src.Bounds()
	ycc := image.NewYCbCr(b, image.YCbCrSubsampleRatio420)
	gray := image.NewGray(b)
	nrgba := image.NewNRGBA(b)
	pal := image.NewPaletted(b, imagestestPalette())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := src.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
			gray.Set(x, y, c)
			nrgba.Set(x, y, color.NRGBA{c.R, c.G, c.B, uint8(x)}) // alpha varies
			pal.Set(x, y, c)
		}
	}
	alpha := make([]byte, len(ycc.Y))
	for i := range alpha {
		alpha[i] = byte(i)
	}
	nycca := &image.NYCbCrA{YCbCr: *ycc, A: alpha, AStride: ycc.YStride}
	for name, img := range map[string]image.Image{"RGBA": src, "NRGBA": nrgba, "YCbCr": ycc, "NYCbCrA": nycca, "Gray": gray,
		"Paletted": pal, "sub-image": src.SubImage(image.Rect(10, 10, b.Dx()-10, b.Dy()-10))} {
		got, err := Compute(img)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := Compute(generic{img})
		if err != nil {
			t.Fatalf("%s generic: %v", name, err)
		}
		if p, d := got.Distance(want); p > 2 || d > 2 {
			t.Errorf("%s: distance %d/%d from the generic path", name, p, d)
		}
	}
}

func imagestestPalette() color.Palette {
	var p color.Palette
	for r := 0; r < 6; r++ {
		for g := 0; g < 6; g++ {
			for b := 0; b < 6; b++ {
				p = append(p, color.RGBA{uint8(r * 51), uint8(g * 51), uint8(b * 51), 255})
			}
		}
	}
	return p
}

// TestFormatsAgree: one picture as PNG, lossy and lossless WebP, WebP with
// a transparent chequer and progressive JPEG: the encodings of the same
// pixels are near matches.
func TestFormatsAgree(t *testing.T) {
	dir := filepath.Join("decode", "testdata")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ref := hashOf(t, read("pic.png"))
	for _, name := range []string{"lossy.webp", "lossless.webp", "progressive.jpg"} {
		h := hashOf(t, read(name))
		p, d := ref.Distance(h)
		if n := sharedBands(ref, h); n < NearBands {
			t.Errorf("%s: %d bands shared (distance %d/%d), want at least %d", name, n, p, d, NearBands)
		}
		t.Logf("%s: pHash distance %d, dHash distance %d, %d bands shared", name, p, d, sharedBands(ref, h))
	}
	// The chequer of holes is a different picture: it must not match.
	if n := sharedBands(ref, hashOf(t, read("alpha.webp"))); n >= NearBands {
		t.Errorf("alpha.webp shares %d bands with the opaque picture", n)
	}
}

// TestBandsPinned: band keys are stored; changing the positions, the
// format or the hashes would orphan everything learned.
func TestBandsPinned(t *testing.T) {
	h := Hash{P: 0x0123456789abcdef, DX: 0xfedcba9876543210, DY: 0x00ff00ff00ff00ff}
	got := h.Bands()
	if len(got) != BandCount {
		t.Fatalf("%d bands", len(got))
	}
	pinned := [...]string{pinnedBand0, pinnedBand7, pinnedBand15}
	for i, b := range []int{0, 7, 15} {
		if got[b] != pinned[i] {
			t.Errorf("band %d = %q, pinned %q", b, got[b], pinned[i])
		}
	}
	if (Hash{}).Bands() != nil {
		t.Error("the zero hash has bands")
	}
	for b, positions := range bandPositions {
		var seen [192]bool
		for _, p := range positions {
			if p >= 192 || seen[p] {
				t.Fatalf("band %d samples position %d twice or out of range", b, p)
			}
			seen[p] = true
		}
	}
}

// Pinned values of TestBandsPinned.
const (
	pinnedBand0  = "00.e6964f2858"
	pinnedBand7  = "07.4d9549f0ee"
	pinnedBand15 = "15.6aac7f0adb"
)

// TestOneBitChangesOneBand: flipping one hash bit changes exactly the
// bands that sample it.
func TestOneBitChangesOneBand(t *testing.T) {
	h := Hash{P: 0x0123456789abcdef, DX: 0xfedcba9876543210, DY: 0x00ff00ff00ff00ff}
	for pos := 0; pos < 192; pos++ {
		g := h
		switch {
		case pos < 64:
			g.P ^= 1 << (63 - pos)
		case pos < 128:
			g.DX ^= 1 << (127 - pos)
		default:
			g.DY ^= 1 << (191 - pos)
		}
		want := 0
		for _, positions := range bandPositions {
			for _, p := range positions {
				if int(p) == pos {
					want++
				}
			}
		}
		if got := BandCount - sharedBands(h, g); got != want {
			t.Fatalf("bit %d: %d bands changed, %d sample it", pos, got, want)
		}
	}
}
