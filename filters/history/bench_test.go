package history

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// benchMessage is a judged message like the load generator's: four
// symbols, one link, its nameserver, 27 reputation keys.
func benchMessage() (*filters.Message, filters.Verdict) {
	m := message(1)
	m.Facts.Auth.SPF = filters.SPFResult{Result: filters.SPFPass, Domain: "example.test", Identity: "mailfrom", Detail: "matched ip"}
	m.Facts.Auth.DMARC = filters.DMARCResult{Result: filters.DMARCPass, Policy: "none", Domain: "example.test", Detail: "spf aligned (example.test)"}
	m.Facts.Infra.Domains = []filters.DomainInfra{{Domain: "example.test", Zone: "example.test", Status: "ok",
		NS: []filters.NSHost{{Name: "ns1.dnshost.test", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.53")}}}}}
	m.Facts.Reputation = []filters.ReputationKey{{Kind: "ip", Value: "203.0.113.9", Weight: 1}, {Kind: "net", Value: "203.0.113.0/24", Weight: 1},
		{Kind: "sender", Value: "example.test", Weight: 1}, {Kind: "domain", Value: "example.test", Weight: 1}, {Kind: "url", Value: "www.example.test/page", Weight: 1},
		{Kind: "ns", Value: "ns1.dnshost.test", Weight: 1}, {Kind: "ns_ip", Value: "127.0.0.53", Weight: 1}}
	for i := range 20 {
		m.Facts.Reputation = append(m.Facts.Reputation, filters.ReputationKey{Kind: "content", Value: fmt.Sprintf("%02d.7618bdc7e0a57195", i), Weight: 1})
	}
	v := filters.Verdict{Action: filters.Accept, WouldBe: filters.Accept, Score: -1.2, Symbols: []filters.Symbol{
		{Name: "ARC_NONE"}, {Name: "DKIM_NONE", Score: 0.3}, {Name: "DMARC_PASS", Score: -1, Detail: "example.test: spf aligned (example.test)"},
		{Name: "SPF_PASS", Score: -0.5, Detail: "mailfrom=example.test: matched ip"}}}
	return m, v
}

// BenchmarkObserve is the history's work on the message path.
func BenchmarkObserve(b *testing.B) {
	m, v := benchMessage()
	r := NewRecorder(store.NewMemory(), Config{Size: 10000}, nil)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		r.Observe(m, v, time.Millisecond)
		<-r.queue
	}
}

// reportCPU reports the process CPU time (user and system) per operation,
// which other processes on a shared machine do not inflate as they do
// ns/op. Call the returned func when the measured loop ends.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWrite is the background writer's work per entry: a batch of
// 1,024 appended to bbolt (one fsynced transaction).
func BenchmarkWrite(b *testing.B) {
	st, err := store.OpenBolt(b.TempDir(), time.Hour, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m, v := benchMessage()
	r := NewRecorder(st, Config{Size: 10000}, nil)
	var batch []pending
	for range batchSize {
		r.Observe(m, v, time.Millisecond)
		batch = append(batch, <-r.queue)
	}
	b.ReportAllocs()
	b.ResetTimer()
	stop := reportCPU(b)
	for i := 0; i < b.N; i += batchSize {
		r.write(batch)
	}
	stop()
	if r.Counters.Errors.Load() > 0 {
		b.Fatal("write errors")
	}
}
