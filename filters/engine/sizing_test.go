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

// BenchmarkRedisSizing measures what learning costs in Redis: every
// message of the SpamAssassin corpus (6,046, in name order: ham and spam
// of 2002-2003) learned as its class through the engine (reputation keys
// and classifier tokens, as a report to the admin listener), into a
// redis-server of its own. At checkpoints it reads used_memory and the
// keys by kind, with MEMORY USAGE of a sample of each kind. The figures
// go to the store's README ("Sizing"); run with -benchtime 1x:
//
//	go test -run '^$' -bench RedisSizing -benchtime 1x -v ./filters/engine
func BenchmarkRedisSizing(b *testing.B) {
	msgs := sharedtest.SpamAssassin(b)
	srv := storetest.StartStandalone(b)
	cfg := reputation.DefaultConfig()
	cfg.Backend = "redis"
	cfg.Redis.Addr = srv.Addr()
	cfg.Redis.Persistence = store.PersistenceOff
	cfg.Redis.Timeout = filters.Duration(10 * time.Second)
	st, err := store.Open(cfg.Config)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e, err := New(Options{Policy: filters.Policy{Tag: 5, Reject: 15}, Pipeline: filters.NewPipeline(5*time.Second, 10*time.Second, nil),
		AuthservID: "mx.example.test", Content: content.DefaultConfig(), Store: st, Reputation: cfg, Bayes: bayes.DefaultConfig()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	rdb := srv.Client()
	defer rdb.Close()
	ctx := context.Background()
	base := usedMemory(b, rdb)

	checkpoints := map[int]bool{500: true, 1000: true, 2000: true, 3000: true, 4000: true, len(msgs): true}
	var keysAt, memAt []float64
	var ns []int
	learned := 0
	for i := 0; i < b.N; i++ {
		for j, m := range msgs {
			class := store.Ham
			if m.Spam {
				class = store.Spam
			}
			if _, err := e.LearnRaw(ctx, m.Raw, class); err == nil {
				learned++
			}
			if !checkpoints[j+1] || i > 0 {
				continue
			}
			mem := usedMemory(b, rdb) - base
			kinds := keysByKind(b, rdb, cfg.Redis.Prefix)
			total := 0
			for _, k := range kinds {
				total += k.n
			}
			ns = append(ns, j+1)
			keysAt = append(keysAt, float64(total))
			memAt = append(memAt, float64(mem))
			b.Logf("after %d messages (%d learned): %d keys, used_memory +%d bytes (%.0f per message, %.0f per key)",
				j+1, learned, total, mem, float64(mem)/float64(j+1), float64(mem)/float64(total))
			if j+1 == len(msgs) {
				for _, k := range kinds {
					b.Logf("  %-16s %8d keys  %6.2f per message  %5.0f bytes each (MEMORY USAGE, %d sampled), %3.0f%% of one report",
						k.kind, k.n, float64(k.n)/float64(j+1), k.avg, k.sampled, 100*float64(k.once)/float64(k.sampled))
				}
			}
		}
	}
	// Keys grow more slowly than messages (words and domains recur):
	// fit keys = a * n^exp through the last two checkpoints.
	last := len(ns) - 1
	exp := math.Log(keysAt[last]/keysAt[last-1]) / math.Log(float64(ns[last])/float64(ns[last-1]))
	b.Logf("keys ~ n^%.2f between %d and %d messages, %.1f new keys per message there; over all: %.1f keys, %.0f bytes per message",
		exp, ns[last-1], ns[last], (keysAt[last]-keysAt[last-1])/float64(ns[last]-ns[last-1]),
		keysAt[last]/float64(ns[last]), memAt[last]/float64(ns[last]))
	b.ReportMetric(memAt[last]/float64(ns[last]), "bytes/msg")
	b.ReportMetric(keysAt[last]/float64(ns[last]), "keys/msg")
	b.ReportMetric(exp, "key-growth-exp")
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

// keysByKind counts the keys under prefix by kind ("k:bayes", "k:domain",
// "m:" records, "m:bayes:" classifier records) and samples MEMORY USAGE.
func keysByKind(tb testing.TB, rdb *redis.Client, prefix string) []kindSize {
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
			if ks.sampled < 300 {
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

