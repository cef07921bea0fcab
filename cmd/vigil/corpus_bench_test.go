package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
)

// BenchmarkCorpusPipeline runs every message of the SpamAssassin corpus
// through the whole pipeline (all checks, a loopback DNS server that knows
// none of the corpus' names) and reports messages/s, actions and the
// largest heap seen. It proves the pipeline survives 6,046 real messages
// without a crash or a hang. Run:
//
//	go test -run '^$' -bench CorpusPipeline -benchtime 1x ./cmd/vigil
func BenchmarkCorpusPipeline(b *testing.B) {
	var dir string
	for d, _ := os.Getwd(); d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(d, "..", "shared", "testdata", "corpus-spamassassin", "spamassassin-public-corpus.tar.gz")
		if _, err := os.Stat(p); err == nil {
			dir = p
			break
		}
	}
	if dir == "" {
		b.Skip("corpus not found beside the repository")
	}
	f, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var msgs [][]byte
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || strings.HasSuffix(h.Name, ".tsv") {
			continue
		}
		data, _ := io.ReadAll(tr)
		msgs = append(msgs, data)
	}
	dns := dnstest.NewServer(b, "")
	c, err := config.Parse(strings.NewReader(fmt.Sprintf("dns: {servers: [%q], timeout: 300ms}\nreputation: {path: %s}\n", dns.Addr(), b.TempDir())))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := openStore(c, log, false)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	rt, err := build(c, log, store)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.close()
	for i := 0; i < b.N; i++ {
		actions := map[filters.Action]int{}
		var peak uint64
		var ms goruntime.MemStats
		start := time.Now()
		for j, raw := range msgs {
			m, err := filters.ParseMessage(bytes.NewReader(raw), int64(c.Limits.MaxMessageSize))
			if err != nil {
				b.Fatalf("message %d: %v", j, err)
			}
			m.Envelope.ClientIP = mustAddr("203.0.113.9")
			v := rt.engine.Judge(context.Background(), m)
			actions[v.Action]++
			if j%500 == 0 {
				goruntime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
		el := time.Since(start)
		b.ReportMetric(float64(len(msgs))/el.Seconds(), "msg/s")
		b.Logf("%d messages in %s (%.0f msg/s, cold DNS cache), actions %v, heap in use up to %d MiB",
			len(msgs), el.Round(time.Millisecond), float64(len(msgs))/el.Seconds(), actions, peak>>20)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
