package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// uncached reads ids straight from the file, as Counts did before the cache.
func uncached(t *testing.T, s *BoltStore, ids []string) []Counts {
	t.Helper()
	old := s.cache
	s.cache = newCountCache()
	defer func() { s.cache = old }()
	out, err := s.Counts(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBoltCountCache: a read from the cache returns exactly what the file
// holds, decayed to the same now, and every kind of write (Add, Learn,
// moving a message to the other class, Prune) is seen by the next read.
func TestBoltCountCache(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	s := openTestBolt(t, clk).(*BoltStore)
	ctx := context.Background()
	ids := []string{"bayes:a", "bayes:b", "ip:192.0.2.1", "bayes:never"}
	same := func(step string) {
		t.Helper()
		for round := 0; round < 2; round++ { // the first fills the cache, the second reads it
			got, err := s.Counts(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			want := uncached(t, s, ids)
			for i := range ids {
				if got[i] != want[i] { // exact: same bits, same arithmetic
					t.Fatalf("%s, read %d: %s = %+v from the cache, %+v from the file", step, round, ids[i], got[i], want[i])
				}
			}
		}
	}
	same("empty")
	if err := s.Add(ctx, []Delta{{ID: "bayes:a", Spam: 2}, {ID: "ip:192.0.2.1", Ham: 1}}); err != nil {
		t.Fatal(err)
	}
	same("after Add")
	wantCounts(t, s, "bayes:a", 2, 0)
	clk.advance(testHalfLife / 3)
	same("decayed")
	keys := []Key{{Kind: "bayes", Value: "b", Weight: 1}, {Kind: "bayes", Value: "a", Weight: 1}}
	if _, err := s.Learn(ctx, "d1", Spam, keys); err != nil {
		t.Fatal(err)
	}
	same("after Learn")
	if out, err := s.Learn(ctx, "d1", Ham, keys); err != nil || out != Moved {
		t.Fatalf("move: %v %v", out, err)
	}
	same("after moving to ham")
	wantCounts(t, s, "bayes:b", 0, 1)
	clk.advance(100 * testHalfLife)
	if _, _, err := s.Prune(ctx, clk.now(), 0.05); err != nil {
		t.Fatal(err)
	}
	same("after Prune")
	wantCounts(t, s, "bayes:b", 0, 0)
}

// TestBoltCountCacheBounded: the cache never holds more than its size.
func TestBoltCountCacheBounded(t *testing.T) {
	s := openTestBolt(t, &clock{t: time.Unix(1e9, 0)}).(*BoltStore)
	ids := make([]string, 5000)
	for round := 0; round < countCacheSize/len(ids)+3; round++ {
		for i := range ids {
			ids[i] = fmt.Sprintf("bayes:%d-%d", round, i)
		}
		if _, err := s.Counts(context.Background(), ids); err != nil {
			t.Fatal(err)
		}
		if n := len(s.cache.m); n > countCacheSize {
			t.Fatalf("cache holds %d entries, bound %d", n, countCacheSize)
		}
	}
}

// TestBoltCountCacheConcurrent: readers racing writers always end up
// reading the final counts (no stale value stays in the cache).
func TestBoltCountCacheConcurrent(t *testing.T) {
	s := openTestBolt(t, &clock{t: time.Unix(1e9, 0)}).(*BoltStore)
	ctx := context.Background()
	ids := []string{"bayes:x", "bayes:y"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Counts(ctx, ids)
			}
		}()
	}
	for i := 0; i < 200; i++ {
		if err := s.Add(ctx, []Delta{{ID: "bayes:x", Spam: 1}, {ID: "bayes:y", Ham: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	wantCounts(t, s, "bayes:x", 200, 0)
	wantCounts(t, s, "bayes:y", 0, 200)
}
