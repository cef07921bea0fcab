// Package imagestest generates the pictures the image tests measure on:
// everyday pictures of four kinds (photo-like scenes, logos, screenshots
// of text, advertising banners), each deterministic from a seed, and the
// variants a spammer makes of one picture (noise, a few percent of
// resizing, JPEG recompression, PNG turned JPEG or GIF).
package imagestest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	stddraw "image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"sync"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Kinds of generated pictures.
const (
	Photo      = "photo"
	Logo       = "logo"
	Screenshot = "screenshot"
	Banner     = "banner"
)

// Kinds lists them.
var Kinds = []string{Photo, Logo, Screenshot, Banner}

// Generate returns picture number seed of the kind, of a size that varies
// with the seed as real pictures of that kind do.
func Generate(kind string, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, uint64(len(kind))*0x9e3779b97f4a7c15))
	switch kind {
	case Photo:
		return photo(r, 320+r.IntN(320), 240+r.IntN(240))
	case Logo:
		return logo(r, 160+r.IntN(200), 60+r.IntN(100))
	case Screenshot:
		return screenshot(r, 480+r.IntN(400), 320+r.IntN(300))
	case Banner:
		return banner(r, 468+r.IntN(200), 200+r.IntN(300))
	}
	panic("imagestest: unknown kind " + kind)
}

func randColor(r *rand.Rand) color.RGBA {
	return color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
}

func clamp(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }

// photo: a sky-to-ground gradient with a horizon, soft blobs of colour
// (objects out of focus) and sensor-like grain.
func photo(r *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	top, bottom, ground := randColor(r), randColor(r), randColor(r)
	horizon := float64(h) * (0.4 + 0.3*r.Float64())
	type blob struct {
		x, y, rad float64
		c         color.RGBA
	}
	blobs := make([]blob, 5+r.IntN(8))
	for i := range blobs {
		blobs[i] = blob{r.Float64() * float64(w), r.Float64() * float64(h), 20 + r.Float64()*float64(min(w, h))/3, randColor(r)}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			t := float64(y) / float64(h)
			c := [3]float64{
				float64(top.R)*(1-t) + float64(bottom.R)*t,
				float64(top.G)*(1-t) + float64(bottom.G)*t,
				float64(top.B)*(1-t) + float64(bottom.B)*t,
			}
			if float64(y) > horizon+10*math.Sin(float64(x)/37) {
				c = [3]float64{float64(ground.R), float64(ground.G), float64(ground.B)}
			}
			for _, b := range blobs {
				dx, dy := (float64(x)-b.x)/b.rad, (float64(y)-b.y)/b.rad
				if dx > 2 || dx < -2 || dy > 2 || dy < -2 {
					continue
				}
				if d := math.Sqrt(dx*dx + dy*dy); d < 2 {
					a := math.Exp(-d * d * 2)
					c[0] = c[0]*(1-a) + float64(b.c.R)*a
					c[1] = c[1]*(1-a) + float64(b.c.G)*a
					c[2] = c[2]*(1-a) + float64(b.c.B)*a
				}
			}
			n := r.NormFloat64() * 5
			q := img.Pix[img.PixOffset(x, y):]
			q[0], q[1], q[2], q[3] = clamp(c[0]+n), clamp(c[1]+n), clamp(c[2]+n), 255
		}
	}
	return img
}

var (
	faceMu sync.Mutex
	fonts  [2]*opentype.Font
	faces  = map[[2]float64]font.Face{}
)

// face returns a cached face: opening one costs more than drawing a line.
func face(bold bool, size float64) font.Face {
	faceMu.Lock()
	defer faceMu.Unlock()
	if fonts[0] == nil {
		for i, ttf := range [][]byte{goregular.TTF, gobold.TTF} {
			f, err := opentype.Parse(ttf)
			if err != nil {
				panic(err)
			}
			fonts[i] = f
		}
	}
	b := 0
	if bold {
		b = 1
	}
	key := [2]float64{float64(b), math.Round(size)}
	if fc, ok := faces[key]; ok {
		return fc
	}
	fc, err := opentype.NewFace(fonts[b], &opentype.FaceOptions{Size: key[1], DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		panic(err)
	}
	faces[key] = fc
	return fc
}

func text(img *image.RGBA, c color.Color, bold bool, size float64, x, y int, s string) int {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face(bold, size), Dot: fixed.P(x, y)}
	d.DrawString(s)
	return d.Dot.X.Round()
}

func fill(img *image.RGBA, rect image.Rectangle, c color.Color) {
	stddraw.Draw(img, rect, image.NewUniform(c), image.Point{}, stddraw.Src)
}

var vocabulary = strings.Fields(`the offer account invoice meeting today free exclusive winner
	shipment delivery password update verify report project quarterly limited time save
	discount order number customer service please review attached document schedule
	payment confirm your subscription newsletter weekly news price best deal online store
	pharmacy casino bonus credit loan approved congratulations prize claim now click here
	security alert unusual activity login team agenda budget draft lunch friday monday`)

