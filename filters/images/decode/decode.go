// Package decode turns the bytes of an image from a message (an inline
// part, an attachment, a data: URL, a page of a document) into an
// image.Image without letting those bytes choose how much memory or time
// it takes.
//
// Every image in a message is attacker input, and a decompression bomb is
// a few hundred bytes that claim a picture of 100,000 × 100,000 pixels: the
// standard decoders allocate the whole picture as soon as they have read
// its header. Decode therefore reads the header first, with its own small
// parsers that allocate nothing in proportion to what the header claims,
// and refuses the image when its width, height, pixel count, frame count
// (GIF, animated PNG and WebP) or scan count (progressive JPEG) exceeds
// the Limits. Only then does a standard decoder run, under a deadline and
// within a process-wide cap on concurrent decodes, so the memory all
// decodes can take at once is bounded too.
//
// Formats: PNG, JPEG (baseline and progressive), GIF (its first frame),
// WebP (lossy and lossless stills) and BMP, recognised by their magic
// bytes, never by a declared media type. SVG is text and is not an image
// here.
package decode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

// Format is an image format recognised by its magic bytes.
type Format string

// The formats Decode reads.
const (
	FormatUnknown Format = ""
	FormatPNG     Format = "png"
	FormatJPEG    Format = "jpeg"
	FormatGIF     Format = "gif"
	FormatWebP    Format = "webp"
	FormatBMP     Format = "bmp"
)

// Limits bounds one decode. A zero field means the default of that field
// (DefaultLimits); there is no way to switch a bound off.
type Limits struct {
	// MaxBytes is the largest encoded image read (default 8 MiB).
	MaxBytes int
	// MaxSide is the largest width or height in pixels (default 16384).
	MaxSide int
	// MaxPixels is the largest width × height (default 4,194,304, such as
	// 2048 × 2048). It bounds the memory of one decode: at most 8 bytes a
	// pixel for the picture (16-bit RGBA PNG) plus, for a progressive
	// JPEG, 4 bytes a pixel and component of coefficients.
	MaxPixels int64
	// MaxFrames is the largest number of frames of an animated GIF, PNG
	// or WebP (default 100). Only the first frame is decoded; a file with
	// more frames than this is not a picture a person sends.
	MaxFrames int
	// MaxScans is the largest number of scans of a JPEG (default 64). A
	// progressive JPEG's decoder makes a pass over every block for each
	// scan, so the scan count multiplies the time the pixel count allows;
	// real encoders write about ten.
	MaxScans int
	// Timeout bounds the decode itself (default 500 ms), checked each
	// time the decoder reads more input.
	Timeout time.Duration
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:  8 << 20,
		MaxSide:   16384,
		MaxPixels: 4 << 20,
		MaxFrames: 100,
		MaxScans:  64,
		Timeout:   500 * time.Millisecond,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxSide <= 0 {
		l.MaxSide = d.MaxSide
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = d.MaxPixels
	}
	if l.MaxFrames <= 0 {
		l.MaxFrames = d.MaxFrames
	}
	if l.MaxScans <= 0 {
		l.MaxScans = d.MaxScans
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	return l
}

// Info is what the header of an image says.
type Info struct {
	Format Format
	Width  int
	Height int
	// Frames is the number of frames (1 for a still picture); for a GIF
	// the number counted before the walk stopped.
	Frames int
	// Scans is the number of JPEG scans (0 for other formats).
	Scans int
}

// Pixels is Width × Height.
func (i Info) Pixels() int64 { return int64(i.Width) * int64(i.Height) }

// Errors. A refused image yields a *LimitError (errors.Is(err, ErrLimit));
// an image that is not one of the formats ErrUnsupported; a broken one
// ErrMalformed, wrapping what the decoder said.
var (
	ErrLimit       = errors.New("decode: limit exceeded")
	ErrUnsupported = errors.New("decode: unsupported image")
	ErrMalformed   = errors.New("decode: malformed image")
)

// Bound names one of the Limits.
type Bound string

// The bounds a LimitError can name.
const (
	BoundBytes  Bound = "bytes"
	BoundSide   Bound = "side"
	BoundPixels Bound = "pixels"
	BoundFrames Bound = "frames"
	BoundScans  Bound = "scans"
	BoundTime   Bound = "time"
)

// LimitError says which bound refused an image, what the image claimed
// and what the limit is.
type LimitError struct {
	Bound Bound
	Got   int64
	Limit int64
	// AtLeast: Got is where counting stopped (frames, scans), not the
	// total the file holds.
	AtLeast bool
}

func (e *LimitError) Error() string {
	switch {
	case e.Bound == BoundTime:
		return fmt.Sprintf("decode: took longer than %v", time.Duration(e.Limit))
	case e.AtLeast:
		return fmt.Sprintf("decode: more than %d %s", e.Limit, e.Bound)
	case e.Bound == BoundSide:
		return fmt.Sprintf("decode: a side of %d pixels exceeds the limit %d", e.Got, e.Limit)
	}
	return fmt.Sprintf("decode: %d %s exceed the limit %d", e.Got, e.Bound, e.Limit)
}

// Is makes errors.Is(err, ErrLimit) true for every LimitError.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// Sniff recognises the format from the first bytes of data.
func Sniff(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return FormatJPEG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return FormatGIF
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return FormatWebP
	case bytes.HasPrefix(data, []byte("BM")) && len(data) >= 26:
		return FormatBMP
	}
	return FormatUnknown
}

