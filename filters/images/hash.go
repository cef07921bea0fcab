// Package images computes perceptual hashes of pictures, so that a
// picture re-encoded, resized by a few percent, recompressed, dithered
// into a GIF or sprinkled with noise is recognised as the one users
// reported, and the band keys that let a store of exact lookups find such
// near matches.
//
// Three hashes of 64 bits, all over the picture's luminance averaged onto
// a 32 × 32 grid (alpha composited onto white, as a mail reader shows a
// transparent logo):
//   - pHash: the 64 lowest-frequency AC coefficients of the grid's 2-D
//     DCT-II in zig-zag order, each bit set when the coefficient is above
//     their median (Zauner, "Implementation and Benchmarking of Perceptual
//     Image Hash Functions", 2010, §4.3, with the DC term left out);
//   - dHash, rows and columns: the grid reduced to 9 × 8 (8 × 9), each bit
//     set when a cell is brighter than its left (upper) neighbour by more
//     than a small margin (Krawetz, "Kind of like that", 2013).
//
// The pHash sees the layout of a picture and the dHashes its edges; two
// unrelated pictures of the same kind (two logos on white, two
// screenshots of text) often come close on one but rarely on all three.
//
// A flat picture (a spacer, a blank frame) and a very small one (a
// tracking pixel) have no perceptual hash: any two of them would match.
package images

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/bits"
	"sort"
	"strconv"
)

// Hash is the perceptual fingerprint of one picture.
type Hash struct {
	// P is the DCT hash.
	P uint64
	// DX and DY are the gradient hashes along rows and along columns.
	DX, DY uint64
}

// PHex is P as 16 hex digits, as `check --json` shows it (images[].phash)
// and operators search for it.
func (h Hash) PHex() string { return fmt.Sprintf("%016x", h.P) }

// DHex is DX and DY as 32 hex digits (images[].dhash).
func (h Hash) DHex() string { return fmt.Sprintf("%016x%016x", h.DX, h.DY) }

// Distance is the Hamming distance of the pHashes and of the dHashes
// (both directions together, out of 128 bits).
func (h Hash) Distance(o Hash) (p, d int) {
	return bits.OnesCount64(h.P ^ o.P), bits.OnesCount64(h.DX^o.DX) + bits.OnesCount64(h.DY^o.DY)
}

// IsZero reports whether h is the zero Hash (no perceptual hash).
func (h Hash) IsZero() bool { return h == Hash{} }

// Errors of Compute: the picture has no perceptual hash.
var (
	ErrTooSmall = errors.New("images: picture too small for a perceptual hash")
	ErrFlat     = errors.New("images: picture too flat for a perceptual hash")
)

const (
	// MinSide: narrower or lower pictures are tracking pixels, spacers
	// and bullets, not content.
	MinSide = 16
	// grid is the side of the luminance grid the hashes are computed on.
	grid = 32
	// minContrast is the smallest standard deviation of the grid (0–255
	// luminance) a picture needs; below it the DCT signs are noise.
	minContrast = 2.0
	// dMargin: a dHash bit is set only when the right cell is brighter
	// by more than this, so the flat areas of a picture (the white of a
	// screenshot) give stable zeros instead of bits flipped by
	// recompression noise.
	dMargin = 0.75
)

// Compute returns the perceptual hash of img.
func Compute(img image.Image) (Hash, error) {
	b := img.Bounds()
	if b.Dx() < MinSide || b.Dy() < MinSide {
		return Hash{}, ErrTooSmall
	}
	g := luminanceGrid(img)
	var sum, sq float64
	for _, v := range g {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(g))
	if sd := math.Sqrt(max(0, sq/n-(sum/n)*(sum/n))); sd < minContrast {
		return Hash{}, ErrFlat
	}
	return Hash{P: pHash(&g), DX: dHash(&g), DY: dHash(transpose(&g))}, nil
}

