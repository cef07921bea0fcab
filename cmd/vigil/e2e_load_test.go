package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilmail/vigil/milter/loadgen"
)

// BenchmarkE2EVigilMilter16 measures the real vigil binary over the milter
// protocol at 16 concurrent sessions (one per message, as Postfix does) with
// the clean message of t-01; compare with loadgen's
// BenchmarkNullMilter16. Vigil is built without -race here unless the
// benchmark runs with -race.
//
//	go test -run XXX -bench E2EVigilMilter16 -benchtime 2000x ./cmd/vigil/
func BenchmarkE2EVigilMilter16(b *testing.B) {
	dir := filepath.Join("testdata", "e2e", "t-01-clean-delivered")
	msg, err := os.ReadFile(filepath.Join(dir, "clean.eml"))
	if err != nil {
		b.Skipf("no scenario message: %v", err)
	}
	work := scratchDir(b, "vigil-e2e-bench-")
	v := startVigil(b, buildVigil(b), dir, work, startDNSStub(b, filepath.Join(dir, "zone"))).addr
	b.ResetTimer()
	res, err := loadgen.Run(context.Background(), loadgen.Options{
		Addr:     v,
		Conns:    16,
		Messages: b.N,
		Message:  msg,
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors != 0 {
		b.Fatalf("%d errors: %v", res.Errors, res.FirstError)
	}
	if res.Actions["accept"] != b.N && res.Actions["continue"] != b.N {
		b.Fatalf("actions %v, want %d accepted", res.Actions, b.N)
	}
	b.ReportMetric(res.PerSecond, "msgs/s")
	b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
}
