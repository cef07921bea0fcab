package content

import (
	"context"
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

// TestCorpusSpamAssassin runs the extractor over the SpamAssassin public
// corpus: no message may make it fail or panic, and the numbers are logged
// (messages/s, URLs, peak heap). Under the race detector every 10th
// message is used to keep the suite fast.
func TestCorpusSpamAssassin(t *testing.T) {
	corpus := sharedtest.SpamAssassin(t)
	step := 1
	if raceEnabled || testing.Short() {
		step = 10
	}
	cfg := DefaultConfig()
	runtime.GC()
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
	t.Logf("corpus: %d messages (every %d), %.0f messages/s of extraction time, %d URLs (%d messages with URLs), %d images, peak heap in use %.1f MiB",
		msgs, step, float64(msgs)/spent.Seconds(), urls, withURLs, images, float64(peak)/(1<<20))
	t.Logf("corpus symbols as [ham of %d, spam of %d]: %v", hamN, spamN, symCount)
}
