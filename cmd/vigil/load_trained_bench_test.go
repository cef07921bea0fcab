package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/sharedtest"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/milter/loadgen"
)

// loadScale is the learned volume of the trained load benchmark, as a
// multiple of the corpus' first half: VIGIL_LOAD_SCALE (1, 10, 100; default 1).
func loadScale(b *testing.B) int {
	s := os.Getenv("VIGIL_LOAD_SCALE")
	if s == "" {
		return 1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		b.Fatalf("VIGIL_LOAD_SCALE=%q: want a whole number from 1 to 1000", s)
	}
	return n
}

// learnCorpusHalf learns the SpamAssassin corpus' first half (easy_ham,
// hard_ham, spam: 3,000 ham and 500 spam) into the store behind rt as user
// reports, and returns how many it learned.
func learnCorpusHalf(b *testing.B, rt *runtime) int {
	n := 0
	for _, cm := range sharedtest.SpamAssassin(b) {
		class, ok := firstHalfClass(cm.Group)
		if !ok {
			continue
		}
		if _, err := rt.engine.LearnRaw(context.Background(), cm.Raw, class); err != nil {
			b.Fatalf("learn: %v", err)
		}
		n++
	}
	return n
}

// addSyntheticReports makes the store look as if reports more messages
// had been learned after the corpus: each synthetic report adds one to the
// message count of its class and to newPer token keys never seen before
// (the long tail a real report brings: the whole corpus brought 103 new
// count keys a message to its end) and to a few reputation keys (an address in 198.18.0.0/15, RFC
// 2544's benchmarking range, and a sender). Counts only: the per-message
// records a real learn also writes are not needed to read counts, and
// their size per report is measured separately (the store README).
func addSyntheticReports(b *testing.B, st store.Store, reports, newPer int) {
	ctx := context.Background()
	// New token keys are numbered after every real one ('~' sorts after
	// base64url): written in key order, each transaction appends to the
	// B+tree instead of rewriting pages all over it, so even 100 times
	// the corpus builds in minutes and bounded memory. The tree holds as
	// many keys, as deep, as random hashes would make it.
	next := 0
	const batch = 2000 // reports per write transaction
	var deltas []store.Delta
	var spam, ham float64
	for r := 0; r < reports; r++ {
		s, h := 0.0, 1.0
		if r%7 == 0 { // one in seven reports is spam, as in the corpus half
			s, h = 1, 0
		}
		spam += s
		ham += h
		for t := 0; t < newPer; t++ {
			deltas = append(deltas, store.Delta{ID: fmt.Sprintf("bayes:~%010x", next), Spam: s, Ham: h})
			next++
		}
		ip := fmt.Sprintf("198.%d.%d.%d", 18+(r>>16)&1, (r>>8)&255, r&255)
		deltas = append(deltas, store.Delta{ID: "ip:" + ip, Spam: s, Ham: h}, store.Delta{ID: fmt.Sprintf("sender:s%d@synthetic.test", r%50000), Spam: s, Ham: h})
		if (r+1)%batch == 0 || r == reports-1 {
			slices.SortFunc(deltas, func(a, b store.Delta) int { return strings.Compare(a.ID, b.ID) })
			if err := st.Add(ctx, deltas); err != nil {
				b.Fatal(err)
			}
			deltas = deltas[:0]
		}
	}
	if err := st.Add(ctx, []store.Delta{{ID: "bayes:#messages", Spam: spam, Ham: ham}}); err != nil {
		b.Fatal(err)
	}
}

// trainedVigil is the in-process daemon over a trained bbolt store.
type trainedVigil struct {
	addr, dir, dnsAddr string
	rt                 *runtime
	maxSize            int64
	stop               func()
}

// serveTrainedVigil learns the corpus' first half (and scale-1 times as
// many synthetic reports) into a bbolt store in a throwaway directory and
// runs Vigil in this process over it with every check on (link following
// off, DNS from a loopback server).
func serveTrainedVigil(b *testing.B, scale int) trainedVigil {
	srv := dnstest.NewServer(b, loadZone)
	dir := memTempDir(b)
	c, err := config.Parse(strings.NewReader(fmt.Sprintf(loadBenchConfig, srv.Addr(), dir)))
	if err != nil {
		b.Fatal(err)
	}
	var trt *runtime
	addr, stop := serveConfig(b, c, func(rt *runtime, st store.Store) {
		trt = rt
		start := time.Now()
		n := learnCorpusHalf(b, rt)
		if scale > 1 {
			addSyntheticReports(b, st, n*(scale-1), 100)
		}
		fi, _ := os.Stat(filepath.Join(dir, store.BoltFile))
		b.Logf("learned %d corpus messages and %d synthetic reports in %s; store %d MiB", n, n*(scale-1), time.Since(start).Round(time.Millisecond), fi.Size()>>20)
	})
	return trainedVigil{addr: addr, dir: dir, dnsAddr: srv.Addr(), rt: trt, maxSize: int64(c.Limits.MaxMessageSize), stop: stop}
}