// luminanceGrid averages the picture's luminance (ITU-R BT.601, the
// weights of JPEG's Y) over a grid × grid partition of its area, pixels
// on a cell border shared by weight, so that resizing a picture moves
// every cell's value a little rather than some a lot. Every pixel is read
// once, through a row buffer, with fast paths for the pixel layouts the
// decoders produce.
func luminanceGrid(img image.Image) [grid * grid]float32 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	row := make([]float32, w)
	read := rowReader(img)
	xs, ys := coverage(w), coverage(h)
	var out [grid * grid]float32
	var cols [grid]float32
	k := 0 // next entry of ys
	for y := 0; y < h; y++ {
		read(b.Min.Y+y, row)
		cols = [grid]float32{}
		for _, e := range xs {
			cols[e.cell&(grid-1)] += e.weight * row[e.pixel]
		}
		for ; k < len(ys) && ys[k].pixel == y; k++ {
			line := out[int(ys[k].cell)*grid:][:grid]
			for j, v := range cols {
				line[j] += ys[k].weight * v
			}
		}
	}
	return out
}

// share is the part of a cell's area that one pixel row or column covers.
type share struct {
	pixel  int
	cell   int32
	weight float32
}

// coverage maps n pixels onto grid cells of n/grid pixels each: pixel p
// covers [p, p+1), cell c covers [c·n/grid, (c+1)·n/grid), and the share
// is their overlap over the cell's width. Shares are ordered by pixel; a
// picture smaller than the grid spreads each pixel over several cells.
func coverage(n int) []share {
	out := make([]share, 0, n+grid)
	cellW := float64(n) / grid
	for p := 0; p < n; p++ {
		for c := int(float64(p) / cellW); c < grid && float64(c)*cellW < float64(p+1); c++ {
			lo := max(float64(p), float64(c)*cellW)
			hi := min(float64(p+1), float64(c+1)*cellW)
			if hi > lo {
				out = append(out, share{pixel: p, cell: int32(c), weight: float32((hi - lo) / cellW)})
			}
		}
	}
	return out
}

// rowReader returns a function filling buf with the luminance of row y,
// composited onto white.
func rowReader(img image.Image) func(y int, buf []float32) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.YCbCr:
		return func(y int, buf []float32) {
			off := (y-m.Rect.Min.Y)*m.YStride + (b.Min.X - m.Rect.Min.X)
			for x, v := range m.Y[off : off+len(buf)] {
				buf[x] = float32(v)
			}
		}
	case *image.NYCbCrA:
		return func(y int, buf []float32) {
			off := (y-m.Rect.Min.Y)*m.YStride + (b.Min.X - m.Rect.Min.X)
			aoff := (y-m.Rect.Min.Y)*m.AStride + (b.Min.X - m.Rect.Min.X)
			ys, as := m.Y[off:off+len(buf)], m.A[aoff:aoff+len(buf)]
			for x := range buf {
				buf[x] = (float32(ys[x])-255)*float32(as[x])*(1.0/255) + 255
			}
		}
	case *image.Gray:
		return func(y int, buf []float32) {
			off := m.PixOffset(b.Min.X, y)
			for x, v := range m.Pix[off : off+len(buf)] {
				buf[x] = float32(v)
			}
		}
	case *image.Paletted:
		var lut [256]float32
		for i := range lut {
			lut[i] = 255 // indices past the palette read as white
		}
		for i, c := range m.Palette {
			if i < len(lut) {
				lut[i] = lumaOf(c)
			}
		}
		return func(y int, buf []float32) {
			off := m.PixOffset(b.Min.X, y)
			for x, v := range m.Pix[off : off+len(buf)] {
				buf[x] = lut[v]
			}
		}
	case *image.NRGBA:
		return func(y int, buf []float32) {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range buf {
				q := p[4*x : 4*x+4 : 4*x+4]
				a := float32(q[3]) * (1.0 / 255)
				buf[x] = (luma(float32(q[0]), float32(q[1]), float32(q[2]))-255)*a + 255
			}
		}
	case *image.RGBA: // premultiplied
		return func(y int, buf []float32) {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range buf {
				q := p[4*x : 4*x+4 : 4*x+4]
				buf[x] = luma(float32(q[0]), float32(q[1]), float32(q[2])) + 255 - float32(q[3])
			}
		}
	}
	return func(y int, buf []float32) {
		for x := range buf {
			buf[x] = lumaOf(img.At(b.Min.X+x, y))
		}
	}
}

func luma(r, g, b float32) float32 { return 0.299*r + 0.587*g + 0.114*b }

