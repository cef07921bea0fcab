package decode

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/image/bmp"
)

// FuzzDecode: whatever the bytes, Decode returns a picture within the
// limits and within the size Inspect read, or an error of one of the three
// kinds; it never panics.
//
//	go test -fuzz FuzzDecode -fuzzminimizetime 3s ./filters/images/decode
//
// (Minimizing a new input of a few KiB takes up to a minute by default,
// during which the fuzzer reports 0 execs/s.)
func FuzzDecode(f *testing.F) {
	src := picture(24, 16)
	for _, enc := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return png.Encode(b, src) },
		func(b *bytes.Buffer) error { return jpeg.Encode(b, src, nil) },
		func(b *bytes.Buffer) error { return bmp.Encode(b, src) },
	} {
		f.Add(encode(f, enc))
	}
	f.Add(animatedGIF(f, 8, 8, 3))
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && Sniff(b) != FormatUnknown {
			f.Add(b)
		}
	}
	for _, tc := range bombs {
		if b := tc.data(); len(b) < 4096 {
			f.Add(b)
		}
	}
	// The many-frames and many-scans bombs, at the fuzz limits' scale.
	f.Add(gifFrames(10))
	f.Add(jpegHeader(64, 64, 20))
	// Small limits, so the fuzzer reaches them with small inputs.
	lim := Limits{MaxBytes: 1 << 20, MaxSide: 512, MaxPixels: 64 << 10, MaxFrames: 8, MaxScans: 16, Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, info, err := Decode(context.Background(), data, lim)
		if err != nil {
			if img != nil {
				t.Fatal("a picture with an error")
			}
			if !errors.Is(err, ErrLimit) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		// A GIF's first frame may cover part of its logical screen.
		b := img.Bounds()
		if !b.In(image.Rect(0, 0, info.Width, info.Height)) {
			t.Fatalf("decoded %v, header said %d × %d", b, info.Width, info.Height)
		}
		if max(b.Dx(), b.Dy()) > lim.MaxSide || int64(b.Dx())*int64(b.Dy()) > lim.MaxPixels {
			t.Fatalf("decoded %v beyond the limits", b)
		}
	})
}
