package reputation

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/store"
)

// benchMessage is a typical message: authenticated sender, three linked
// domains with two nameservers each, three URLs, an image and a text.
func benchMessage(i int) *filters.Message {
	m := &filters.Message{
		Envelope: filters.Envelope{ClientIP: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), MailFrom: fmt.Sprintf("b@s%d.example", i%500)},
		Headers: []filters.Header{
			{Name: "From", Value: fmt.Sprintf(" news@s%d.example", i%500)},
			{Name: "Message-ID", Value: fmt.Sprintf(" <%d@bench>", i)},
		},
		Body: filters.BytesBody(fmt.Sprintf("message %d\r\n", i)),
	}
	m.Facts.Auth.SPF = filters.SPFResult{Result: "pass", Domain: fmt.Sprintf("s%d.example", i%500)}
	m.Facts.Auth.DKIM = []filters.DKIMResult{{Domain: fmt.Sprintf("s%d.example", i%500), Result: "pass"}}
	for j := 0; j < 3; j++ {
		d := fmt.Sprintf("l%d.example", (i*3+j)%2000)
		m.Facts.Content.Domains = append(m.Facts.Content.Domains, d)
		m.Facts.Content.URLs = append(m.Facts.Content.URLs, filters.URL{URL: fmt.Sprintf("https://%s/p/%d", d, i%97)})
		m.Facts.Infra.Domains = append(m.Facts.Infra.Domains, filters.DomainInfra{Domain: d, NS: []filters.NSHost{
			{Name: fmt.Sprintf("ns1.h%d.example", i%50), Addrs: []netip.Addr{netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 50)})}},
			{Name: fmt.Sprintf("ns2.h%d.example", i%50), Addrs: []netip.Addr{netip.AddrFrom4([4]byte{203, 0, 114, byte(i % 50)})}},
		}})
	}
	m.Facts.Content.Images = []filters.Image{{Kind: "inline", SHA256: fmt.Sprintf("%064x", i%300)}}
	m.Facts.Content.Text = strings.Repeat(fmt.Sprintf("Special offer number %d for our valued customers, act today. ", i%40), 8)
	return m
}

func benchStores(b *testing.B) map[string]func(b *testing.B) store.Store {
	return map[string]func(b *testing.B) store.Store{
		"bbolt": func(b *testing.B) store.Store {
			s, err := store.OpenBolt(b.TempDir(), 30*24*time.Hour, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func(b *testing.B) store.Store {
			s, err := store.OpenRedis(redisConfig(b, DefaultConfig()).Config)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// BenchmarkLearn measures learning throughput: one durable Learn per message
// (bbolt: one fsynced transaction; Redis: GET + one script).
func BenchmarkLearn(b *testing.B) {
	for name, open := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			msgs := make([]*filters.Message, 1000)
			for i := range msgs {
				msgs[i] = benchMessage(i)
			}
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				m := msgs[i%len(msgs)]
				// A fresh digest each round so every call writes.
				digest, _ := feedback.Digest(m)
				if _, err := s.Learn(ctx, fmt.Sprintf("%s-%d", digest, i), store.Spam, Keys(m)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkRead measures the message-path cost of the check without its
// cache: key extraction (with the fingerprint) plus one store read of all
// keys, against a store holding 20000 keys.
func BenchmarkRead(b *testing.B) {
	for name, open := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			var deltas []store.Delta
			for i := 0; i < 500; i++ {
				for _, k := range Keys(benchMessage(i)) {
					deltas = append(deltas, store.Delta{ID: k.ID(), Spam: float64(i % 7), Ham: float64(i % 3)})
				}
			}
			for len(deltas) > 0 {
				n := min(len(deltas), 2000)
				if err := s.Add(ctx, deltas[:n]); err != nil {
					b.Fatal(err)
				}
				deltas = deltas[n:]
			}
			cfg := DefaultConfig()
			cfg.CacheTTL = 0
			cfg.Timeout = filters.Duration(5 * time.Second)
			check := mustCheck(New(cfg, Deps{Store: s, Log: quietLog}))
			msgs := make([]*filters.Message, 500)
			for i := range msgs {
				msgs[i] = benchMessage(i)
			}
			b.ResetTimer()
			syms := 0
			for i := 0; i < b.N; i++ {
				out, err := check.Run(ctx, msgs[i%len(msgs)])
				if err != nil {
					b.Fatal(err)
				}
				syms += len(out)
			}
			if syms == 0 {
				b.Fatal("no symbols: the read found nothing")
			}
		})
	}
}

// BenchmarkKeys is the CPU part of the read: extraction and fingerprint.
func BenchmarkKeys(b *testing.B) {
	m := benchMessage(1)
	for i := 0; i < b.N; i++ {
		Keys(m)
	}
}
