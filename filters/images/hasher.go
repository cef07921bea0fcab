package images

import (
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"sync/atomic"
	"time"

	"github.com/vigilmail/vigil/dnsrep/lru"
	"github.com/vigilmail/vigil/filters/images/decode"
)

// Picture is what the Hasher found in one image.
type Picture struct {
	// Hash is the perceptual hash, the zero Hash when there is none.
	Hash Hash
	// Width and Height are the decoded size; 0 when not decoded.
	Width, Height int
	// Err says why there is no Hash: a *decode.LimitError,
	// decode.ErrUnsupported, decode.ErrMalformed, ErrTooSmall, ErrFlat.
	Err error
}

// Hasher decodes images within limits and hashes them, remembering the
// result by the SHA-256 of the bytes: a campaign sends one picture to
// thousands of recipients, a newsletter its logo in every issue, and
// decoding is most of the cost of an image. Safe for concurrent use.
type Hasher struct {
	lim   decode.Limits
	cache *lru.Cache[[sha256.Size]byte, Picture]

	// Decoded counts the images decoded, CacheHits those answered from
	// the cache (for metrics).
	Decoded, CacheHits atomic.Int64
}

// cacheTTL: a picture's hash never changes; the bound on the cache is its
// size, the TTL only lets a long-idle entry go.
const cacheTTL = 24 * time.Hour

// NewHasher returns a Hasher decoding within lim and remembering the last
// cacheSize pictures (0: none).
func NewHasher(lim decode.Limits, cacheSize int) *Hasher {
	h := &Hasher{lim: lim}
	if cacheSize > 0 {
		h.cache = lru.New[[sha256.Size]byte, Picture](cacheSize)
	}
	return h
}

// Lookup returns the picture remembered for the bytes whose SHA-256 is
// sum, if any.
func (h *Hasher) Lookup(sum [sha256.Size]byte) (Picture, bool) {
	p, _, ok := h.cache.Get(sum, time.Now())
	if ok {
		h.CacheHits.Add(1)
	}
	return p, ok
}

// HashImage hashes a picture the caller decoded (with the Hasher's
// limits) from the bytes whose SHA-256 is sum, and remembers it: one
// decode shared with another reader of the picture (QR codes).
func (h *Hasher) HashImage(img image.Image, sum [sha256.Size]byte) Picture {
	h.Decoded.Add(1)
	b := img.Bounds()
	p := Picture{Width: b.Dx(), Height: b.Dy()}
	p.Hash, p.Err = Compute(img)
	h.cache.Put(sum, p, time.Now().Add(cacheTTL))
	return p
}

// Hash returns the picture of data, whose SHA-256 is sum. A decode cut
// short by ctx is not remembered: the next message may have the time.
func (h *Hasher) Hash(ctx context.Context, data []byte, sum [sha256.Size]byte) Picture {
	now := time.Now()
	if p, _, ok := h.cache.Get(sum, now); ok {
		h.CacheHits.Add(1)
		return p
	}
	h.Decoded.Add(1)
	img, _, err := decode.Decode(ctx, data, h.lim)
	if err != nil {
		var le *decode.LimitError
		if ctx.Err() != nil || (errors.As(err, &le) && le.Bound == decode.BoundTime) {
			return Picture{Err: err}
		}
		p := Picture{Err: err}
		h.cache.Put(sum, p, now.Add(cacheTTL))
		return p
	}
	b := img.Bounds()
	p := Picture{Width: b.Dx(), Height: b.Dy()}
	p.Hash, p.Err = Compute(img)
	h.cache.Put(sum, p, now.Add(cacheTTL))
	return p
}
