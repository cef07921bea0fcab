package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func historyStores() map[string]func(t *testing.T) HistoryStore {
	return map[string]func(t *testing.T) HistoryStore{
		"bbolt": func(t *testing.T) HistoryStore {
			s, err := OpenBolt(t.TempDir(), time.Hour, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func(t *testing.T) HistoryStore {
			cfg := DefaultConfig()
			cfg.Backend = "redis"
			cfg.Redis.Addr = startRedis(t)
			cfg.Redis.Prefix = fmt.Sprintf("hist%d:", time.Now().UnixNano())
			s, err := OpenRedis(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"memory": func(t *testing.T) HistoryStore { return NewMemory() },
	}
}

func recs(from, to int) []HistoryRecord {
	var out []HistoryRecord
	for i := from; i <= to; i++ {
		out = append(out, HistoryRecord{
			Digest:  fmt.Sprintf("digest-%d", i%7),
			Summary: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Detail:  []byte(fmt.Sprintf(`{"detail":%d}`, i)),
		})
	}
	return out
}

func summaries(rs []HistoryRecord) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d=%s", r.ID, r.Summary))
	}
	return strings.Join(parts, " ")
}

func TestHistoryStore(t *testing.T) {
	ctx := context.Background()
	for name, open := range historyStores() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			if page, err := s.HistoryPage(ctx, 0, 10); err != nil || len(page) != 0 {
				t.Fatalf("empty history: %v %v", page, err)
			}
			if _, ok, err := s.HistoryEntry(ctx, 1); ok || err != nil {
				t.Fatalf("entry of an empty history: %v %v", ok, err)
			}
			// Two batches, the second pushing the oldest out of keep = 5.
			b1 := recs(1, 4)
			if err := s.AppendHistory(ctx, b1, 5); err != nil {
				t.Fatal(err)
			}
			if b1[0].ID != 1 || b1[3].ID != 4 {
				t.Fatalf("ids %d..%d, want 1..4", b1[0].ID, b1[3].ID)
			}
			if err := s.AppendHistory(ctx, recs(5, 7), 5); err != nil {
				t.Fatal(err)
			}
			page, err := s.HistoryPage(ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := summaries(page), `7={"n":7} 6={"n":6} 5={"n":5} 4={"n":4} 3={"n":3}`; got != want {
				t.Fatalf("page = %s, want %s (newest first, the 5 newest)", got, want)
			}
			if page[0].Detail != nil {
				t.Errorf("a page carries details: %s", page[0].Detail)
			}
			page, err = s.HistoryPage(ctx, 6, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := summaries(page), `5={"n":5} 4={"n":4}`; got != want {
				t.Fatalf("page before 6 = %s, want %s", got, want)
			}
			if page, _ := s.HistoryPage(ctx, 1000, 1); summaries(page) != `7={"n":7}` {
				t.Fatalf("page before an id past the newest = %s", summaries(page))
			}
			if page, _ := s.HistoryPage(ctx, 3, 10); len(page) != 0 {
				t.Fatalf("page before the oldest kept = %s", summaries(page))
			}
			if _, ok, _ := s.HistoryEntry(ctx, 2); ok {
				t.Fatal("entry 2 is still there after trimming to 5")
			}
			e, ok, err := s.HistoryEntry(ctx, 6)
			if err != nil || !ok {
				t.Fatalf("entry 6: %v %v", ok, err)
			}
			if string(e.Summary) != `{"n":6}` || string(e.Detail) != `{"detail":6}` || e.Digest != "digest-6" || e.Learned != "" {
				t.Fatalf("entry 6 = %+v", e)
			}

			// A mark applies to every entry with the digest.
			if err := s.MarkLearned(ctx, "digest-6", Spam, 100); err != nil {
				t.Fatal(err)
			}
			if e, _, _ := s.HistoryEntry(ctx, 6); e.Learned != Spam {
				t.Fatalf("entry 6 after marking: %q", e.Learned)
			}
			if err := s.MarkLearned(ctx, "digest-6", Ham, 100); err != nil {
				t.Fatal(err)
			}
			page, _ = s.HistoryPage(ctx, 0, 10)
			for _, r := range page {
				want := Class("")
				if r.Digest == "digest-6" {
					want = Ham
				}
				if r.Learned != want {
					t.Errorf("entry %d (%s) learned %q, want %q", r.ID, r.Digest, r.Learned, want)
				}
			}

			// Marks keep the newest `keep`; re-marking moves a digest to the end.
			for i, d := range []string{"digest-3", "digest-4", "digest-6", "digest-5"} {
				if err := s.MarkLearned(ctx, d, Spam, 2); err != nil {
					t.Fatalf("mark %d: %v", i, err)
				}
			}
			got := map[string]Class{}
			page, _ = s.HistoryPage(ctx, 0, 10)
			for _, r := range page {
				got[r.Digest] = r.Learned
			}
			if got["digest-6"] != Spam || got["digest-5"] != Spam || got["digest-3"] != "" || got["digest-4"] != "" {
				t.Fatalf("marks after trimming to 2: %v", got)
			}

			// keep shrinking on reload drops the surplus at the next append.
			if err := s.AppendHistory(ctx, recs(8, 8), 2); err != nil {
				t.Fatal(err)
			}
			if page, _ := s.HistoryPage(ctx, 0, 10); summaries(page) != `8={"n":8} 7={"n":7}` {
				t.Fatalf("after keep 2: %s", summaries(page))
			}
			if err := s.AppendHistory(ctx, []HistoryRecord{{Digest: "a\nb"}}, 2); err == nil {
				t.Fatal("a digest with a newline was stored")
			}
		})
	}
}

// TestHistoryConcurrentAppends: writers appending at once (nodes sharing a
// Redis, or one node's batches) never reuse an ID or lose an entry.
func TestHistoryConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	for name, open := range historyStores() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := range 10 {
						r := recs(w*100+i, w*100+i)
						if err := s.AppendHistory(ctx, r, 1000); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			page, err := s.HistoryPage(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != 40 {
				t.Fatalf("%d entries, want 40", len(page))
			}
			seen := map[string]bool{}
			for i, r := range page {
				if r.ID != uint64(40-i) {
					t.Fatalf("entry %d has id %d, want %d (consecutive, newest first)", i, r.ID, 40-i)
				}
				seen[string(r.Summary)] = true
			}
			if len(seen) != 40 {
				t.Fatalf("%d distinct entries, want 40", len(seen))
			}
		})
	}
}
