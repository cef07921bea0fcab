package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
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
func corpusRuntime(b *testing.B) (config.Config, *runtime) {
	dns := dnstest.NewServer(b, "")
	c, err := config.Parse(strings.NewReader(fmt.Sprintf("dns: {servers: [%q], timeout: 300ms}\nreputation: {path: %s}\n", dns.Addr(), b.TempDir())))
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

// BenchmarkCorpusLearned is the whole product on the classic time split:
// learn easy_ham, hard_ham and spam as user feedback (reputation and
// classifier), then judge easy_ham_2 and spam_2, never learned, with the
// default thresholds. Run:
//
//	go test -run '^$' -bench CorpusLearned -benchtime 1x ./cmd/vigil
func BenchmarkCorpusLearned(b *testing.B) {
	msgs := sharedtest.SpamAssassin(b)
	c, rt := corpusRuntime(b)
	ctx := context.Background()
	start := time.Now()
	learned := 0
	for _, cm := range msgs {
		var class store.Class
		switch cm.Group {
		case "easy_ham", "hard_ham":
			class = store.Ham
		case "spam":
			class = store.Spam
		default:
			continue
		}
		if _, err := rt.engine.LearnRaw(ctx, cm.Raw, class); err != nil {
			b.Fatalf("learn: %v", err)
		}
		learned++
	}
	b.Logf("learned %d messages in %s", learned, time.Since(start).Round(time.Millisecond))
	type tally struct{ n, tag, quarantine, reject, other int }
	res := map[string]*tally{"easy_ham_2": {}, "spam_2": {}}
	for _, cm := range msgs {
		t := res[cm.Group]
		if t == nil {
			continue
		}
		m, err := filters.ParseMessage(bytes.NewReader(cm.Raw), int64(c.Limits.MaxMessageSize))
		if err != nil {
			b.Fatal(err)
		}
		v := rt.engine.Judge(ctx, m)
		t.n++
		switch v.Action {
		case filters.Tag:
			t.tag++
		case filters.Quarantine:
			t.quarantine++
		case filters.Reject:
			t.reject++
		case filters.Accept:
		default:
			t.other++
		}
	}
	for _, g := range []string{"easy_ham_2", "spam_2"} {
		t := res[g]
		b.Logf("%s: %d judged, tag %d, reject %d, tempfail/other %d: flagged (tag or reject) %.2f%%",
			g, t.n, t.tag, t.reject, t.other, 100*float64(t.tag+t.reject+t.quarantine)/float64(t.n))
	}
}
