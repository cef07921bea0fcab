package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/milter"
	"github.com/vigilmail/vigil/milter/loadgen"
)

// loadZone serves everything the load message makes Vigil look up: SPF and
// DMARC of the sender, NS of the linked domain, and four blocklists with
// their RFC 5782 test points (so they are healthy and queried).
const loadZone = `
example.test.            300 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
_dmarc.example.test.     300 IN TXT "v=DMARC1; p=none"
example.test.            300 IN NS  ns1.dnshost.test.
ns1.dnshost.test.        300 IN A   127.0.0.53
2.0.0.127.bl.test.       300 IN A   127.0.0.2
test.dbl.test.           300 IN A   127.0.0.2
2.0.0.127.sbl.test.      300 IN A   127.0.0.2
`

const loadBenchConfig = `
dns: {servers: [%q], timeout: 1s}
reputation: {path: %s}
auth: {authserv_id: mx.test}
blocklists:
  - {name: TEST_IP, zone: bl.test, check: ip, score: 2}
  - {name: TEST_DBL, zone: dbl.test, check: domain, score: 3}
  - {name: TEST_NS_IP, zone: sbl.test, check: ns_ip, score: 2}
  - {name: TEST_NS_NAME, zone: dbl.test, check: ns_name, score: 2}
`

type loadNull struct{ gomilter.NoOpMilter }

func (loadNull) EndOfMessage(m gomilter.Modifier) (*gomilter.Response, error) {
	if err := m.AddHeader("X-Null", "yes"); err != nil {
		return nil, err
	}
	return gomilter.RespAccept, nil
}

func serveNull(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter { return loadNull{} }), gomilter.WithAction(gomilter.OptAddHeader))
	go s.Serve(ln)
	b.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// serveVigil runs Vigil in this process with the load configuration and
// extra YAML lines added to it.
func serveVigil(b testing.TB, extra ...string) string {
	srv := dnstest.NewServer(b, loadZone)
	c, err := config.Parse(strings.NewReader(fmt.Sprintf(loadBenchConfig, srv.Addr(), b.TempDir()) + strings.Join(extra, "\n")))
	if err != nil {
		b.Fatal(err)
	}
	addr, _ := serveConfig(b, c, nil)
	return addr
}

// serveConfig runs Vigil in this process with configuration c, after
// prepare (when not nil) has had the runtime and its store, and returns
// the milter address and a function that stops it (also run at cleanup).
func serveConfig(b testing.TB, c config.Config, prepare func(*runtime, store.Store)) (string, func()) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := openStore(c, log, false)
	if err != nil {
		b.Fatal(err)
	}
	rt, err := build(c, log, st)
	if err != nil {
		b.Fatal(err)
	}
	if prepare != nil {
		prepare(rt, st)
	}
	rt.engine.Start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ms := milter.NewServer(c.MilterConfig(), rt.engine, log)
	go ms.Serve(ln)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ms.Shutdown(ctx)
			rt.close()
			st.Close()
		})
	}
	b.Cleanup(stop)
	return ln.Addr().String(), stop
}

// serveVigilProcess runs `vigil serve` as its own process, as in
// production, with DNS from a loopback server in this process.
func serveVigilProcess(b *testing.B) string { return startVigilProcess(b, false) }

// serveVigilTrained is serveVigilProcess with a trained classifier: 60
// spam and 60 ham learned first, so bayes tokenizes and reads every message.
func serveVigilTrained(b *testing.B) string { return startVigilProcess(b, true) }

func startVigilProcess(b *testing.B, trained bool) string {
	addr, _ := startVigilBinary(b, vigilBinary(b), trained, os.Stderr)
	return addr
}