func words(r *rand.Rand, n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = vocabulary[r.IntN(len(vocabulary))]
	}
	return strings.Join(ws, " ")
}

// logo: a plain or light background, one to three shapes in brand
// colours and a bold word.
func logo(r *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bg := color.RGBA{255, 255, 255, 255}
	if r.IntN(3) == 0 {
		bg = randColor(r)
	}
	fill(img, img.Rect, bg)
	brand := randColor(r)
	x := 8
	for i := 0; i < 1+r.IntN(3); i++ {
		s := h/2 + r.IntN(h/3)
		cx, cy := x+s/2, h/2
		c := brand
		if i > 0 {
			c = randColor(r)
		}
		switch r.IntN(3) {
		case 0:
			for y := cy - s/2; y < cy+s/2; y++ {
				for xx := cx - s/2; xx < cx+s/2; xx++ {
					if math.Hypot(float64(xx-cx), float64(y-cy)) < float64(s)/2 {
						img.Set(xx, y, c)
					}
				}
			}
		case 1:
			fill(img, image.Rect(cx-s/2, cy-s/2, cx+s/2, cy+s/2), c)
		default:
			for y := 0; y < s; y++ {
				half := y / 2
				fill(img, image.Rect(cx-half, cy-s/2+y, cx+half, cy-s/2+y+1), c)
			}
		}
		x += s/2 + 4
	}
	word := strings.ToUpper(vocabulary[r.IntN(len(vocabulary))])
	text(img, brand, true, float64(h)/2.2, x+6, h/2+int(float64(h)/6), word)
	return img
}

// screenshot: a window with a title bar, a sidebar, paragraphs of text and
// a button, on white.
func screenshot(r *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Rect, color.White)
	bar := color.RGBA{uint8(200 + r.IntN(40)), uint8(200 + r.IntN(40)), uint8(200 + r.IntN(40)), 255}
	fill(img, image.Rect(0, 0, w, 28), bar)
	text(img, color.Black, true, 13, 10, 19, words(r, 3))
	left := 12
	if r.IntN(2) == 0 {
		side := 100 + r.IntN(60)
		fill(img, image.Rect(0, 28, side, h), color.RGBA{245, 245, 248, 255})
		for y := 50; y < h-20; y += 24 {
			text(img, color.RGBA{60, 60, 60, 255}, false, 12, 10, y, words(r, 2))
		}
		left = side + 16
	}
	size := 12 + float64(r.IntN(5))
	y := 60
	for p := 0; y < h-60; p++ {
		text(img, color.RGBA{20, 20, 20, 255}, true, size+4, left, y, words(r, 2+r.IntN(4)))
		y += int(size*2) + 4
		for l := 0; l < 2+r.IntN(4) && y < h-60; l++ {
			text(img, color.RGBA{40, 40, 40, 255}, false, size, left, y, words(r, 4+r.IntN(int(float64(w-left)/(size*4)))))
			y += int(size*1.5) + 2
		}
		y += int(size)
	}
	btn := randColor(r)
	fill(img, image.Rect(left, h-48, left+140, h-16), btn)
	text(img, color.White, true, 13, left+14, h-27, words(r, 2))
	return img
}

// banner: an advertisement: a coloured background, a headline, a price
// and a call-to-action button.
func banner(r *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bg1, bg2 := randColor(r), randColor(r)
	for y := 0; y < h; y++ {
		t := float64(y) / float64(h)
		c := color.RGBA{clamp(float64(bg1.R)*(1-t) + float64(bg2.R)*t), clamp(float64(bg1.G)*(1-t) + float64(bg2.G)*t), clamp(float64(bg1.B)*(1-t) + float64(bg2.B)*t), 255}
		fill(img, image.Rect(0, y, w, y+1), c)
	}
	ink := color.RGBA{255, 255, 255, 255}
	if int(bg1.R)+int(bg1.G)+int(bg1.B) > 450 {
		ink = color.RGBA{0, 0, 0, 255}
	}
	size := float64(h) / 7
	y := int(size * 1.4)
	for l := 0; l < 2; l++ {
		text(img, ink, true, size, 14, y, strings.ToUpper(words(r, 2+r.IntN(2))))
		y += int(size * 1.3)
	}
	text(img, randColor(r), true, size*1.3, 14, y+int(size*0.4), fmt.Sprintf("$%d.%02d", 1+r.IntN(199), r.IntN(100)))
	cta := randColor(r)
	bx, by := w-int(size*6)-14, h-int(size*1.8)-10
	fill(img, image.Rect(bx, by, w-14, h-10), cta)
	text(img, ink, true, size*0.7, bx+10, by+int(size*1.2), strings.ToUpper(words(r, 2)))
	return img
}

