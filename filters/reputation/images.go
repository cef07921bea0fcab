package reputation

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/images"
	"github.com/vigilmail/vigil/filters/store"
)

// Image symbols. A picture is evidence by its SHA-256 (the same bytes)
// and by its perceptual hash (the same picture re-encoded, resized,
// recompressed, dithered: NearBands of its bands learned).
const (
	// SymImageSpam: a picture of the message was reported as spam. A
	// picture reported as ham says little in mail that has text (logos
	// and spacers appear in spam too), so that side is silent there.
	SymImageSpam = "REP_IMAGE_SPAM"
	// SymImageOnlySpam and SymImageOnlyHam: the same in image-heavy mail
	// (Facts.Content.ImageHeavy), where the pictures are the message as
	// the text is in other mail: both sides score, up to caps.image_only.
	SymImageOnlySpam = "REP_IMAGE_ONLY_SPAM"
	SymImageOnlyHam  = "REP_IMAGE_ONLY_HAM"
)

// Picture is one picture of a message as the store knows it: its SHA-256
// key and its band keys.
type Picture struct {
	// Exact is the KindImage key; its Value is "" when the bytes were
	// not hashed (too large).
	Exact store.Key
	// Bands are the KindImageBand keys of the perceptual hash; none when
	// the picture was not decoded.
	Bands []store.Key
	// PHash is the perceptual hash's hex for details ("" when none).
	PHash string
	// Pixels is the decoded width × height, 0 when not decoded.
	Pixels int64
}

// Pictures lists the pictures of m that carry keys: inline, attached and
// data: images with a SHA-256 (at most maxImages), the bands of the first
// maxPictures with a perceptual hash, and remote images hashed by the
// follow check when fetching them is on.
func Pictures(m *filters.Message) []Picture {
	var out []Picture
	exact, near := 0, 0
	add := func(sha string, h images.Hash, w, hgt int) {
		var p Picture
		if sha = strings.ToLower(sha); len(sha) == 64 && isHex(sha) && exact < maxImages {
			p.Exact = store.Key{Kind: KindImage, Value: sha, Weight: FullWeight}
			exact++
		}
		if !h.IsZero() && near < maxPictures {
			for _, b := range h.Bands() {
				p.Bands = append(p.Bands, store.Key{Kind: KindImageBand, Value: b, Weight: FullWeight})
			}
			p.PHash = h.PHex()
			p.Pixels = int64(w) * int64(hgt)
			near++
		}
		if p.Exact.Value != "" || len(p.Bands) > 0 {
			out = append(out, p)
		}
	}
	for _, img := range m.Facts.Content.Images {
		add(img.SHA256, img.Perceptual, img.Width, img.Height)
	}
	for _, img := range m.Facts.RemoteImages {
		add(img.SHA256, img.Perceptual, img.Width, img.Height)
	}
	return out
}

// pictureLean is one picture's evidence: the strongest lean (2p−1, see
// keyScore) its exact key or NearBands of its bands show, per side, and
// the key that says so.
type pictureLean struct {
	spam, ham             float64 // spam > 0, ham < 0, 0 for none
	spamDetail, hamDetail string
}

func leanOf(cfg Config, p Picture, byID map[string]store.Counts) pictureLean {
	var out pictureLean
	consider := func(lean float64, detail string) {
		switch {
		case lean > out.spam:
			out.spam, out.spamDetail = lean, detail
		case lean < out.ham:
			out.ham, out.hamDetail = lean, detail
		}
	}
	if p.Exact.Value != "" {
		if c, ok := byID[p.Exact.ID()]; ok {
			if l, ok := lean(cfg, c); ok {
				consider(l, fmt.Sprintf("%s spam=%.1f ham=%.1f", p.Exact.ID(), c.Spam, c.Ham))
			}
		}
	}
	// Near: the bands that lean, per side; the NearBands-th strongest is
	// the picture's lean, so that one odd band decides nothing.
	var spams, hams []float64
	var strongest [2]string
	var best [2]float64
	for _, b := range p.Bands {
		c, ok := byID[b.ID()]
		if !ok {
			continue
		}
		l, ok := lean(cfg, c)
		if !ok {
			continue
		}
		side := 0
		if l < 0 {
			side = 1
			hams = append(hams, -l)
		} else {
			spams = append(spams, l)
		}
		if math.Abs(l) > best[side] {
			best[side] = math.Abs(l)
			strongest[side] = fmt.Sprintf("%s spam=%.1f ham=%.1f", b.ID(), c.Spam, c.Ham)
		}
	}
	for side, ls := range [][]float64{spams, hams} {
		if len(ls) < images.NearBands {
			continue
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(ls)))
		l := ls[images.NearBands-1]
		if side == 1 {
			l = -l
		}
		consider(l, fmt.Sprintf("phash %s: %d of %d bands (%s)", p.PHash, len(ls), len(p.Bands), strongest[side]))
	}
	return out
}

// ScoreImages turns the pictures of a message and the counts read for
// their keys into at most one symbol. The spam side wins: a spammer can
// add a picture users liked, not remove its own. In image-heavy mail the
// ham side counts only when the pictures leaning ham are at least half of
// the message's decoded picture area, so a reported newsletter's logo
// does not whitewash a new picture around it.
func ScoreImages(cfg Config, pictures []Picture, imageHeavy bool, byID map[string]store.Counts) []filters.Symbol {
	var spam, ham pictureLean
	var area, hamArea int64
	for _, p := range pictures {
		l := leanOf(cfg, p, byID)
		area += p.Pixels
		if l.spam > spam.spam {
			spam.spam, spam.spamDetail = l.spam, l.spamDetail
		}
		if l.ham < 0 && l.spam == 0 {
			hamArea += p.Pixels
			if l.ham < ham.ham {
				ham.ham, ham.hamDetail = l.ham, l.hamDetail
			}
		}
	}
	sym := func(name string, score float64, detail string) []filters.Symbol {
		return []filters.Symbol{{Name: name, Score: math.Round(score*100) / 100, Detail: detail}}
	}
	switch {
	case spam.spam > 0 && imageHeavy:
		return sym(SymImageOnlySpam, cfg.Caps.ImageOnly*spam.spam, spam.spamDetail)
	case spam.spam > 0:
		return sym(SymImageSpam, cfg.Caps.Image*spam.spam, spam.spamDetail)
	case ham.ham < 0 && imageHeavy && area > 0 && 2*hamArea >= area:
		return sym(SymImageOnlyHam, cfg.Caps.ImageOnly*ham.ham, ham.hamDetail)
	}
	return nil
}
