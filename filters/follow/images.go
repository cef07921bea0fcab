package follow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/images/decode"
	"github.com/vigilmail/vigil/urlcheck"
	linkfollow "github.com/vigilmail/vigil/urlcheck/follow"
)

// remoteImageTimeout bounds the decode of one fetched image (a variable
// for the tests under -race).
var remoteImageTimeout = 250 * time.Millisecond

// remoteImageLimits bound the decode of a fetched image as the content
// check bounds an inline one; the bytes are bounded by max_body.
func remoteImageLimits(maxBody int64) decode.Limits {
	lim := decode.DefaultLimits()
	lim.MaxBytes = int(maxBody)
	lim.MaxPixels = 2 << 20
	lim.Timeout = remoteImageTimeout
	return lim
}

// imageCandidates are the remote and CSS images of m to fetch: http and
// https, deduplicated, at most max_images, in the order of the message.
func (c *Check) imageCandidates(m *filters.Message) []filters.Image {
	seen := map[string]bool{}
	var out []filters.Image
	for _, img := range m.Facts.Content.Images {
		if len(out) >= c.cfg.MaxImages {
			break
		}
		if img.Kind != "remote" && img.Kind != "css" {
			continue
		}
		n, err := urlcheck.Normalize(img.Src)
		if err != nil || (n.Scheme != "http" && n.Scheme != "https") || seen[linkfollow.CacheKey(n)] {
			continue
		}
		seen[linkfollow.CacheKey(n)] = true
		out = append(out, img)
	}
	return out
}

// remoteImages fetches the candidates through the guard, concurrently,
// within ctx, and hashes what arrives. A fetched image is remembered by
// its URL for cache_ttl, so a campaign's picture is fetched once.
func (c *Check) remoteImages(ctx context.Context, m *filters.Message) []filters.Image {
	cands := c.imageCandidates(m)
	out := make([]filters.Image, len(cands))
	ok := make([]bool, len(cands))
	var wg sync.WaitGroup
	for i, img := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					c.Panics.Add(1)
					c.log.Error("follow: panic fetching an image", "panic", p, "stack", string(debug.Stack()))
				}
			}()
			out[i], ok[i] = c.remoteImage(ctx, img)
		}()
	}
	wg.Wait()
	var got []filters.Image
	for i, img := range out {
		if ok[i] {
			got = append(got, img)
		}
	}
	return got
}

func (c *Check) remoteImage(ctx context.Context, img filters.Image) (filters.Image, bool) {
	now := time.Now()
	if cached, _, ok := c.imageCache.Get(img.Src, now); ok {
		c.ImageCacheHits.Add(1)
		return cached, true
	}
	c.Images.Add(1)
	r, body := c.f.FetchBody(ctx, img.Src)
	if r.Outcome != linkfollow.OutcomeLanded || body == nil || r.Truncated {
		c.log.Debug("follow: image not fetched", "url", img.Src, "outcome", r.Outcome, "truncated", r.Truncated, "detail", r.Detail)
		return filters.Image{}, false
	}
	sum := sha256.Sum256(body)
	p := c.hasher.Hash(ctx, body, sum)
	out := filters.Image{Kind: img.Kind, Src: img.Src, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]),
		Width: p.Width, Height: p.Height, Perceptual: p.Hash, Host: img.Host}
	if ctx.Err() == nil {
		c.imageCache.Put(img.Src, out, now.Add(c.cfg.CacheTTL))
	}
	c.log.Debug("follow: image", "url", img.Src, "bytes", len(body), "phash", fmt.Sprintf("%016x", p.Hash.P), "err", p.Err)
	return out, true
}
