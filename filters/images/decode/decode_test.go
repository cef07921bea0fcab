package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/image/bmp"
)

// testLimits are the defaults with a deadline no loaded test machine
// reaches: the tests check bounds, not speed.
var testLimits = Limits{Timeout: time.Minute}

func picture(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	return img
}

func encode(t testing.TB, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// animatedGIF has n frames of w × h.
func animatedGIF(t testing.TB, w, h, n int) []byte {
	g := &gif.GIF{}
	for i := 0; i < n; i++ {
		p := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}})
		for j := range p.Pix {
			p.Pix[j] = uint8((j + i) % 3)
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 1)
	}
	return encode(t, func(b *bytes.Buffer) error { return gif.EncodeAll(b, g) })
}

func TestDecodeFormats(t *testing.T) {
	src := picture(40, 30)
	for _, tc := range []struct {
		name   string
		data   []byte
		format Format
		w, h   int
		frames int
		scans  int
	}{
		{"png", encode(t, func(b *bytes.Buffer) error { return png.Encode(b, src) }), FormatPNG, 40, 30, 1, 0},
		{"jpeg baseline", encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, src, nil) }), FormatJPEG, 40, 30, 1, 1},
		{"jpeg progressive", readTestdata(t, "progressive.jpg"), FormatJPEG, 120, 80, 1, 10},
		{"gif first of three frames", animatedGIF(t, 40, 30, 3), FormatGIF, 40, 30, 3, 0},
		{"bmp", encode(t, func(b *bytes.Buffer) error { return bmp.Encode(b, src) }), FormatBMP, 40, 30, 1, 0},
		{"webp lossy", readTestdata(t, "lossy.webp"), FormatWebP, 120, 80, 1, 0},
		{"webp lossless", readTestdata(t, "lossless.webp"), FormatWebP, 120, 80, 1, 0},
		{"webp with alpha", readTestdata(t, "alpha.webp"), FormatWebP, 120, 80, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, info, err := Decode(context.Background(), tc.data, testLimits)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := Info{Format: tc.format, Width: tc.w, Height: tc.h, Frames: tc.frames, Scans: tc.scans}
			if info != want {
				t.Errorf("info = %+v, want %+v", info, want)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Errorf("decoded %v, want %d × %d", b, tc.w, tc.h)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		lim  Limits
		want error
	}{
		{"not an image", []byte("<svg xmlns='http://www.w3.org/2000/svg'/>"), testLimits, ErrUnsupported},
		{"empty", nil, testLimits, ErrUnsupported},
		{"animated webp", readTestdata(t, "animated.webp"), testLimits, ErrUnsupported},
		{"png cut after the signature", []byte("\x89PNG\r\n\x1a\n"), testLimits, ErrMalformed},
		{"png without IHDR", pngWithChunks(chunk("IDAT", nil)), testLimits, ErrMalformed},
		{"png of 0 × 0", pngHeader(0, 0), testLimits, ErrMalformed},
		{"png cut in the pixels", pngHeader(64, 64), testLimits, ErrMalformed},
		{"jpeg without frame header", []byte{0xff, 0xd8, 0xff, 0xd9}, testLimits, ErrMalformed},
		{"jpeg with junk between segments", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 4, 1, 2, 0x42}, testLimits, ErrMalformed},
		{"gif without image", []byte("GIF89a\x10\x00\x10\x00\x00\x00\x00;"), testLimits, ErrMalformed},
		{"webp with an unknown first chunk", []byte("RIFF\x10\x00\x00\x00WEBPJUNK\x00\x00\x00\x00"), testLimits, ErrMalformed},
		{"too many bytes", encode(t, func(b *bytes.Buffer) error { return png.Encode(b, picture(40, 30)) }), Limits{MaxBytes: 100, Timeout: time.Minute}, ErrLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, _, err := Decode(context.Background(), tc.data, tc.lim)
			if !errors.Is(err, tc.want) || img != nil {
				t.Fatalf("Decode = %v, %v; want error %v", img, err, tc.want)
			}
		})
	}
}

func chunk(typ string, body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	out = append(out, typ...)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), body...)))
}

func pngWithChunks(chunks ...[]byte) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

// pngHeader is a PNG whose IHDR claims w × h RGBA pixels, followed by a
// tiny IDAT: the shape of a decompression bomb's first bytes.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	return pngWithChunks(chunk("IHDR", ihdr), chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}), chunk("IEND", nil))
}

// gifFrames is a GIF of one logical screen and n 1 × 1 frames, built by
// hand so that a test of 10,000 frames costs nothing to make.
func gifFrames(n int) []byte {
	out := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff")
	frame := []byte{0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0x02, 0x02, 0x44, 0x01, 0x00}
	for i := 0; i < n; i++ {
		out = append(out, frame...)
	}
	return append(out, 0x3b)
}

// jpegHeader is a JPEG with a frame header of w × h and n empty scans.
func jpegHeader(w, h uint16, scans int) []byte {
	out := []byte{0xff, 0xd8, 0xff, 0xc2, 0, 11, 8}
	out = binary.BigEndian.AppendUint16(out, h)
	out = binary.BigEndian.AppendUint16(out, w)
	out = append(out, 1, 1, 0x11, 0)
	for i := 0; i < scans; i++ {
		out = append(out, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0, 0x12, 0x34)
	}
	return append(out, 0xff, 0xd9)
}

