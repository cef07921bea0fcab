package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store/storetest"
)

// benchKeys are the keys of the i-th message of a synthetic stream shaped
// like the reputation check's (42 keys: client, sender, three linked
// domains and URLs, twelve nameserver names and addresses, twenty text
// bands, an image) or the classifier's (300 tokens drawn from a Zipf
// distribution over 50,000, and the message counter).
func benchKeys(i int, classifier bool) []Key {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	var ks []Key
	if classifier {
		z := rand.NewZipf(r, 1.1, 1, 50000)
		seen := map[uint64]bool{}
		ks = append(ks, Key{"bayes", "#messages", 1})
		for len(ks) < 301 {
			if v := z.Uint64(); !seen[v] {
				seen[v] = true
				ks = append(ks, Key{"bayes", fmt.Sprintf("t%010d", v), 1})
			}
		}
		return ks
	}
	add := func(kind Kind, v string) { ks = append(ks, Key{kind, v, 1}) }
	add(KindIP, fmt.Sprintf("198.51.%d.%d", r.IntN(20), r.IntN(250)))
	add("net", fmt.Sprintf("198.51.%d.0/24", r.IntN(20)))
	add("sender", fmt.Sprintf("s%d.example", r.IntN(500)))
	for j := 0; j < 3; j++ {
		d := fmt.Sprintf("l%d.example", r.IntN(2000))
		add(KindDomain, d)
		add("url", fmt.Sprintf("%s/p/%d", d, r.IntN(100)))
	}
	for j := 0; j < 6; j++ {
		add(KindNS, fmt.Sprintf("ns%d.h%d.example", j, r.IntN(100)))
		add("ns_ip", fmt.Sprintf("203.0.113.%d", r.IntN(100)))
	}
	for j := 0; j < 20; j++ {
		add("content", fmt.Sprintf("%02d%014x", j, r.Uint64()>>8))
	}
	add("image", fmt.Sprintf("%064x", r.IntN(300)))
	return ks
}

func benchIDs(keys []Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID()
	}
	return ids
}

// BenchmarkRedisModes measures learning (one report after the other, as
// the admin listener takes them from one reporter) and the check's read
// (the counts of one message's keys) against a standalone server, a
// Sentinel group (one master, one replica) and a Redis Cluster (three
// masters, three replicas), all on loopback TCP, side by side; with and
// without wait_replicas: 1 where there are replicas. Read the figures as
// ratios: the machine is shared.
//
//	go test -run '^$' -bench RedisModes -benchtime 2s ./filters/store
func BenchmarkRedisModes(b *testing.B) {
	deployments := []struct {
		name  string
		start func(b *testing.B) RedisConfig
	}{
		{"standalone", func(b *testing.B) RedisConfig {
			return RedisConfig{Mode: ModeStandalone, Addr: storetest.StartStandalone(b).Addr()}
		}},
		{"sentinel", func(b *testing.B) RedisConfig {
			s := storetest.StartSentinel(b, "vigil")
			return RedisConfig{Mode: ModeSentinel, Addrs: s.Addrs(), MasterName: "vigil"}
		}},
		{"cluster", func(b *testing.B) RedisConfig {
			c := storetest.StartCluster(b, 3, 1)
			return RedisConfig{Mode: ModeCluster, Addrs: c.Addrs()}
		}},
	}
	for _, d := range deployments {
		b.Run(d.name, func(b *testing.B) {
			rc := d.start(b)
			open := func(b *testing.B, wait int) *RedisStore {
				cfg := DefaultConfig()
				cfg.Backend = "redis"
				r := cfg.Redis
				r.Mode, r.Addr, r.Addrs, r.MasterName = rc.Mode, rc.Addr, rc.Addrs, rc.MasterName
				if r.Addr == "" {
					r.Addr = DefaultConfig().Redis.Addr
				}
				r.Prefix = fmt.Sprintf("b%d:", time.Now().UnixNano())
				r.Timeout = filters.Duration(5 * time.Second)
				r.Persistence = PersistenceOff
				r.WaitReplicas, r.WaitTimeout = wait, filters.Duration(5*time.Second)
				cfg.Redis = r
				if err := cfg.Validate(); err != nil {
					b.Fatal(err)
				}
				s, err := OpenRedis(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			}
			waits := []int{0}
			if d.name != "standalone" {
				waits = append(waits, 1)
			}
			ctx := context.Background()
			for _, shape := range []string{"reputation", "classifier"} {
				classifier := shape == "classifier"
				for _, wait := range waits {
					b.Run(fmt.Sprintf("learn/%s/wait=%d", shape, wait), func(b *testing.B) {
						s := open(b, wait)
						start := time.Now()
						for i := 0; i < b.N; i++ {
							if _, err := s.Learn(ctx, fmt.Sprintf("d%d", i), Spam, benchKeys(i, classifier)); err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
					})
				}
				b.Run("read/"+shape, func(b *testing.B) {
					s := open(b, 0)
					const learned = 500
					for i := 0; i < learned; i++ {
						if _, err := s.Learn(ctx, fmt.Sprintf("d%d", i), Spam, benchKeys(i, classifier)); err != nil {
							b.Fatal(err)
						}
					}
					ids := make([][]string, learned)
					for i := range ids {
						ids[i] = benchIDs(benchKeys(i, classifier))
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						got, err := s.Counts(ctx, ids[i%learned])
						if err != nil {
							b.Fatal(err)
						}
						if got[0].Total() == 0 {
							b.Fatal("a learned key reads zero")
						}
					}
				})
			}
		})
	}
}