// startVigilBinary runs bin as `vigil serve` with the load configuration
// and extra YAML lines, its log to logs, and returns its milter address and
// process id.
func startVigilBinary(b *testing.B, bin string, trained bool, logs io.Writer, extra ...string) (string, int) {
	srv := dnstest.NewServer(b, loadZone)
	dir := b.TempDir()
	if trained {
		cfg := filepath.Join(dir, "learn.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(loadBenchConfig, srv.Addr(), dir)), 0o644)
		words := strings.Fields("cheap pills casino winner lottery offer meeting agenda project review draft budget invoice team lunch report quarterly")
		for _, class := range []string{"spam", "ham"} {
			var files []string
			for i := 0; i < 60; i++ {
				var body strings.Builder
				for j := 0; j < 40; j++ {
					body.WriteString(words[(i*7+j*3+len(class))%len(words)] + " ")
				}
				p := filepath.Join(dir, fmt.Sprintf("%s%d.eml", class, i))
				os.WriteFile(p, []byte(fmt.Sprintf("From: x%d@%s.test\nSubject: %s %d\nMessage-ID: <%d@%s>\n\n%s\n", i, class, class, i, i, class, body.String())), 0o644)
				files = append(files, p)
			}
			out, err := exec.Command(bin, append([]string{"learn", "--" + class, "--config", cfg}, files...)...).CombinedOutput()
			if err != nil {
				b.Fatalf("learn: %v\n%s", err, out)
			}
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", serveTestPort(b))
	cfg := filepath.Join(dir, "vigil.yaml")
	body := fmt.Sprintf(loadBenchConfig, srv.Addr(), dir) + fmt.Sprintf("milter: {listen: \"inet:%s\"}\nlog: {level: warn}\n", addr) + strings.Join(extra, "\n")
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	return startServeAt(b, bin, cfg, addr, logs)
}

// startServeAt runs bin as `vigil serve --config cfg`, its log to logs,
// waits until addr accepts connections and returns addr and the process id.
func startServeAt(b *testing.B, bin, cfg, addr string, logs io.Writer) (string, int) {
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			b.Fatal("vigil did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkMilterLoad measures messages/s at 16 connections, one milter
// session per message, for a null milter (accept + one header) and for
// Vigil with every check on and a warm DNS cache. Run:
//
//	go test -run '^$' -bench MilterLoad -benchtime 1x ./cmd/vigil
func BenchmarkMilterLoad(b *testing.B) {
	for _, tc := range []struct {
		name  string
		serve func(*testing.B) string
	}{{"null", serveNull}, {"vigil", func(b *testing.B) string { return serveVigil(b) }}, {"vigil-process", serveVigilProcess}, {"vigil-process-trained", serveVigilTrained}} {
		b.Run(tc.name, func(b *testing.B) {
			addr := tc.serve(b)
			o := loadgen.Options{Addr: addr, Conns: 16, Message: []byte(defaultLoadMessage), ClientIP: "203.0.113.9", From: "bounce@example.test"}
			// Warm the DNS cache and the store.
			o.Messages = 300
			if r, err := loadgen.Run(context.Background(), o); err != nil || r.Errors > 0 {
				b.Fatalf("warm-up: %v %v", err, r.FirstError)
			}
			o.Messages, o.Duration = 0, 5*time.Second
			for i := 0; i < b.N; i++ {
				r, err := loadgen.Run(context.Background(), o)
				if err != nil || r.Errors > 0 {
					b.Fatalf("run: %v %v", err, r.FirstError)
				}
				b.ReportMetric(r.PerSecond, "msg/s")
				b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
				b.Logf("%s: %s", tc.name, r)
			}
		})
	}
}

// TestMilterAllChecks runs one message through the in-process daemon with
// every check on and looks at what the MTA is told.
func TestMilterAllChecks(t *testing.T) {
	addr := serveVigil(t)
	o := loadgen.Options{Addr: addr, Message: []byte(defaultLoadMessage), ClientIP: "203.0.113.9", From: "bounce@example.test"}
	out, err := loadgen.Check(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var ar, status string
	for _, m := range out.Modifications {
		switch m.HeaderName {
		case "Authentication-Results":
			if m.Type != gomilter.ActionInsertHeader || m.HeaderIndex != 0 {
				t.Errorf("Authentication-Results not inserted at the top: %+v", m)
			}
			ar = m.HeaderValue
		case "X-Spam-Status":
			status = m.HeaderValue
		}
	}
	for _, want := range []string{"mx.test;", "spf=pass smtp.mailfrom=example.test", "dmarc=pass", "dkim=none", "arc=none"} {
		if !strings.Contains(ar, want) {
			t.Errorf("Authentication-Results %q lacks %q", ar, want)
		}
	}
	for _, want := range []string{"No, score=", "SPF_PASS", "DMARC_PASS"} {
		if !strings.Contains(status, want) {
			t.Errorf("X-Spam-Status %q lacks %q", status, want)
		}
	}
}