// rangeOf is "min–max" of xs formatted with f.
func rangeOf(xs []float64, f string) string {
	return fmt.Sprintf(f+"–"+f, slices.Min(xs), slices.Max(xs))
}

// BenchmarkMilterLoadTrained is the trained case beside a null milter
// (with Vigil's no-reply flags) in one run: the corpus' first half learned into bbolt, every check on (link
// following off), DNS answered on loopback and the cache warm, 16
// connections, one milter session per message; three rounds of 4 s each,
// null milter and Vigil in turn (the order swapped every round). It
// reports messages/s, p50 and p99 of both and the ratio per round, then
// the peak RSS of `vigil serve` over the same store at 200 connections.
// VIGIL_LOAD_SCALE=10 or 100 adds 9 or 99 times as many synthetic reports.
// Run:
//
//	go test -run '^$' -bench MilterLoadTrained -benchtime 1x ./cmd/vigil
func BenchmarkMilterLoadTrained(b *testing.B) {
	scale := loadScale(b)
	v := serveTrainedVigil(b, scale)
	null := serveNullNoReply(b)
	o := loadgen.Options{Conns: 16, Message: []byte(defaultLoadMessage), ClientIP: "203.0.113.9", From: "bounce@example.test"}
	run := func(addr string, msgs int, d time.Duration) loadgen.Result {
		o := o
		o.Addr, o.Messages, o.Duration = addr, msgs, d
		r, err := loadgen.Run(context.Background(), o)
		if err != nil || r.Errors > 0 {
			b.Fatalf("load on %s: %v %v", addr, err, r.FirstError)
		}
		return r
	}
	// CPU of this process (load generator and server) per message: moves
	// much less than messages/s with the other work on a shared machine.
	cpuRun := func(addr string) (loadgen.Result, float64) {
		before := processCPU(b, os.Getpid())
		r := run(addr, 0, 4*time.Second)
		return r, float64((processCPU(b, os.Getpid()) - before).Microseconds()) / float64(r.Messages)
	}
	// Warm the DNS cache, the store's pages and both servers.
	run(v.addr, 500, 0)
	run(null, 500, 0)
	stopProfile := startLoadProfile(b)
	var ratios, cpuRatios, nullRate, vigilRate, nullP99, vigilP99 []float64
	for i := 0; i < b.N; i++ {
		for round := 0; round < 3; round++ {
			var rn, rv loadgen.Result
			var cn, cv float64
			if round%2 == 0 {
				rn, cn = cpuRun(null)
				rv, cv = cpuRun(v.addr)
			} else {
				rv, cv = cpuRun(v.addr)
				rn, cn = cpuRun(null)
			}
			ratios = append(ratios, rv.PerSecond/rn.PerSecond)
			cpuRatios = append(cpuRatios, cn/cv)
			nullRate, vigilRate = append(nullRate, rn.PerSecond), append(vigilRate, rv.PerSecond)
			nullP99, vigilP99 = append(nullP99, ms(rn.P99)), append(vigilP99, ms(rv.P99))
			b.Logf("round %d: null %s", round+1, rn)
			b.Logf("round %d: vigil trained ×%d %s", round+1, scale, rv)
			b.Logf("round %d: ratio %.2f; CPU per message (load generator and server) null %.0f µs, vigil %.0f µs, ratio %.2f", round+1, rv.PerSecond/rn.PerSecond, cn, cv, cn/cv)
		}
	}
	stopProfile()
	b.ReportMetric(slices.Min(ratios), "ratio-min")
	b.ReportMetric(slices.Max(vigilP99), "p99-ms-max")
	b.ReportMetric(slices.Min(cpuRatios), "cpu-ratio-min")
	b.Logf("null milter %s msg/s, p99 %s ms; vigil trained ×%d %s msg/s, p99 %s ms; ratio %s; CPU-per-message ratio %s",
		rangeOf(nullRate, "%.0f"), rangeOf(nullP99, "%.1f"), scale, rangeOf(vigilRate, "%.0f"), rangeOf(vigilP99, "%.1f"), rangeOf(ratios, "%.2f"), rangeOf(cpuRatios, "%.2f"))
	judgeUnseen(b, v, scale)
	if os.Getenv("VIGIL_LOAD_RSS") == "0" {
		return
	}
	// RSS: `vigil serve` as its own process over the same trained store.
	v.stop()
	addr, pid := serveStoreProcess(b, v)
	o.Conns = 200
	r := run(addr, 0, 5*time.Second)
	b.Logf("vigil serve, trained ×%d, 200 connections: %s; peak RSS %d MiB", scale, r, peakRSS(b, pid)>>20)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// serveStoreProcess runs `vigil serve` over the trained store of v.
func serveStoreProcess(b *testing.B, v trainedVigil) (string, int) {
	bin := vigilBinary(b)
	addr := fmt.Sprintf("127.0.0.1:%d", serveTestPort(b))
	cfg := filepath.Join(b.TempDir(), "vigil.yaml")
	body := fmt.Sprintf(loadBenchConfig, v.dnsAddr, v.dir) + fmt.Sprintf("milter: {listen: \"inet:%s\"}\nlog: {level: warn}\n", addr)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	return startServeAt(b, bin, cfg, addr, os.Stderr)
}

// peakRSS is VmHWM of process pid in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

// startLoadProfile writes CPU, allocation, block and mutex profiles of the
// load rounds alone (not the learning before them) into the directory
// VIGIL_LOAD_PROFILE, when set; the returned function ends them.
func startLoadProfile(b *testing.B) func() {
	dir := os.Getenv("VIGIL_LOAD_PROFILE")
	if dir == "" {
		return func() {}
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		b.Fatal(err)
	}
	goruntime.SetBlockProfileRate(10000) // one sample per 10 µs blocked
	goruntime.SetMutexProfileFraction(10)
	goruntime.GC()
	if err := pprof.StartCPUProfile(cpu); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		for _, name := range []string{"allocs", "block", "mutex"} {
			f, err := os.Create(filepath.Join(dir, name+".pprof"))
			if err != nil {
				b.Fatal(err)
			}
			pprof.Lookup(name).WriteTo(f, 0)
			f.Close()
		}
		goruntime.SetBlockProfileRate(0)
		goruntime.SetMutexProfileFraction(0)
	}
}

