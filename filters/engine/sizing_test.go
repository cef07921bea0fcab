package engine

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/sharedtest"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/filters/store/storetest"
)

// corpusInRedis is what learning the SpamAssassin corpus left in Redis.
type corpusInRedis struct {
	learned int
	// at checkpoints: messages learned so far, count keys, used_memory
	// growth (bytes)
	ns   []int
	keys []int
	mem  []int64
	// kinds at the end
	kinds []kindSize
}

// learnCorpusIntoRedis learns every message of the SpamAssassin corpus
// (6,046, in name order: ham and spam of 2002-2003) as its class through
// the engine (reputation keys and classifier tokens, as a report to the
// admin listener does), into a redis-server of its own, reading at
// checkpoints the keys by kind and, with memory, used_memory and MEMORY
// USAGE of a sample of each kind.
func learnCorpusIntoRedis(tb testing.TB, memory bool) corpusInRedis {
	msgs := sharedtest.SpamAssassin(tb)
	srv := storetest.StartStandalone(tb)
	cfg := reputation.DefaultConfig()
	cfg.Backend = "redis"
	cfg.Redis.Addr = srv.Addr()
	cfg.Redis.Persistence = store.PersistenceOff
	cfg.Redis.Timeout = filters.Duration(10 * time.Second)
	st, err := store.Open(cfg.Config)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	e, err := New(Options{Policy: filters.Policy{Tag: 5, Reject: 15}, Pipeline: filters.NewPipeline(5*time.Second, 10*time.Second, nil),
		AuthservID: "mx.example.test", Content: content.DefaultConfig(), Store: st, Reputation: cfg, Bayes: bayes.DefaultConfig()})
	if err != nil {
		tb.Fatal(err)
	}
	defer e.Close()
	rdb := srv.Client()
	defer rdb.Close()
	ctx := context.Background()
	var base int64
	if memory {
		base = usedMemory(tb, rdb)
	}
	var out corpusInRedis
	checkpoints := map[int]bool{500: true, 1000: true, 2000: true, 4000: true, len(msgs): true}
	for j, m := range msgs {
		class := store.Ham
		if m.Spam {
			class = store.Spam
		}
		if _, err := e.LearnRaw(ctx, m.Raw, class); err == nil {
			out.learned++
		}
		if !checkpoints[j+1] {
			continue
		}
		kinds := keysByKind(tb, rdb, cfg.Redis.Prefix, memory)
		total := 0
		for _, k := range kinds {
			if !strings.HasPrefix(k.kind, "record") {
				total += k.n
			}
		}
		out.ns = append(out.ns, j+1)
		out.keys = append(out.keys, total)
		if memory {
			out.mem = append(out.mem, usedMemory(tb, rdb)-base)
		}
		out.kinds = kinds
	}
	return out
}

// TestCorpusRedisKeys guards the count keys the corpus leaves in Redis,
// which the store's README sizes Redis with: a change to the keys a
// message carries (a new kind, more tokens) changes them, and the sizing
// must be measured again (BenchmarkRedisSizing).
func TestCorpusRedisKeys(t *testing.T) {
	if raceEnabled {
		t.Skip("corpus: runs without -race (test.sh's corpus pass)")
	}
	got := learnCorpusIntoRedis(t, false)
	n := got.ns[len(got.ns)-1]
	keys := got.keys[len(got.keys)-1]
	t.Logf("%d messages, %d learned, %d count keys (%.1f per message)", n, got.learned, keys, float64(keys)/float64(n))
	for _, k := range got.kinds {
		t.Logf("  %-16s %8d", k.kind, k.n)
	}
	sharedtest.Claim{Doc: "filters/store/README.md", Text: "654,333 count keys", Value: 654333}.Equal(t, float64(keys))
}

