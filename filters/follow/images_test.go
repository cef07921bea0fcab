package follow

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/images"
	"github.com/vigilmail/vigil/filters/images/imagestest"
)

// imageMessage is a message showing the remote images srcs.
func imageMessage(srcs ...string) *filters.Message {
	m := &filters.Message{}
	for _, s := range srcs {
		m.Facts.Content.Images = append(m.Facts.Content.Images, filters.Image{Kind: "remote", Src: s})
	}
	return m
}

// TestRemoteImages: with follow.images on, remote images are fetched
// through the guard and hashed like inline ones, once per URL; an image on
// a refused address is never connected to; with it off (the default)
// nothing is fetched.
func TestRemoteImages(t *testing.T) {
	// Decodes under -race on a loaded machine are slow; this test checks
	// what is fetched, not how fast.
	defer func(d time.Duration) { remoteImageTimeout = d }(remoteImageTimeout)
	remoteImageTimeout = time.Minute
	picture := imagestest.Generate(imagestest.Banner, 7)
	want, err := images.Compute(picture)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(e *env) {
		e.mux.HandleFunc("/banner.png", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(imagestest.PNG(picture))
		})
		e.mux.HandleFunc("/moved.png", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/banner.png", http.StatusFound)
		})
	}
	ctx := context.Background()

	t.Run("off by default", func(t *testing.T) {
		e := newEnv(t, nil)
		serve(e)
		m := imageMessage(e.url("img.example", "/banner.png"))
		if _, err := e.c.Run(ctx, m); err != nil {
			t.Fatal(err)
		}
		if e.hits.Load() != 0 || len(m.Facts.RemoteImages) != 0 {
			t.Fatalf("fetched %d times, images %+v, with follow.images off", e.hits.Load(), m.Facts.RemoteImages)
		}
	})

	t.Run("on", func(t *testing.T) {
		e := newEnv(t, func(c *Config, _ *Deps) { c.Images = true })
		serve(e)
		m := imageMessage(e.url("img.example", "/moved.png"), e.url("intranet.example", "/x.png"))
		if _, err := e.c.Run(ctx, m); err != nil {
			t.Fatal(err)
		}
		if len(m.Facts.RemoteImages) != 1 {
			t.Fatalf("remote images %+v, want the one on a public address", m.Facts.RemoteImages)
		}
		got := m.Facts.RemoteImages[0]
		if p, d := got.Perceptual.Distance(want); p > 2 || d > 2 || got.Width != picture.Rect.Dx() || len(got.SHA256) != 64 {
			t.Fatalf("fetched image %+v, want the banner's hash %016x", got, want.P)
		}
		for _, a := range e.dials {
			if a != e.srv.Listener.Addr().String() {
				t.Fatalf("dialled %s", a)
			}
		}
		hits := e.hits.Load()
		m2 := imageMessage(e.url("img.example", "/moved.png"))
		if _, err := e.c.Run(ctx, m2); err != nil {
			t.Fatal(err)
		}
		if e.hits.Load() != hits || len(m2.Facts.RemoteImages) != 1 || e.c.ImageCacheHits.Load() != 1 {
			t.Fatalf("second message: %d more requests, %d cache hits", e.hits.Load()-hits, e.c.ImageCacheHits.Load())
		}
		report := filters.NewReport(m, filters.Verdict{})
		if report.Images[0].Perceptual != got.Perceptual || report.Images[1].SHA256 != "" {
			t.Fatalf("report images %+v", report.Images)
		}
	})

	t.Run("needs enabled", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Images = true
		if err := cfg.Validate(); err == nil {
			t.Fatal("follow.images without follow.enabled accepted")
		}
	})
}