// judgeUnseen judges the corpus' second half (easy_ham_2, spam_2: never
// learned, every message different) in process, twice: the first pass
// meets every name and key for the first time, the second has the DNS
// cache warm and the count cache holding what it kept of 2,796
// messages' keys (more than it holds). It reports ms per message: the
// store's read cost on varied mail, which the load of one repeated
// message does not show.
func judgeUnseen(b *testing.B, v trainedVigil, scale int) {
	var msgs [][]byte
	for _, cm := range sharedtest.SpamAssassin(b) {
		if _, ok := firstHalfClass(cm.Group); !ok {
			msgs = append(msgs, cm.Raw)
		}
	}
	for pass := 1; pass <= 2; pass++ {
		start := time.Now()
		for _, raw := range msgs {
			m, err := filters.ParseMessage(bytes.NewReader(raw), v.maxSize)
			if err != nil {
				b.Fatal(err)
			}
			m.Envelope.ClientIP = mustAddr("203.0.113.9")
			v.rt.engine.Judge(context.Background(), m)
		}
		el := time.Since(start)
		b.Logf("trained ×%d: judged %d unseen corpus messages in process, pass %d: %.2f ms a message", scale, len(msgs), pass, float64(el.Microseconds())/1000/float64(len(msgs)))
	}
}

// serveNullNoReply is a null milter (accept, one added header) that
// negotiates the same protocol-v6 "no reply" flags as Vigil: the strongest
// baseline, costing the same round trips per message.
func serveNullNoReply(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter { return loadNull{} }),
		gomilter.WithAction(gomilter.OptAddHeader),
		gomilter.WithProtocols(gomilter.OptNoConnReply|gomilter.OptNoHeloReply|gomilter.OptNoMailReply|
			gomilter.OptNoRcptReply|gomilter.OptNoDataReply|gomilter.OptNoHeaderReply|
			gomilter.OptNoEOHReply|gomilter.OptNoUnknownReply))
	go s.Serve(ln)
	b.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}
