package dnsrep_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

func benchResolver(b *testing.B, cacheSize int) *dnsrep.Resolver {
	s := dnstest.NewServer(b, zone+"*.bench.example.org. 300 A 192.0.2.1\n")
	cfg := dnsrep.DefaultConfig()
	cfg.Servers = []string{s.Addr()}
	cfg.Cache.Size = cacheSize
	r, err := dnsrep.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func lookupsPerSecond(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkLookupCached: answers served from the cache, all cores.
func BenchmarkLookupCached(b *testing.B) {
	r := benchResolver(b, 100000)
	ctx := context.Background()
	if _, err := r.Lookup(ctx, "mx.example.org", dns.TypeA); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if a, err := r.Lookup(ctx, "mx.example.org", dns.TypeA); err != nil || !a.Cached {
				panic(fmt.Sprint("not cached: ", err))
			}
		}
	})
	lookupsPerSecond(b)
}

// BenchmarkLookupLoopback: every lookup is a distinct name sent to the
// loopback server over UDP (cache disabled, so neither the cache nor
// singleflight can absorb it), 8 lookups in flight per core. Client and
// server share the machine's cores.
func BenchmarkLookupLoopback(b *testing.B) {
	r := benchResolver(b, -1)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("h%d.bench.example.org", n.Add(1))
			if a, err := r.Lookup(ctx, name, dns.TypeA); err != nil || a.Status != dnsrep.Success {
				panic(fmt.Sprint("lookup failed: ", a.Status, err))
			}
		}
	})
	lookupsPerSecond(b)
}
