package content

import (
	"fmt"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/images/decode"
)

// Config bounds the work the content check does on one message. It is the
// top-level `content:` key of the configuration file.
type Config struct {
	// MaxParts is the number of MIME parts walked (default 256); the rest
	// are skipped and CONTENT_LIMIT_PARTS is reported.
	MaxParts int `yaml:"max_parts"`
	// MaxDepth is the MIME nesting depth walked, counting multiparts and
	// message/rfc822 (default 16); deeper parts yield CONTENT_LIMIT_DEPTH.
	MaxDepth int `yaml:"max_depth"`
	// MaxPartBytes is how much decoded text of one text part is kept and
	// parsed (default 1 MiB); the rest of a bigger part is only scanned for
	// links, and CONTENT_LIMIT_SIZE is reported.
	MaxPartBytes int64 `yaml:"max_part_bytes"`
	// MaxDecodedBytes is the total number of decoded bytes kept from all
	// parts, images included (default 32 MiB); past it, with
	// CONTENT_LIMIT_SIZE, text parts are only scanned for links and
	// images are not read.
	MaxDecodedBytes int64 `yaml:"max_decoded_bytes"`
	// MaxImageBytes is the largest image part whose bytes are hashed
	// (default 8 MiB); bigger ones are listed without a hash.
	MaxImageBytes int64 `yaml:"max_image_bytes"`
	// MaxTextBytes caps the visible text kept for the classifier (default
	// 256 KiB).
	MaxTextBytes int `yaml:"max_text_bytes"`
	// MaxURLs and MaxImages cap the URLs and images kept per message
	// (defaults 500 and 200); CONTENT_LIMIT_URLS is reported when URLs were
	// dropped.
	MaxURLs   int `yaml:"max_urls"`
	MaxImages int `yaml:"max_images"`
	// HiddenTextMin is the number of hidden characters (display:none, zero
	// font size, text coloured like its background) from which
	// CONTENT_HIDDEN_TEXT is reported (default 30).
	HiddenTextMin int `yaml:"hidden_text_min"`
	// ImageHeavyMaxText: a message showing images and fewer visible
	// characters than this is CONTENT_IMAGE_HEAVY (default 200).
	ImageHeavyMaxText int `yaml:"image_heavy_max_text"`
	// ImageHeavyMinPixels: an inline or attached image decoded to at
	// least this many pixels makes a message with little text image-heavy
	// for the reputation check (Facts.Content.ImageHeavy) even when no
	// HTML shows it (default 40000, 200 × 200): a message that is one
	// attached picture is image-only. CONTENT_IMAGE_HEAVY itself still
	// needs an image shown.
	ImageHeavyMinPixels int64 `yaml:"image_heavy_min_pixels"`

	// ImageHashes: inline, attached and data: images are decoded for a
	// perceptual hash (default true). Off, they keep their SHA-256 only.
	ImageHashes bool `yaml:"image_hashes"`
	// MaxHashedImages is the number of images of one message decoded
	// (default 4); the others keep their SHA-256 only. Decoding is the
	// cost of an image, so this bounds the cost of a message.
	MaxHashedImages int `yaml:"max_hashed_images"`
	// MaxHashBytes is the largest encoded image decoded (default 1 MiB).
	MaxHashBytes int64 `yaml:"max_hash_bytes"`
	// MaxHashPixels is the largest width × height decoded (default
	// 2,097,152: a 1920 × 1080 screenshot fits, a phone photo does not).
	// It bounds the memory of one decode; the header is checked before
	// any pixel is allocated.
	MaxHashPixels int64 `yaml:"max_hash_pixels"`
	// ImageHashTimeout bounds the time all image decodes of one message
	// take together (default 200ms): a decode still running then is cut
	// short and its image keeps its SHA-256 only. The pixel bounds keep
	// an ordinary image far below it; it is there for the worst case, a
	// message of several large pictures each new to the cache.
	ImageHashTimeout filters.Duration `yaml:"image_hash_timeout"`
	// ImageHashCache is the number of hashes remembered by the SHA-256 of
	// the image bytes (default 10000, about 1 MiB; 0 off): the pictures of
	// a campaign or a newsletter are decoded once.
	ImageHashCache int `yaml:"image_hash_cache"`

	// QRCodes: the pictures of a message (inline, attached, data: images
	// and the images of PDF attachments) are read for QR codes, whose
	// links become links of the message (source "qr") (default true).
	QRCodes bool `yaml:"qr_codes"`
	// MaxQRImages is the number of pictures of one message read for QR
	// codes (default 8). They share image_hash_timeout with the hashes;
	// results are remembered by SHA-256 in image_hash_cache entries.
	MaxQRImages int `yaml:"max_qr_images"`
	// MaxAttachments is the number of attached files read and told by
	// their bytes (default 32); the others are listed by name and type.
	MaxAttachments int `yaml:"max_attachments"`
	// MaxAttachmentBytes is how much of one attached file is read
	// (default 10 MiB): enough for the magic numbers of any file, an
	// archive's directory and a phishing PDF; the rest is not read.
	MaxAttachmentBytes int64 `yaml:"max_attachment_bytes"`
	// MaxArchiveEntries is the number of entries of an archive listed and
	// looked into (default 200), nested archives included.
	MaxArchiveEntries int `yaml:"max_archive_entries"`
	// MaxInflateBytes is the number of bytes decompressed from the PDF
	// streams and archive entries of one message together (default
	// 16 MiB): a decompression bomb costs this, not what it claims.
	MaxInflateBytes int64 `yaml:"max_inflate_bytes"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		MaxParts:          256,
		MaxDepth:          16,
		MaxPartBytes:      1 << 20,
		MaxDecodedBytes:   32 << 20,
		MaxImageBytes:     8 << 20,
		MaxTextBytes:      256 << 10,
		MaxURLs:           500,
		MaxImages:         200,
		HiddenTextMin:     30,
		ImageHeavyMaxText: 200,

		ImageHeavyMinPixels: 40000,
		ImageHashes:         true,
		MaxHashedImages:     4,
		MaxHashBytes:        1 << 20,
		MaxHashPixels:       2 << 20,
		ImageHashTimeout:    filters.Duration(200 * time.Millisecond),
		ImageHashCache:      10000,

		QRCodes:            true,
		MaxQRImages:        8,
		MaxAttachments:     32,
		MaxAttachmentBytes: 10 << 20,
		MaxArchiveEntries:  200,
		MaxInflateBytes:    16 << 20,
	}
}

// decodeLimits are the decoder's bounds for the images of messages: the
// decoder's defaults but for the size, pixels and time configured here.
func (c Config) decodeLimits() decode.Limits {
	lim := decode.DefaultLimits()
	lim.MaxBytes = int(c.MaxHashBytes)
	lim.MaxPixels = c.MaxHashPixels
	lim.Timeout = time.Duration(c.ImageHashTimeout)
	return lim
}

// Validate reports the first invalid key, named as in the config file.
func (c Config) Validate() error {
	for _, f := range []struct {
		key string
		v   int64
		min int64
	}{
		{"max_parts", int64(c.MaxParts), 1},
		{"max_depth", int64(c.MaxDepth), 1},
		{"max_part_bytes", c.MaxPartBytes, 1024},
		{"max_decoded_bytes", c.MaxDecodedBytes, 1024},
		{"max_image_bytes", c.MaxImageBytes, 0},
		{"max_text_bytes", int64(c.MaxTextBytes), 0},
		{"max_urls", int64(c.MaxURLs), 1},
		{"max_images", int64(c.MaxImages), 0},
		{"hidden_text_min", int64(c.HiddenTextMin), 1},
		{"image_heavy_max_text", int64(c.ImageHeavyMaxText), 0},
		{"image_heavy_min_pixels", c.ImageHeavyMinPixels, 1},
		{"max_hashed_images", int64(c.MaxHashedImages), 0},
		{"max_hash_bytes", c.MaxHashBytes, 1024},
		{"max_hash_pixels", c.MaxHashPixels, 256},
		{"image_hash_cache", int64(c.ImageHashCache), 0},
		{"max_qr_images", int64(c.MaxQRImages), 0},
		{"max_attachments", int64(c.MaxAttachments), 0},
		{"max_attachment_bytes", c.MaxAttachmentBytes, 1024},
		{"max_archive_entries", int64(c.MaxArchiveEntries), 0},
		{"max_inflate_bytes", c.MaxInflateBytes, 0},
	} {
		if f.v < f.min {
			return fmt.Errorf("content: content.%s: %d is below the minimum %d", f.key, f.v, f.min)
		}
	}
	if c.MaxDepth > 100 {
		return fmt.Errorf("content: content.max_depth: %d is above the maximum 100", c.MaxDepth)
	}
	if c.ImageHashTimeout <= 0 {
		return fmt.Errorf("content: content.image_hash_timeout: %v must be positive", time.Duration(c.ImageHashTimeout))
	}
	if c.MaxHashPixels > decode.DefaultLimits().MaxPixels {
		return fmt.Errorf("content: content.max_hash_pixels: %d is above the maximum %d", c.MaxHashPixels, decode.DefaultLimits().MaxPixels)
	}
	if c.MaxPartBytes > c.MaxDecodedBytes {
		return fmt.Errorf("content: content.max_part_bytes: %d exceeds content.max_decoded_bytes %d", c.MaxPartBytes, c.MaxDecodedBytes)
	}
	return nil
}
