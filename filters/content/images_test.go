package content

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/images/imagestest"
)

// pictureConfig is DefaultConfig with a decode time no loaded machine
// under -race reaches: these tests count decodes, not time.
func pictureConfig() Config {
	cfg := DefaultConfig()
	cfg.ImageHashTimeout = filters.Duration(time.Minute)
	return cfg
}

// attachedPicture is a message that is one attached picture and a line of
// text.
func attachedPicture(picture []byte, name, mediaType string) *filters.Message {
	body := "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: " + mediaType +
		"\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(picture) + "\r\n--b--\r\n"
	return &filters.Message{
		Headers: []filters.Header{{Name: "Content-Type", Value: " multipart/mixed; boundary=b"}},
		Body:    filters.BytesBody(body),
	}
}

func TestAttachedPicture(t *testing.T) {
	picture := imagestest.JPEG(imagestest.Generate(imagestest.Photo, 4), 80)
	for _, tc := range []struct {
		name      string
		mediaType string
		file      string
		mod       func(*Config)
		hashed    bool
		heavy     bool // Facts.Content.ImageHeavy; never the symbol: no HTML shows the picture
	}{
		{"image part", "image/jpeg", "holiday.jpg", nil, true, true},
		{"octet-stream named as a picture", "application/octet-stream", "holiday.jpg", nil, true, true},
		{"octet-stream of another name is not read", "application/octet-stream", "holiday.bin", nil, false, false},
		{"hashes off", "image/jpeg", "holiday.jpg", func(c *Config) { c.ImageHashes = false }, false, false},
		{"over max_hash_pixels", "image/jpeg", "holiday.jpg", func(c *Config) { c.MaxHashPixels = 1000 }, false, false},
		{"over max_hash_bytes", "image/jpeg", "holiday.jpg", func(c *Config) { c.MaxHashBytes = 1024 }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pictureConfig()
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			c, err := New(cfg, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			m := attachedPicture(picture, tc.file, tc.mediaType)
			syms, err := c.Run(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			imgs := m.Facts.Content.Images
			hashed := len(imgs) == 1 && !imgs[0].Perceptual.IsZero() && imgs[0].Width > 0
			if hashed != tc.hashed {
				t.Fatalf("images %+v: hashed %v, want %v", imgs, hashed, tc.hashed)
			}
			if tc.mediaType == "image/jpeg" && (len(imgs) != 1 || len(imgs[0].SHA256) != 64) {
				t.Fatalf("images %+v: the SHA-256 is kept whatever the caps", imgs)
			}
			for _, s := range syms {
				if s.Name == SymImageHeavy {
					t.Fatalf("%s for an attached picture no HTML shows: %+v", SymImageHeavy, syms)
				}
			}
			if m.Facts.Content.ImageHeavy != tc.heavy {
				t.Fatalf("Facts.Content.ImageHeavy %v, want %v", m.Facts.Content.ImageHeavy, tc.heavy)
			}
		})
	}
}

// TestPicturesCapped: only max_hashed_images pictures of a message are
// decoded; a campaign's picture in a hundred messages is decoded once.
func TestPicturesCapped(t *testing.T) {
	var parts strings.Builder
	for i := 0; i < 6; i++ {
		pic := imagestest.PNG(imagestest.Generate(imagestest.Logo, uint64(i)))
		parts.WriteString("--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(pic) + "\r\n")
	}
	parts.WriteString("--b--\r\n")
	c, err := New(pictureConfig(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		m := &filters.Message{Headers: []filters.Header{{Name: "Content-Type", Value: " multipart/mixed; boundary=b"}}, Body: filters.BytesBody(parts.String())}
		if _, err := c.Run(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		hashed := 0
		for _, img := range m.Facts.Content.Images {
			if img.Width > 0 {
				hashed++
			}
		}
		if len(m.Facts.Content.Images) != 6 || hashed != DefaultConfig().MaxHashedImages {
			t.Fatalf("round %d: %d images, %d decoded; want 6 and %d", round, len(m.Facts.Content.Images), hashed, DefaultConfig().MaxHashedImages)
		}
	}
	if d, hits := c.hasher.Decoded.Load(), c.hasher.CacheHits.Load(); d != 4 || hits != 4 {
		t.Fatalf("%d decodes and %d cache hits over two copies of the message, want 4 and 4", d, hits)
	}
}
