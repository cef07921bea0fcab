package content

import (
	"context"
	"crypto/sha256"
	"image"
	"testing"

	"golang.org/x/image/draw"

	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/filters/images/imagestest"
)

// BenchmarkQR is the cost of reading a picture for QR codes, cache off:
// a 600 × 400 advertising banner (JPEG, no code: the common case) and a
// picture holding a code. Run:
//
//	go test -run '^$' -bench QR ./filters/content
func BenchmarkQR(b *testing.B) {
	src := imagestest.Generate(imagestest.Banner, 11)
	banner := image.NewRGBA(image.Rect(0, 0, 600, 400))
	draw.CatmullRom.Scale(banner, banner.Rect, src, src.Bounds(), draw.Src, nil)
	jpeg := imagestest.JPEG(banner, 80)
	_, code := qrPNG(&testing.T{}, "https://quish.example.com/login", 300)
	q := NewQRReader(DefaultConfig().decodeLimits(), 0)
	for _, c := range []struct {
		name string
		data []byte
	}{{"banner", jpeg}, {"code", code}} {
		b.Run(c.name+"/decode", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				decode.Decode(context.Background(), c.data, DefaultConfig().decodeLimits())
			}
		})
		b.Run(c.name+"/decode+qr", func(b *testing.B) {
			sum := sha256.Sum256(c.data)
			for i := 0; i < b.N; i++ {
				q.Texts(context.Background(), c.data, sum)
			}
		})
	}
}