func webpVP8X(w, h uint32, animated bool) []byte {
	body := []byte{0, 0, 0, 0}
	if animated {
		body[0] = 0x02
	}
	body = append(body, byte(w-1), byte((w-1)>>8), byte((w-1)>>16), byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	out := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00")
	return append(out, body...)
}

func bmpHeader(w, h int32) []byte {
	out := []byte("BM")
	out = binary.LittleEndian.AppendUint32(out, 54)
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, 54)
	out = binary.LittleEndian.AppendUint32(out, 40)
	out = binary.LittleEndian.AppendUint32(out, uint32(w))
	out = binary.LittleEndian.AppendUint32(out, uint32(h))
	out = append(out, 1, 0, 24, 0)
	return append(out, make([]byte, 24)...)
}

// bombs are headers that claim far more than the limits allow.
var bombs = []struct {
	name  string
	data  func() []byte
	bound Bound
}{
	{"png 100000 × 100000", func() []byte { return pngHeader(100000, 100000) }, BoundSide},
	{"png 16000 × 16000", func() []byte { return pngHeader(16000, 16000) }, BoundPixels},
	{"png 2^31 × 1", func() []byte { return pngHeader(1<<31-1, 1) }, BoundSide},
	{"apng of 100000 frames", func() []byte {
		ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 10), 10)
		actl := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 100000), 0)
		return pngWithChunks(chunk("IHDR", append(ihdr, 8, 6, 0, 0, 0)), chunk("acTL", actl))
	}, BoundFrames},
	{"gif of 10000 frames", func() []byte { return gifFrames(10000) }, BoundFrames},
	{"gif 65535 × 65535", func() []byte {
		return []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	}, BoundSide},
	{"gif 4096 × 4096", func() []byte {
		return []byte("GIF89a\x00\x10\x00\x10\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	}, BoundPixels},
	{"jpeg 65535 × 65535", func() []byte { return jpegHeader(65535, 65535, 1) }, BoundSide},
	{"jpeg 8000 × 8000", func() []byte { return jpegHeader(8000, 8000, 1) }, BoundPixels},
	{"jpeg of 5000 scans", func() []byte { return jpegHeader(64, 64, 5000) }, BoundScans},
	{"webp 16384 × 16384", func() []byte { return webpVP8X(16384, 16384, false) }, BoundPixels},
	{"bmp 100000 × -100000", func() []byte { return bmpHeader(100000, -100000) }, BoundSide},
}

// TestBombs: every bomb is refused before any decoder runs, with an error
// naming the bound, and the refusal allocates a few KiB whatever the
// header claims.
func TestBombs(t *testing.T) {
	for _, tc := range bombs {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data()
			var err error
			allocated := allocatedBytes(func() { _, _, err = Decode(context.Background(), data, testLimits) })
			var le *LimitError
			if !errors.As(err, &le) || le.Bound != tc.bound || !errors.Is(err, ErrLimit) {
				t.Fatalf("Decode error = %v, want a %s limit", err, tc.bound)
			}
			if allocated > 16<<10 {
				t.Errorf("refusing allocated %d bytes", allocated)
			}
			t.Logf("%v (allocated %d bytes)", err, allocated)
		})
	}
}

func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeMemoryBounded decodes the largest PNG the defaults allow and
// checks that the memory taken is what MaxPixels promises, not more.
func TestDecodeMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a 4-megapixel picture")
	}
	img := image.NewGray(image.Rect(0, 0, 2048, 2048))
	data := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, img) })
	var err error
	allocated := allocatedBytes(func() { _, _, err = Decode(context.Background(), data, testLimits) })
	if err != nil {
		t.Fatal(err)
	}
	// 4 Mi pixels of Gray, the row buffers and the zlib window.
	if limit := uint64(DefaultLimits().MaxPixels)*2 + 1<<20; allocated > limit {
		t.Errorf("decoding allocated %d bytes, more than %d", allocated, limit)
	}
	_, _, err = Decode(context.Background(), data, Limits{MaxPixels: 2048*2048 - 1, Timeout: time.Minute})
	if !errors.Is(err, ErrLimit) {
		t.Errorf("one pixel over MaxPixels: %v", err)
	}
}

func TestDecodeCancelAndDeadline(t *testing.T) {
	data := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, picture(200, 200)) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Decode(ctx, data, testLimits); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
	_, _, err := Decode(context.Background(), data, Limits{Timeout: time.Nanosecond})
	var le *LimitError
	if !errors.As(err, &le) || le.Bound != BoundTime {
		t.Errorf("1 ns deadline: %v", err)
	}
}

func TestSniff(t *testing.T) {
	for in, want := range map[string]Format{
		"\x89PNG\r\n\x1a\nrest":             FormatPNG,
		"\xff\xd8\xff\xe0":                  FormatJPEG,
		"GIF87a...":                         FormatGIF,
		"GIF89a...":                         FormatGIF,
		"RIFF\x00\x00\x00\x00WEBPVP8 ":      FormatWebP,
		"RIFF\x00\x00\x00\x00AVI LIST":      FormatUnknown,
		"BM" + string(make([]byte, 30)):     FormatBMP,
		"BM":                                FormatUnknown,
		"<svg":                              FormatUnknown,
		"\x00\x00\x00\x1cftypavif\x00\x00.": FormatUnknown,
	} {
		if got := Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkRefuseBomb is the cost of refusing each bomb: the header
// parsers only.
func BenchmarkRefuseBomb(b *testing.B) {
	for _, tc := range bombs {
		data := tc.data()
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, _, err := Decode(context.Background(), data, Limits{}); !errors.Is(err, ErrLimit) {
					b.Fatal(err)
				}
			}
		})
	}
}
