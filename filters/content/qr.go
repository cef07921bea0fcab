package content

import (
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"strings"
	"sync/atomic"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/vigilmail/vigil/dnsrep/lru"
	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/urlcheck"
)

// SourceQR is the source of a URL read from a QR code in a picture of
// the message (an inline or attached image, a data: image, an image of a
// PDF attachment): a reader scans it with a phone, where no mail filter
// sees the link, which is why phishing puts links there.
const SourceQR = "qr"

// qrMaxSide is the side a picture is reduced to before QR detection: a
// code a phone can scan off a screen has modules of several pixels, and
// detection time grows with the pixels.
const qrMaxSide = 512

// QRReader reads QR codes out of pictures, remembering the texts by the
// SHA-256 of the picture's bytes (a campaign sends one picture to
// thousands of recipients). Safe for concurrent use.
type QRReader struct {
	lim   decode.Limits
	cache *lru.Cache[[sha256.Size]byte, []string]
	// Decoded counts pictures decoded for QR codes, Found the codes read.
	Decoded, Found atomic.Int64
}

// NewQRReader returns a reader decoding within lim and remembering the
// last cacheSize pictures (0: none).
func NewQRReader(lim decode.Limits, cacheSize int) *QRReader {
	q := &QRReader{lim: lim}
	if cacheSize > 0 {
		q.cache = lru.New[[sha256.Size]byte, []string](cacheSize)
	}
	return q
}

// Texts returns the texts of the QR codes in the picture data (whose
// SHA-256 is sum): none for bytes that are no picture the decoder takes,
// a picture over its limits, or one without a code.
func (q *QRReader) Texts(ctx context.Context, data []byte, sum [sha256.Size]byte) []string {
	now := time.Now()
	if t, _, ok := q.cache.Get(sum, now); ok {
		return t
	}
	img, _, err := decode.Decode(ctx, data, q.lim)
	if err != nil {
		if ctx.Err() == nil {
			q.cache.Put(sum, nil, now.Add(cacheTTL))
		}
		return nil
	}
	t := q.Image(img)
	q.cache.Put(sum, t, now.Add(cacheTTL))
	return t
}

// Cached returns the texts remembered for the picture whose SHA-256 is
// sum, if any.
func (q *QRReader) Cached(sum [sha256.Size]byte) ([]string, bool) {
	t, _, ok := q.cache.Get(sum, time.Now())
	return t, ok
}

// Remember keeps the texts read from the picture whose SHA-256 is sum.
func (q *QRReader) Remember(sum [sha256.Size]byte, texts []string) {
	q.cache.Put(sum, texts, time.Now().Add(cacheTTL))
}

// cacheTTL: a picture's codes never change; the bound is the cache size.
const cacheTTL = 24 * time.Hour

// Image returns the texts of the QR codes in a decoded picture.
func (q *QRReader) Image(img image.Image) (texts []string) {
	b := img.Bounds()
	if b.Dx() < 21 || b.Dy() < 21 {
		return nil // smaller than a version 1 code of one pixel a module
	}
	q.Decoded.Add(1)
	defer func() {
		// The library is a port of ZXing: a hostile picture must not
		// take the check down with a panic inside it.
		if r := recover(); r != nil {
			texts = nil
		}
	}()
	gray := luminance(img, qrMaxSide)
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(gray)))
	if err != nil {
		return nil
	}
	// One code a picture: the reader for several tries every finder
	// pattern triple and costs several times more on the pictures that
	// hold none, which are nearly all.
	r, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return nil
	}
	if t := strings.TrimSpace(r.GetText()); t != "" {
		texts = append(texts, t)
	}
	q.Found.Add(int64(len(texts)))
	return texts
}

// luminance converts img to grey (ITU-R BT.601 luma), averaging boxes
// down to at most side pixels a side.
func luminance(img image.Image, side int) *image.Gray {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	f := 1
	for w/f > side || h/f > side {
		f++
	}
	// The luma of each pixel, read straight from the decoder's planes
	// where it can be (a JPEG's Y plane is the luma), else through At.
	at := func(x, y int) int { return int(grey(img.At(x, y))) }
	switch im := img.(type) {
	case *image.YCbCr:
		at = func(x, y int) int { return int(im.Y[im.YOffset(x, y)]) }
	case *image.Gray:
		at = func(x, y int) int { return int(im.Pix[im.PixOffset(x, y)]) }
	case *image.NRGBA:
		at = func(x, y int) int {
			p := im.Pix[im.PixOffset(x, y):]
			a := int(p[3])
			l := (299*int(p[0]) + 587*int(p[1]) + 114*int(p[2])) / 1000
			return (l*a + 255*(255-a)) / 255
		}
	case *image.RGBA:
		at = func(x, y int) int {
			p := im.Pix[im.PixOffset(x, y):]
			// Premultiplied: add the white the alpha leaves.
			return (299*int(p[0])+587*int(p[1])+114*int(p[2]))/1000 + 255 - int(p[3])
		}
	}
	out := image.NewGray(image.Rect(0, 0, w/f, h/f))
	for y := 0; y < h/f; y++ {
		for x := 0; x < w/f; x++ {
			var sum, n int
			for dy := 0; dy < f; dy++ {
				for dx := 0; dx < f; dx++ {
					sum += at(b.Min.X+x*f+dx, b.Min.Y+y*f+dy)
					n++
				}
			}
			out.Pix[y*out.Stride+x] = uint8(min(255, sum/n))
		}
	}
	return out
}

// grey is the luma of c composited onto white (a transparent code on a
// white page is what the reader sees).
func grey(c color.Color) uint8 {
	r, g, b, a := c.RGBA()
	white := 0xffff - a
	r, g, b = r+white, g+white, b+white
	return uint8((299*r + 587*g + 114*b) / 1000 >> 8)
}

// qrURLs adds the links among the texts of the codes of one picture
// (src says which). A text that is not a link (a Wi-Fi setting, a
// payment code) is not one of the message's links.
func (x *extractor) qrURLs(texts []string, src string) {
	for _, t := range texts {
		found := urlcheck.ExtractTextLimit(t, 4)
		if len(found) == 0 {
			continue
		}
		x.qrCodes = append(x.qrCodes, fmt.Sprintf("%s: %s", src, capText(t, 120)))
		for _, f := range found {
			x.addURL(f.URL, f.Kind == urlcheck.KindEmail, SourceQR, "")
		}
	}
}

// scanQR reads the QR codes of one picture (data, whose SHA-256 is sum)
// when the message's QR budget allows.
func (x *extractor) scanQR(data []byte, sum [sha256.Size]byte, src string) {
	if !x.wantQR() {
		return
	}
	x.qrScanned++
	x.qrURLs(x.qr.Texts(x.pictureContext(), data, sum), src)
}

// pictureContext is the context of the message's picture decodes: they
// share content.image_hash_timeout.
func (x *extractor) pictureContext() context.Context {
	if x.pictureCtx == nil {
		x.pictureCtx, x.pictureCancel = context.WithTimeout(x.ctx, time.Duration(x.cfg.ImageHashTimeout))
	}
	return x.pictureCtx
}

// wantQR reports whether the next picture may be read for QR codes.
func (x *extractor) wantQR() bool {
	return x.cfg.QRCodes && x.qr != nil && x.qrScanned < x.cfg.MaxQRImages
}
