package content

import "fmt"

// Config bounds the work the content check does on one message. It is the
// top-level `content:` key of the configuration file.
type Config struct {
	// MaxParts is the number of MIME parts walked (default 256); the rest
	// are skipped and CONTENT_LIMIT_PARTS is reported.
	MaxParts int `yaml:"max_parts"`
	// MaxDepth is the MIME nesting depth walked, counting multiparts and
	// message/rfc822 (default 16); deeper parts yield CONTENT_LIMIT_DEPTH.
	MaxDepth int `yaml:"max_depth"`
	// MaxPartBytes is how much decoded text of one text part is kept for
	// URL and HTML extraction (default 1 MiB); the tail of a bigger part is
	// not read and CONTENT_LIMIT_SIZE is reported.
	MaxPartBytes int64 `yaml:"max_part_bytes"`
	// MaxDecodedBytes is the total number of decoded bytes read from all
	// parts, images included (default 32 MiB); past it the walk stops with
	// CONTENT_LIMIT_SIZE.
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
	}
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
	} {
		if f.v < f.min {
			return fmt.Errorf("content: content.%s: %d is below the minimum %d", f.key, f.v, f.min)
		}
	}
	if c.MaxDepth > 100 {
		return fmt.Errorf("content: content.max_depth: %d is above the maximum 100", c.MaxDepth)
	}
	if c.MaxPartBytes > c.MaxDecodedBytes {
		return fmt.Errorf("content: content.max_part_bytes: %d exceeds content.max_decoded_bytes %d", c.MaxPartBytes, c.MaxDecodedBytes)
	}
	return nil
}