// BenchmarkRedisSizing measures what learning the corpus costs in Redis
// (used_memory per message, bytes per key by kind, growth of the keys).
// The figures go to the store's README ("Sizing"):
//
//	go test -run '^$' -bench RedisSizing -benchtime 1x -v ./filters/engine
func BenchmarkRedisSizing(b *testing.B) {
	for i := 0; i < b.N; i++ {
		got := learnCorpusIntoRedis(b, true)
		for c := range got.ns {
			b.Logf("after %d messages: %d count keys, used_memory +%d bytes (%.0f per message)",
				got.ns[c], got.keys[c], got.mem[c], float64(got.mem[c])/float64(got.ns[c]))
		}
		last := len(got.ns) - 1
		n := got.ns[last]
		for _, k := range got.kinds {
			b.Logf("  %-16s %8d keys  %6.2f per message  %5.0f bytes each (MEMORY USAGE, %d sampled), %3.0f%% of one report",
				k.kind, k.n, float64(k.n)/float64(n), k.avg, k.sampled, 100*float64(k.once)/float64(max(1, k.sampled)))
		}
		// Keys grow more slowly than messages (words and domains recur):
		// fit keys = a * n^exp through the last two checkpoints.
		exp := math.Log(float64(got.keys[last])/float64(got.keys[last-1])) / math.Log(float64(n)/float64(got.ns[last-1]))
		b.Logf("count keys ~ n^%.2f between %d and %d messages, %.1f new keys per message there; over all %.1f keys and %.0f bytes per message",
			exp, got.ns[last-1], n, float64(got.keys[last]-got.keys[last-1])/float64(n-got.ns[last-1]),
			float64(got.keys[last])/float64(n), float64(got.mem[last])/float64(n))
		b.ReportMetric(float64(got.mem[last])/float64(n), "bytes/msg")
		b.ReportMetric(float64(got.keys[last])/float64(n), "keys/msg")
	}
}

func usedMemory(tb testing.TB, rdb *redis.Client) int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Fatal("no used_memory in INFO memory")
	return 0
}

type kindSize struct {
	kind    string
	n       int
	avg     float64
	sampled int
	// once is how many sampled count keys hold the evidence of one
	// report at most (spam+ham <= 1).
	once int
}

// keysByKind counts the keys under prefix by kind ("bayes", "domain", ...,
// "record" and "record (bayes)" for the learned-message records) and, with
// sample, reads MEMORY USAGE and the counts of up to 2,000 keys of each.
func keysByKind(tb testing.TB, rdb *redis.Client, prefix string, sample bool) []kindSize {
	tb.Helper()
	ctx := context.Background()
	by := map[string]*kindSize{}
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 5000).Result()
		if err != nil {
			tb.Fatal(err)
		}
		for _, k := range keys {
			rest := strings.TrimPrefix(k, prefix)
			kind := "other"
			switch {
			case strings.HasPrefix(rest, "m:bayes:"):
				kind = "record (bayes)"
			case strings.HasPrefix(rest, "m:"):
				kind = "record"
			case strings.HasPrefix(rest, "k:"):
				kind, _, _ = strings.Cut(strings.TrimPrefix(rest, "k:"), ":")
			}
			ks := by[kind]
			if ks == nil {
				ks = &kindSize{kind: kind}
				by[kind] = ks
			}
			ks.n++
			if !sample || ks.sampled >= 2000 {
				continue
			}
			if u, err := rdb.MemoryUsage(ctx, k).Result(); err == nil {
				ks.avg = (ks.avg*float64(ks.sampled) + float64(u)) / float64(ks.sampled+1)
				ks.sampled++
			}
			if v, err := rdb.HMGet(ctx, k, "s", "h").Result(); err == nil && len(v) == 2 {
				sp, _ := strconv.ParseFloat(fmt.Sprint(v[0]), 64)
				hm, _ := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
				if sp+hm <= 1.0001 {
					ks.once++
				}
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	out := make([]kindSize, 0, len(by))
	for _, k := range by {
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n > out[j].n })
	return out
}