// Inspect reads the header of data and checks it against lim without
// decoding any pixel. Its cost is proportional to the header, or for GIF
// and JPEG (whose frames and scans are counted) to the file; it allocates
// nothing in proportion to the dimensions the header claims.
func Inspect(data []byte, lim Limits) (Info, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return Info{}, &LimitError{Bound: BoundBytes, Got: int64(len(data)), Limit: int64(lim.MaxBytes)}
	}
	var (
		info Info
		err  error
	)
	switch f := Sniff(data); f {
	case FormatPNG:
		info, err = inspectPNG(data, lim)
	case FormatJPEG:
		info, err = inspectJPEG(data, lim)
	case FormatGIF:
		info, err = inspectGIF(data, lim)
	case FormatWebP:
		info, err = inspectWebP(data, lim)
	case FormatBMP:
		info, err = inspectBMP(data)
	default:
		return Info{}, ErrUnsupported
	}
	if err != nil {
		return info, err
	}
	if info.Width <= 0 || info.Height <= 0 {
		return info, fmt.Errorf("%w: %s of %d × %d pixels", ErrMalformed, info.Format, info.Width, info.Height)
	}
	if m := max(info.Width, info.Height); m > lim.MaxSide {
		return info, &LimitError{Bound: BoundSide, Got: int64(m), Limit: int64(lim.MaxSide)}
	}
	if p := info.Pixels(); p > lim.MaxPixels {
		return info, &LimitError{Bound: BoundPixels, Got: p, Limit: lim.MaxPixels}
	}
	return info, nil
}

// slots is the process-wide cap on decodes running at once: a decode is
// CPU-bound, so more than one per core only adds memory, and with it the
// memory of all decodes together is at most slots × one decode's bound
// however many messages arrive at once.
var slots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// Decode checks data against lim (Inspect) and decodes it: the first frame
// of a GIF, the default image of an animated PNG. The error says why an
// image was refused (*LimitError), not recognised (ErrUnsupported) or
// broken (ErrMalformed); ctx cancels a decode waiting for its turn or
// running.
func Decode(ctx context.Context, data []byte, lim Limits) (image.Image, Info, error) {
	lim = lim.withDefaults()
	info, err := Inspect(data, lim)
	if err != nil {
		return nil, info, err
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, info, fmt.Errorf("decode: %w", ctx.Err())
	}
	defer func() { <-slots }()
	deadline := time.Now().Add(lim.Timeout)
	r := &deadlineReader{ctx: ctx, r: bytes.NewReader(data), deadline: deadline, limit: lim.Timeout}
	img, err := decodeFormat(info.Format, r)
	if r.err != nil {
		return nil, info, r.err
	}
	if err != nil {
		return nil, info, fmt.Errorf("%w: %s: %w", ErrMalformed, info.Format, err)
	}
	// A decoder that ignores trailing data could still return a picture of
	// another size than its header said; what callers get must be what
	// was checked.
	if b := img.Bounds(); int64(b.Dx())*int64(b.Dy()) > lim.MaxPixels {
		return nil, info, &LimitError{Bound: BoundPixels, Got: int64(b.Dx()) * int64(b.Dy()), Limit: lim.MaxPixels}
	}
	return img, info, nil
}

func decodeFormat(f Format, r io.Reader) (img image.Image, err error) {
	// The standard decoders are hardened, but they see attacker bytes: a
	// panic in one must be a broken image, not a crashed daemon.
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("decoder panic: %v", p)
		}
	}()
	switch f {
	case FormatPNG:
		return png.Decode(r)
	case FormatJPEG:
		return jpeg.Decode(r)
	case FormatGIF:
		return gif.Decode(r) // the first frame only
	case FormatWebP:
		return webp.Decode(r)
	case FormatBMP:
		return bmp.Decode(r)
	}
	return nil, ErrUnsupported
}

// deadlineReader fails the decode once the deadline passes or ctx is done.
// The decoders read their input in small pieces (a few KiB, a PNG chunk)
// and the pixels a piece yields are bounded by the checked dimensions, so
// checking at each read bounds the time.
type deadlineReader struct {
	ctx      context.Context
	r        io.Reader
	deadline time.Time
	limit    time.Duration
	err      error
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if err := d.ctx.Err(); err != nil {
		d.err = fmt.Errorf("decode: %w", err)
		return 0, d.err
	}
	if !time.Now().Before(d.deadline) {
		d.err = &LimitError{Bound: BoundTime, Limit: int64(d.limit)}
		return 0, d.err
	}
	return d.r.Read(p)
}
