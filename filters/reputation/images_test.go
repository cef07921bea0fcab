package reputation

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/images"
	"github.com/vigilmail/vigil/filters/images/imagestest"
	"github.com/vigilmail/vigil/filters/store"
)

// pictureMessage is a message carrying one picture as a base64 part, with
// text unless imageOnly.
func pictureMessage(t *testing.T, id string, picture []byte, mediaType string, imageOnly bool) *filters.Message {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "From: deals@sender%s.example\r\nTo: alice@rcpt.example\r\nSubject: offer %s\r\nMessage-ID: <%s@sender.example>\r\n", id, id, id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	if !imageOnly {
		b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\n")
		b.WriteString("Dear customer, our catalogue for this season is attached, with every price and the delivery terms. " +
			"Order before Friday and the delivery is free; questions are answered by our service team every weekday, " +
			"and the returns policy printed on the last page applies to everything you buy from the catalogue.\r\n")
	}
	b.WriteString("--b\r\nContent-Type: " + mediaType + "\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: inline\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(picture)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b--\r\n")
	m := parseRaw([]byte(b.String()))
	cfg := content.DefaultConfig()
	cfg.ImageHashTimeout = filters.Duration(time.Minute) // counts, not speed, under -race
	cc, err := content.New(cfg, content.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Run(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestImagesLearned: a campaign picture reported three times in three
// encodings makes a resized, recompressed, noisier copy of it score, in
// mail with text and more in image-only mail, in both stores; an
// unrelated picture does not; reporting the three as not spam moves the
// evidence, and the copy then scores as ham in image-only mail.
func TestImagesLearned(t *testing.T) {
	for name, open := range map[string]storeOpener{"bbolt": openTestBolt, "redis": openTestRedis} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			campaign := imagestest.Generate(imagestest.Banner, 42)
			reported := []*filters.Message{
				pictureMessage(t, "1", imagestest.PNG(campaign), "image/png", true),
				pictureMessage(t, "2", imagestest.JPEG(campaign, 80), "image/jpeg", true),
				pictureMessage(t, "3", imagestest.GIF(campaign), "image/gif", false),
			}
			for i, m := range reported {
				if m.Facts.Content.Images[0].Perceptual.IsZero() {
					t.Fatalf("reported message %d: picture not hashed: %+v", i, m.Facts.Content.Images)
				}
				if res, err := Learn(ctx, st, m, store.Spam); err != nil || res.Outcome != store.Learned {
					t.Fatalf("learn %d: %+v %v", i, res, err)
				}
			}
			check := mustCheck(New(testConfig(), Deps{Store: st, Log: quietLog}))
			variant := imagestest.JPEG(imagestest.Noise(imagestest.Resize(campaign, 0.97), 4, 9), 60)
			cfg := testConfig()
			run := func(m *filters.Message) map[string]filters.Symbol {
				t.Helper()
				syms, err := check.Run(ctx, m)
				if err != nil {
					t.Fatal(err)
				}
				return symbolMap(syms)
			}

			withText := run(pictureMessage(t, "4", variant, "image/jpeg", false))
			if s, ok := withText[SymImageSpam]; !ok || s.Score <= 0 || s.Score > cfg.Caps.Image || !strings.Contains(s.Detail, "bands") {
				t.Fatalf("variant in mail with text: %+v, want %s up to %v from bands", withText, SymImageSpam, cfg.Caps.Image)
			}
			imageOnly := run(pictureMessage(t, "5", variant, "image/jpeg", true))
			s, ok := imageOnly[SymImageOnlySpam]
			if !ok || s.Score <= withText[SymImageSpam].Score || s.Score > cfg.Caps.ImageOnly {
				t.Fatalf("variant in image-only mail: %+v, want %s above the %v of mail with text", imageOnly, SymImageOnlySpam, withText[SymImageSpam].Score)
			}
			if _, ok := imageOnly[SymImageSpam]; ok {
				t.Fatalf("both image symbols: %+v", imageOnly)
			}
			other := run(pictureMessage(t, "6", imagestest.PNG(imagestest.Generate(imagestest.Banner, 43)), "image/png", true))
			for _, n := range []string{SymImageSpam, SymImageOnlySpam, SymImageOnlyHam} {
				if s, ok := other[n]; ok {
					t.Fatalf("an unrelated banner scores %+v", s)
				}
			}

			// The reports were wrong: the same messages reported as ham.
			for i, m := range reported {
				if res, err := Learn(ctx, st, m, store.Ham); err != nil || res.Outcome != store.Moved {
					t.Fatalf("move %d: %+v %v", i, res, err)
				}
			}
			moved := run(pictureMessage(t, "7", variant, "image/jpeg", true))
			if s, ok := moved[SymImageOnlyHam]; !ok || s.Score >= 0 || s.Score < -cfg.Caps.ImageOnly {
				t.Fatalf("after the move: %+v, want a negative %s", moved, SymImageOnlyHam)
			}
			if _, ok := run(pictureMessage(t, "8", variant, "image/jpeg", false))[SymImageSpam]; ok {
				t.Fatal("REP_IMAGE_SPAM after the move")
			}
		})
	}
}