// lumaOf composites c (premultiplied, as color.Color returns it) onto white.
func lumaOf(c color.Color) float32 {
	r, g, b, a := c.RGBA()
	const k = 255.0 / 65535
	return luma(float32(r)*k, float32(g)*k, float32(b)*k) + 255*(1-float32(a)/65535)
}

// dct is the DCT-II basis over the grid: dct[u][x] = cos((2x+1)uπ/2N).
var dct = func() (t [dctSize][grid]float64) {
	for u := range t {
		for x := range t[u] {
			t[u][x] = math.Cos(float64(2*x+1) * float64(u) * math.Pi / (2 * grid))
		}
	}
	return t
}()

// dctSize: the 64 AC coefficients after DC in zig-zag order lie on the
// first 11 anti-diagonals, u, v < 11.
const dctSize = 11

// zigzag lists the (u, v) of the 64 lowest-frequency AC coefficients.
var zigzag = func() (out [64][2]int) {
	n := 0
	for s := 1; n < 64; s++ {
		for k := 0; k <= s && n < 64; k++ {
			u, v := k, s-k
			if s%2 == 1 {
				u, v = s-k, k
			}
			if u < dctSize && v < dctSize {
				out[n] = [2]int{u, v}
				n++
			}
		}
	}
	return out
}()

func pHash(g *[grid * grid]float32) uint64 {
	// Separable DCT, only the coefficients used: rows first, then columns.
	var rows [grid][dctSize]float64
	for y := 0; y < grid; y++ {
		for u := 0; u < dctSize; u++ {
			var s float64
			for x := 0; x < grid; x++ {
				s += float64(g[y*grid+x]) * dct[u][x]
			}
			rows[y][u] = s
		}
	}
	var coef [64]float64
	for i, uv := range zigzag {
		u, v := uv[0], uv[1]
		var s float64
		for y := 0; y < grid; y++ {
			s += rows[y][u] * dct[v][y]
		}
		coef[i] = s
	}
	sorted := coef
	sort.Float64s(sorted[:])
	median := (sorted[31] + sorted[32]) / 2
	var h uint64
	for i, c := range coef {
		if c > median {
			h |= 1 << (63 - i)
		}
	}
	return h
}

func dHash(g *[grid * grid]float32) uint64 {
	// Reduce the 32 × 32 grid to 9 × 8 by area weights (each output cell
	// covers 32/9 columns and 4 rows of the grid).
	var cells [8][9]float32
	for r := 0; r < 8; r++ {
		for c := 0; c < 9; c++ {
			x0, x1 := float32(c)*grid/9, float32(c+1)*grid/9
			var s, wsum float32
			for y := r * 4; y < r*4+4; y++ {
				for x := int(x0); x < grid && float32(x) < x1; x++ {
					w := min(x1, float32(x+1)) - max(x0, float32(x))
					s += g[y*grid+x] * w
					wsum += w
				}
			}
			cells[r][c] = s / wsum
		}
	}
	var h uint64
	for r := 0; r < 8; r++ {
		for c := 0; c < 8; c++ {
			if cells[r][c+1]-cells[r][c] > dMargin {
				h |= 1 << (63 - (r*8 + c))
			}
		}
	}
	return h
}

func transpose(g *[grid * grid]float32) *[grid * grid]float32 {
	var t [grid * grid]float32
	for y := 0; y < grid; y++ {
		for x := 0; x < grid; x++ {
			t[x*grid+y] = g[y*grid+x]
		}
	}
	return &t
}

// ParseHex reads the hex forms PHex and DHex wrote.
func ParseHex(p, d string) (Hash, error) {
	var h Hash
	if len(p) != 16 || len(d) != 32 {
		return Hash{}, fmt.Errorf("images: phash %q and dhash %q are not 16 and 32 hex digits", p, d)
	}
	for i, part := range []struct {
		s   string
		dst *uint64
	}{{p, &h.P}, {d[:16], &h.DX}, {d[16:], &h.DY}} {
		v, err := strconv.ParseUint(part.s, 16, 64)
		if err != nil {
			return Hash{}, fmt.Errorf("images: hash part %d %q: %w", i, part.s, err)
		}
		*part.dst = v
	}
	return h, nil
}
