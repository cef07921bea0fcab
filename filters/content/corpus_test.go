package content

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sharedTestdata finds ../shared/testdata/<name> by walking up from the
// package directory, or skips the test.
func sharedTestdata(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "testdata", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("shared/testdata/%s not found above the package directory", name)
		}
		dir = parent
	}
}

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
	dir := sharedTestdata(t, "corpus-spamassassin")
	f, err := os.Open(filepath.Join(dir, "spamassassin-public-corpus.tar.gz"))
	if err != nil {
		t.Skipf("corpus: %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
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
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg || strings.HasSuffix(hdr.Name, ".tsv") || strings.HasSuffix(hdr.Name, ".md") {
			continue
		}
		nth++
		if nth%step != 0 {
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(tr, 64<<20))
		if err != nil {
			t.Fatal(err)
		}
		hs, body := splitMessage(raw)
		start := time.Now()
		r, err := Extract(context.Background(), cfg, hs, strings.NewReader(string(body)))
		spent += time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", hdr.Name, err)
		}
		msgs++
		spam := 0
		if strings.Contains(hdr.Name, "/spam") {
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
				t.Logf("%s %s: %s", hdr.Name, s.Name, s.Detail)
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