func TestScoreImages(t *testing.T) {
	cfg := testConfig()
	h := images.Hash{P: 0x0123456789abcdef, DX: 0xfedcba9876543210, DY: 0x00ff00ff00ff00ff}
	picture := func(sha string, pixels int64) Picture {
		p := Picture{Pixels: pixels, PHash: h.PHex()}
		if sha != "" {
			p.Exact = store.Key{Kind: KindImage, Value: strings.Repeat(sha, 64), Weight: 1}
		}
		for _, b := range h.Bands() {
			p.Bands = append(p.Bands, store.Key{Kind: KindImageBand, Value: b + sha, Weight: 1})
		}
		return p
	}
	// counts gives the exact key of p and its first n bands the counts c.
	counts := func(byID map[string]store.Counts, p Picture, exact bool, n int, c store.Counts) {
		if exact {
			byID[p.Exact.ID()] = c
		}
		for _, b := range p.Bands[:n] {
			byID[b.ID()] = c
		}
	}
	spam, ham := store.Counts{Spam: 10}, store.Counts{Ham: 10}
	big, small := picture("a", 400*300), picture("b", 100*50)
	tests := []struct {
		name     string
		pictures []Picture
		heavy    bool
		set      func(map[string]store.Counts)
		want     string // symbol, "" for none
		sign     float64
	}{
		{"exact spam", []Picture{big}, false, func(m map[string]store.Counts) { counts(m, big, true, 0, spam) }, SymImageSpam, 1},
		{"exact ham is silent in mail with text", []Picture{big}, false, func(m map[string]store.Counts) { counts(m, big, true, 0, ham) }, "", 0},
		{"three bands are a near match", []Picture{big}, false, func(m map[string]store.Counts) { counts(m, big, false, images.NearBands, spam) }, SymImageSpam, 1},
		{"two bands are not", []Picture{big}, false, func(m map[string]store.Counts) { counts(m, big, false, images.NearBands-1, spam) }, "", 0},
		{"image-only spam", []Picture{big}, true, func(m map[string]store.Counts) { counts(m, big, false, 16, spam) }, SymImageOnlySpam, 1},
		{"image-only ham", []Picture{big}, true, func(m map[string]store.Counts) { counts(m, big, true, 16, ham) }, SymImageOnlyHam, -1},
		{"spam side wins", []Picture{big, small}, true, func(m map[string]store.Counts) {
			counts(m, big, true, 16, ham)
			counts(m, small, true, 0, spam)
		}, SymImageOnlySpam, 1},
		{"a small ham logo does not whitewash a new picture", []Picture{big, small}, true, func(m map[string]store.Counts) {
			counts(m, small, true, 16, ham)
		}, "", 0},
		{"below min evidence", []Picture{big}, true, func(m map[string]store.Counts) { counts(m, big, true, 16, store.Counts{Spam: 2}) }, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			byID := map[string]store.Counts{}
			tc.set(byID)
			syms := ScoreImages(cfg, tc.pictures, tc.heavy, byID)
			if tc.want == "" {
				if len(syms) != 0 {
					t.Fatalf("symbols %+v, want none", syms)
				}
				return
			}
			if len(syms) != 1 || syms[0].Name != tc.want || syms[0].Score*tc.sign <= 0 {
				t.Fatalf("symbols %+v, want one %s", syms, tc.want)
			}
			limit := cfg.Caps.Image
			if tc.heavy {
				limit = cfg.Caps.ImageOnly
			}
			if syms[0].Score > limit || syms[0].Score < -limit {
				t.Fatalf("%+v beyond the cap %v", syms[0], limit)
			}
		})
	}
	// The near lean is the NearBands-th strongest band's: one band of
	// overwhelming evidence and weak others give the weak lean.
	byID := map[string]store.Counts{}
	counts(byID, big, false, images.NearBands, store.Counts{Spam: 4})
	byID[big.Bands[0].ID()] = store.Counts{Spam: 1000}
	weak := ScoreImages(cfg, []Picture{big}, false, byID)
	counts(byID, big, false, images.NearBands, store.Counts{Spam: 1000})
	strong := ScoreImages(cfg, []Picture{big}, false, byID)
	if len(weak) != 1 || len(strong) != 1 || weak[0].Score >= strong[0].Score {
		t.Fatalf("weak %+v, strong %+v", weak, strong)
	}
}
