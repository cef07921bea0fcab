package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/sharedtest"
	"github.com/vigilmail/vigil/filters/store"
)

// BenchmarkCorpusPipeline runs every message of the SpamAssassin corpus
// through the whole pipeline (all checks, a loopback DNS server that knows
// none of the corpus' names) and reports messages/s, actions and the
// largest heap seen. It proves the pipeline survives 6,046 real messages
// without a crash or a hang. Run:
//
//	go test -run '^$' -bench CorpusPipeline -benchtime 1x ./cmd/vigil
//
// corpusRuntime builds the whole pipeline over a fresh store and a
// loopback DNS server that knows none of the corpus' names.
func corpusRuntime(b testing.TB) (config.Config, *runtime) {
	dns := dnstest.NewServer(b, "")
	c, err := config.Parse(strings.NewReader(fmt.Sprintf("dns: {servers: [%q], timeout: 300ms}\nreputation: {path: %s}\n", dns.Addr(), memTempDir(b))))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, _, done, err := openRuntime(c, log, false)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(done)
	return c, rt
}

// memTempDir is a temporary directory on tmpfs (/dev/shm) where there is
// one, else t.TempDir(): learning fsyncs every message into bbolt, which on
// a shared disk takes a minute for the corpus and on tmpfs costs nothing,
// and the corpus figures are about verdicts, not disks.
func memTempDir(tb testing.TB) string {
	dir, err := os.MkdirTemp("/dev/shm", "vigil-corpus-")
	if err != nil {
		return tb.TempDir()
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func BenchmarkCorpusPipeline(b *testing.B) {
	msgs := sharedtest.SpamAssassin(b)
	c, rt := corpusRuntime(b)
	for i := 0; i < b.N; i++ {
		actions := map[filters.Action]int{}
		var peak uint64
		var ms goruntime.MemStats
		start := time.Now()
		for j, cm := range msgs {
			m, err := filters.ParseMessage(bytes.NewReader(cm.Raw), int64(c.Limits.MaxMessageSize))
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

// firstHalfClass is the class of a message of the corpus' first half
// (easy_ham, hard_ham: ham; spam: spam), learned as user feedback; false
// for the second half (easy_ham_2, spam_2), never learned.
func firstHalfClass(group string) (store.Class, bool) {
	switch group {
	case "easy_ham", "hard_ham":
		return store.Ham, true
	case "spam":
		return store.Spam, true
	}
	return "", false
}
