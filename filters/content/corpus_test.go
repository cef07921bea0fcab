package content

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

// heapSampler records the peak live heap while it runs.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak.Load()
}

// corpusSymbolClaims are the symbol counts README.md states for the
// SpamAssassin corpus, as [ham, spam] messages.
var corpusSymbolClaims = map[string][2]int{
	"CONTENT_HIDDEN_TEXT":      {0, 20},
	"CONTENT_HTML_ONLY":        {122, 850},
	"CONTENT_IMAGE_HEAVY":      {0, 63},
	"CONTENT_MIME_MALFORMED":   {1, 59},
	"CONTENT_PHISH_MISMATCH":   {4, 15},
	"CONTENT_TRACKING_PIXEL":   {123, 95},
	"CONTENT_URL_IP":           {7, 371},
	"CONTENT_URL_NUMERIC_HOST": {0, 7},
	"CONTENT_URL_USERINFO":     {1, 34},
}

// TestCorpusSpamAssassin runs the extractor over the SpamAssassin public
// corpus: no message may make it fail or panic, and the symbols must fire
// on as many ham and spam messages as README.md says (a symbol the README
// does not list must not fire). Speed and peak heap are logged, not
// checked. With -short every 10th message is used and the counts are not
// checked.
func TestCorpusSpamAssassin(t *testing.T) {
	corpus := sharedtest.SpamAssassin(t)
	step := 1
	if testing.Short() {
		step = 10
	}
	cfg := DefaultConfig()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	sampler := startHeapSampler()
	var msgs, urls, images, withURLs, nth int
	var spent time.Duration
	symCount := map[string][2]int{} // name -> [ham, spam]
	var hamN, spamN int
	for _, cm := range corpus {
		nth++
		if nth%step != 0 {
			continue
		}
		raw := cm.Raw
		hs, body := splitMessage(raw)
		start := time.Now()
		r, err := Extract(context.Background(), cfg, hs, strings.NewReader(string(body)))
		spent += time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", cm.Name, err)
		}
		msgs++
		spam := 0
		if cm.Spam {
			spam = 1
			spamN++
		} else {
			hamN++
		}
		urls += len(r.Content.URLs)
		images += len(r.Content.Images)
		if len(r.Content.URLs) > 0 {
			withURLs++
		}
		for _, s := range r.Symbols {
			c := symCount[s.Name]
			c[spam]++
			symCount[s.Name] = c
			if os.Getenv("CORPUS_DEBUG") == s.Name {
				t.Logf("%s %s: %s", cm.Name, s.Name, s.Detail)
			}
		}
	}
	peak := sampler.Stop()
	if msgs == 0 {
		t.Fatal("no messages found in the corpus archive")
	}
	t.Logf("corpus: %d messages (every %d), %.0f messages/s of extraction time, %d URLs (%d messages with URLs), %d images, peak heap in use %.1f MiB above the %.1f MiB the loaded corpus holds",
		msgs, step, float64(msgs)/spent.Seconds(), urls, withURLs, images, float64(peak-min(peak, base.HeapInuse))/(1<<20), float64(base.HeapInuse)/(1<<20))
	t.Logf("corpus symbols as [ham of %d, spam of %d]: %v", hamN, spamN, symCount)
	if step != 1 {
		return
	}
	for name, want := range corpusSymbolClaims {
		short := strings.TrimPrefix(name, "CONTENT_")
		c := sharedtest.Claim{Doc: "filters/content/README.md", Text: fmt.Sprintf("%s [%d, %d]", short, want[0], want[1])}
		c.Value = float64(want[0])
		c.Equal(t, float64(symCount[name][0]))
		c.Value = float64(want[1])
		c.Equal(t, float64(symCount[name][1]))
	}
	for name, got := range symCount {
		if _, ok := corpusSymbolClaims[name]; !ok {
			t.Errorf("%s fires on %d ham and %d spam messages of the corpus: add it to README.md and corpusSymbolClaims", name, got[0], got[1])
		}
	}
}
