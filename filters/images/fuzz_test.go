package images

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/filters/images/imagestest"
)

// FuzzHash runs what the content check runs on an image of a message:
// bounded decode, then the hashes and their bands. Whatever the bytes, it
// ends with a hash of 16 bands or a typed error, and never panics.
//
//	go test -fuzz FuzzHash -fuzzminimizetime 3s ./filters/images
func FuzzHash(f *testing.F) {
	src := imagestest.Generate(imagestest.Logo, 2)
	f.Add(imagestest.PNG(src))
	f.Add(imagestest.JPEG(src, 50))
	f.Add(imagestest.GIF(src))
	files, _ := filepath.Glob(filepath.Join("decode", "testdata", "*.*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && decode.Sniff(b) != decode.FormatUnknown {
			f.Add(b)
		}
	}
	lim := decode.Limits{MaxBytes: 1 << 20, MaxSide: 1024, MaxPixels: 256 << 10, MaxFrames: 8, MaxScans: 16, Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := decode.Decode(context.Background(), data, lim)
		if err != nil {
			return
		}
		h, err := Compute(img)
		switch {
		case err == nil && len(h.Bands()) != BandCount:
			t.Fatalf("%d bands", len(h.Bands()))
		case err != nil && err != ErrTooSmall && err != ErrFlat:
			t.Fatalf("error of no kind: %v", err)
		case err != nil && !h.IsZero():
			t.Fatal("a hash with an error")
		}
	})
}
