package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/history"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/milter"
	"github.com/vigilmail/vigil/milter/loadgen"
)

// serveObserved runs the in-process daemon of serveVigil (every check on,
// bbolt store) with the daemon's metrics and overview rates, and with the
// history recorder when withHistory, as vigil serve wires them.
func serveObserved(b *testing.B, withHistory bool) (addr string, rec *history.Recorder) {
	e, rec, c := observedEngine(b, withHistory)
	e.Start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ms := milter.NewServer(c.MilterConfig(), e, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go ms.Serve(ln)
	// Runs before observedEngine's cleanup: the milter stops first.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ms.Shutdown(ctx)
	})
	return ln.Addr().String(), rec
}

// BenchmarkHistoryCost measures what recording the history costs: two
// in-process daemons, identical but for the history (both with metrics
// and overview rates, bbolt store with a history of 10,000), loaded in
// turns (off then on, on then off, ...) with 16 connections for 3 s each,
// so that whatever else the machine does hits both alike. It reports the median
// messages/s of each and their ratio. Run:
//
//	go test -run '^$' -bench HistoryCost -benchtime 5x ./cmd/vigil
func BenchmarkHistoryCost(b *testing.B) {
	offAddr, _ := serveObserved(b, false)
	onAddr, rec := serveObserved(b, true)
	type round struct{ perSecond, cpuPerMsg float64 }
	load := func(addr string, o loadgen.Options) round {
		o.Addr = addr
		before := cpuTime()
		r, err := loadgen.Run(context.Background(), o)
		if err != nil || r.Errors > 0 {
			b.Fatalf("load on %s: %v %v", addr, err, r.FirstError)
		}
		if addr == onAddr {
			rec.Flush(context.Background()) // its writes count in its CPU
		}
		return round{r.PerSecond, float64((cpuTime() - before).Microseconds()) / float64(r.Messages)}
	}
	o := loadgen.Options{Conns: 16, Message: []byte(defaultLoadMessage), ClientIP: "203.0.113.9", From: "bounce@example.test", Messages: 300}
	load(offAddr, o) // warm the DNS caches and stores
	load(onAddr, o)
	o.Messages, o.Duration = 0, 3*time.Second
	var off, on []round
	for i := 0; i < b.N; i++ {
		// Alternate which goes first (a run pays for some of what the
		// run before it left: garbage, dirty pages).
		if i%2 == 0 {
			off = append(off, load(offAddr, o))
			on = append(on, load(onAddr, o))
		} else {
			on = append(on, load(onAddr, o))
			off = append(off, load(offAddr, o))
		}
	}
	median := func(rs []round, f func(round) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	rate := func(r round) float64 { return r.perSecond }
	cpu := func(r round) float64 { return r.cpuPerMsg }
	b.ReportMetric(median(off, rate), "off-msg/s")
	b.ReportMetric(median(on, rate), "on-msg/s")
	b.ReportMetric(median(on, rate)/median(off, rate), "on/off")
	b.ReportMetric(median(off, cpu), "off-cpu-µs/msg")
	b.ReportMetric(median(on, cpu), "on-cpu-µs/msg")
	b.Logf("history off %.0f msg/s, on %.0f msg/s (ratio %.3f); CPU per message (Vigil and the load generator) off %.0f µs, on %.0f µs (ratio %.3f); written %d, dropped %d, failed %d",
		median(off, rate), median(on, rate), median(on, rate)/median(off, rate), median(off, cpu), median(on, cpu), median(on, cpu)/median(off, cpu),
		rec.Counters.Written.Load(), rec.Counters.Dropped.Load(), rec.Counters.Errors.Load())
}

func rounded(v []float64) []int {
	out := make([]int, len(v))
	for i, f := range v {
		out[i] = int(f + 0.5)
	}
	return out
}

// BenchmarkHistoryCPU measures the CPU time the history costs per
// message, which is what limits throughput on a busy machine: two engines
// as serveObserved builds them, identical but for the history, judge the
// same message on two goroutines in turns (off then on, on then off,
// ...), 2,000 messages a turn; each turn's process CPU time (getrusage: user and
// system) is divided by its messages, the history's background writes
// included (a turn ends when they are done). Timings of other processes
// do not enter CPU time, so the figure holds on a shared machine. Run:
//
//	go test -run '^$' -bench HistoryCPU -benchtime 5x ./cmd/vigil
func BenchmarkHistoryCPU(b *testing.B) {
	off, _, _ := observedEngine(b, false)
	on, rec, _ := observedEngine(b, true)
	raw := []byte(defaultLoadMessage)
	judge := func(e *engine.Engine) {
		m, err := filters.ParseMessage(bytes.NewReader(raw), 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		m.Envelope = filters.Envelope{ClientIP: mustAddr("203.0.113.9"), MailFrom: "bounce@example.test", Rcpts: []string{"inbox@example.test"}, QueueID: "Q1"}
		e.Judge(context.Background(), m)
	}
	const perTurn = 2000
	turn := func(e *engine.Engine) float64 {
		before := cpuTime()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for range perTurn / 2 {
					judge(e)
				}
			})
		}
		wg.Wait()
		if e == on {
			// The turn ends when the writer has stored what it queued
			// (at once: waiting for the flush interval would leave the
			// cores idle, and the garbage collector's idle workers would
			// charge the turn for filling them).
			rec.Flush(context.Background())
		}
		return float64((cpuTime() - before).Microseconds()) / perTurn
	}
	for range 200 { // warm the DNS caches and stores
		judge(off)
		judge(on)
	}
	var offs, ons []float64
	for i := 0; i < b.N; i++ {
		// Alternate which goes first: a turn pays for some of the
		// garbage the turn before it left.
		if i%2 == 0 {
			offs = append(offs, turn(off))
			ons = append(ons, turn(on))
		} else {
			ons = append(ons, turn(on))
			offs = append(offs, turn(off))
		}
	}
	median := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	mOff, mOn := median(offs), median(ons)
	b.ReportMetric(mOff, "off-cpu-µs/msg")
	b.ReportMetric(mOn, "on-cpu-µs/msg")
	b.ReportMetric(mOn/mOff, "on/off")
	b.Logf("CPU per message: history off %.0f µs, on %.0f µs (ratio %.3f; turns off %v on %v); dropped %d",
		mOff, mOn, mOn/mOff, rounded(offs), rounded(ons), rec.Counters.Dropped.Load())
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// observedEngine is the engine of serveObserved, without the milter.
func observedEngine(b *testing.B, withHistory bool) (*engine.Engine, *history.Recorder, *config.Config) {
	srv := dnstest.NewServer(b, loadZone)
	c, err := config.Parse(strings.NewReader(fmt.Sprintf(loadBenchConfig, srv.Addr(), b.TempDir())))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := openStore(c, log, false)
	if err != nil {
		b.Fatal(err)
	}
	dm := newDaemonMetrics()
	obs := observers{metrics: dm.engine, observers: []engine.VerdictObserver{history.NewRates()}}
	var rec *history.Recorder
	if withHistory {
		rec = history.NewRecorder(st.(store.HistoryStore), c.History, log)
		rec.Start()
		obs.observers = append(obs.observers, rec)
	}
	rt, err := buildObserved(c, log, st, obs)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		rt.close()
		if rec != nil {
			rec.Close(context.Background())
		}
		st.Close()
	})
	return rt.engine, rec, &c
}