// A Variant turns a picture into the encoded bytes a spammer would send.
type Variant struct {
	Name string
	Make func(src *image.RGBA, seed uint64) []byte
}

// Variants are the changes a spammer makes to evade exact hashes.
var Variants = []Variant{
	{"png", func(src *image.RGBA, _ uint64) []byte { return PNG(src) }},
	{"jpeg-q90", func(src *image.RGBA, _ uint64) []byte { return JPEG(src, 90) }},
	{"jpeg-q70", func(src *image.RGBA, _ uint64) []byte { return JPEG(src, 70) }},
	{"jpeg-q50", func(src *image.RGBA, _ uint64) []byte { return JPEG(src, 50) }},
	{"jpeg-q30", func(src *image.RGBA, _ uint64) []byte { return JPEG(src, 30) }},
	{"noise-s8", func(src *image.RGBA, seed uint64) []byte { return PNG(Noise(src, 8, seed)) }},
	{"one-pixel", func(src *image.RGBA, _ uint64) []byte { return PNG(OnePixel(src)) }},
	{"resize-97", func(src *image.RGBA, _ uint64) []byte { return PNG(Resize(src, 0.97)) }},
	{"resize-103", func(src *image.RGBA, _ uint64) []byte { return PNG(Resize(src, 1.03)) }},
	{"resize-90", func(src *image.RGBA, _ uint64) []byte { return PNG(Resize(src, 0.90)) }},
	{"gif-dither", func(src *image.RGBA, _ uint64) []byte { return GIF(src) }},
	{"brighter-10", func(src *image.RGBA, _ uint64) []byte { return PNG(Brighter(src, 10)) }},
	{"resize-97+jpeg-q60+noise", func(src *image.RGBA, seed uint64) []byte { return JPEG(Noise(Resize(src, 0.97), 4, seed), 60) }},
}

// PNG encodes img as PNG (fast compression: the tests encode thousands).
func PNG(img image.Image) []byte {
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// JPEG encodes img as baseline JPEG of quality q.
func JPEG(img image.Image, q int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// GIF encodes img as a GIF of the 216 web-safe colours with
// Floyd–Steinberg dithering, as a PNG turned GIF is.
func GIF(img *image.RGBA) []byte {
	b := img.Bounds()
	p := image.NewPaletted(b, palette.WebSafe)
	w := b.Dx()
	// Error diffusion over the current and the next row.
	cur, next := make([][3]float64, w+2), make([][3]float64, w+2)
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < w; x++ {
			q := img.Pix[img.PixOffset(b.Min.X+x, b.Min.Y+y):]
			var idx [3]int
			for c := 0; c < 3; c++ {
				v := float64(q[c]) + cur[x+1][c]
				l := int(math.Round(max(0, min(255, v)) / 51))
				idx[c] = l
				e := v - float64(l*51)
				cur[x+2][c] += e * 7 / 16
				next[x][c] += e * 3 / 16
				next[x+1][c] += e * 5 / 16
				next[x+2][c] += e * 1 / 16
			}
			// palette.WebSafe orders red, then green, then blue levels.
			p.Pix[p.PixOffset(b.Min.X+x, b.Min.Y+y)] = uint8(idx[0]*36 + idx[1]*6 + idx[2])
		}
		cur, next = next, cur
		clear(next)
	}
	var out bytes.Buffer
	if err := gif.Encode(&out, p, nil); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// Noise adds Gaussian noise of standard deviation sd to every channel.
func Noise(src *image.RGBA, sd float64, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 7))
	out := image.NewRGBA(src.Rect)
	for i := 0; i < len(src.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			out.Pix[i+c] = clamp(float64(src.Pix[i+c]) + r.NormFloat64()*sd)
		}
		out.Pix[i+3] = src.Pix[i+3]
	}
	return out
}

// OnePixel changes one pixel, the cheapest way to defeat an exact hash.
func OnePixel(src *image.RGBA) *image.RGBA {
	out := image.NewRGBA(src.Rect)
	copy(out.Pix, src.Pix)
	out.Pix[0] ^= 0xff
	return out
}

// Resize scales src by f with Catmull-Rom resampling.
func Resize(src *image.RGBA, f float64) *image.RGBA {
	b := src.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, int(math.Round(float64(b.Dx())*f)), int(math.Round(float64(b.Dy())*f))))
	draw.CatmullRom.Scale(out, out.Rect, src, b, draw.Src, nil)
	return out
}

// Brighter adds d to every channel.
func Brighter(src *image.RGBA, d float64) *image.RGBA {
	out := image.NewRGBA(src.Rect)
	for i := 0; i < len(src.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			out.Pix[i+c] = clamp(float64(src.Pix[i+c]) + d)
		}
		out.Pix[i+3] = src.Pix[i+3]
	}
	return out
}
