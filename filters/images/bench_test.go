package images

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/filters/images/imagestest"
)

// BenchmarkDecodeHash is the cost of one picture on the message path:
// bounded decode plus the three hashes and the band keys, for an
// advertising banner of 600 × 400 (a typical image-only spam) in each
// format, and a photo of 1600 × 1200 as JPEG (a large attachment).
//
//	go test -run '^$' -bench DecodeHash -benchmem ./filters/images
func BenchmarkDecodeHash(b *testing.B) {
	banner := scaled(imagestest.Generate(imagestest.Banner, 11), 600, 400)
	photo := scaled(imagestest.Generate(imagestest.Photo, 11), 1600, 1200)
	webp, err := os.ReadFile(filepath.Join("decode", "testdata", "banner600.webp"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"banner-600x400.png", imagestest.PNG(banner)},
		{"banner-600x400.jpeg", imagestest.JPEG(banner, 80)},
		{"banner-600x400.gif", imagestest.GIF(banner)},
		{"banner-600x400.webp", webp},
		{"photo-1600x1200.jpeg", imagestest.JPEG(photo, 85)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				img, _, err := decode.Decode(context.Background(), tc.data, decodeLimits)
				if err != nil {
					b.Fatal(err)
				}
				h, err := Compute(img)
				if err != nil {
					b.Fatal(err)
				}
				_ = h.Bands()
			}
		})
	}
	b.Run("hash-only-600x400", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			if _, err := Compute(banner); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func scaled(src *image.RGBA, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Rect, src, src.Bounds(), draw.Src, nil)
	return dst
}

// reportCPU reports the process's CPU time per operation (cpu-µs/op)
// next to the wall time: on a machine shared with other work the wall
// time includes waiting for a core, the CPU time does not.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
