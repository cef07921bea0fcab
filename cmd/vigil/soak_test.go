package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/sharedtest"
	"github.com/vigilmail/vigil/milter/loadgen"
)

// soakRedis is a private redis-server on a unix socket that the soak test
// kills, restarts and freezes. Its data directory and append-only file
// survive restarts: appendonly yes writes each command to the file before
// Redis replies, so a kill -9 loses nothing that was acknowledged.
type soakRedis struct {
	t        *testing.T
	bin, dir string
	sock     string
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
}

func startSoakRedis(t *testing.T) *soakRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		sharedtest.Unavailable(t, "soak: redis-server is not installed (test.sh installs it as root)")
	}
	dir := t.TempDir()
	r := &soakRedis{t: t, bin: bin, dir: dir, sock: filepath.Join(dir, "redis.sock")}
	r.start()
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *soakRedis) addr() string { return "unix:" + r.sock }

func (r *soakRedis) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "--port", "0", "--unixsocket", r.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", r.sock); err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("soak: redis-server did not answer on %s", r.sock)
}

// kill is kill -9: no shutdown, no final save.
func (r *soakRedis) kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

func (r *soakRedis) signal(s syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmd.Process.Signal(s)
}

// soakReport is the n-th feedback report: unique content, so each has its
// own digest.
func soakReport(n int) []byte {
	return []byte(fmt.Sprintf("From: Offers <deals@shop%d.soak.test>\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n"+
		"Message-ID: <%d@soak.test>\r\nSubject: offer %d\r\n\r\nBuy now at http://shop%d.soak.test/buy?n=%d lucky number %d\r\n",
		n%7, n, n, n%7, n, n*7919))
}

// TestSoakFaults runs vigil serve for about a minute under milter load and
// a stream of feedback reports while its DNS fails (SERVFAIL, timeouts,
// slow answers), its Redis is killed with -9, restarted and frozen, and its
// configuration is reloaded (one of the reloads with an empty file). At the
// end every message sent got a milter answer and every report the admin
// listener acknowledged (200) is in Redis, after one more kill -9.
// Loopback only; about a minute; skipped with -short.
func TestSoakFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	rds := startSoakRedis(t)
	dns := dnstest.NewServer(t, `
$ORIGIN bl.soak.test.
@ 60 SOA ns hostmaster 1 3600 600 86400 60
2.0.0.127 60 A 127.0.0.2
$ORIGIN .
sender.soak.test. 60 TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.sender.soak.test. 60 TXT "v=DMARC1; p=none"
sender.soak.test. 60 NS ns1.dns.soak.test.
linked.soak.test. 60 NS ns1.dns.soak.test.
ns1.dns.soak.test. 60 A 198.51.100.53
`)
	dir := t.TempDir()
	// Port 0 for both listeners (the addresses bound are read from the
	// log); reloads keep the specs.
	const token = "soak-test-admin-token"
	cfgPath := filepath.Join(dir, "vigil.yaml")
	config := func(extra string) string {
		return fmt.Sprintf(`milter: {listen: "inet:%s"}
admin: {listen: %q, token: %s, max_concurrent: 2}
dns: {servers: [%q], timeout: 200ms, attempts: 1, cache: {servfail_ttl: 1s, min_ttl: 1s}}
blocklists: [{name: SOAK_BL, zone: bl.soak.test, check: ip, score: 3}]
dnsbl: {probe_interval: 1m}
limits: {check_timeout: 2s, message_timeout: 5s}
reputation: {backend: redis, redis: {addr: %q, prefix: "soak:", timeout: 300ms}, timeout: 300ms, cache_ttl: 0s}
policy: {fail_closed: [dnsbl]}
auth: {authserv_id: mx.soak.test}
%s`, "127.0.0.1:0", "127.0.0.1:0", token, dns.Addr(), rds.addr(), extra)
	}
	write := func(body string) {
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Error(err)
		}
	}
	write(config(""))
	vigil := startServe(t, cfgPath, "", 20000)
	cmd, logs, exited := vigil.cmd, vigil.logs, vigil.exited
	milterAddr, adminAddr := vigil.addr, vigil.adminAddr(t)

	const loadFor = 50 * time.Second
	ctx, stop := context.WithTimeout(context.Background(), loadFor)
	defer stop()

	// Milter load: every message started must get a final answer.
	var sent, answered atomic.Int64
	var mu sync.Mutex
	actions := map[string]int{}
	var failures []string
	msg := []byte("From: Sender <a@sender.soak.test>\r\nTo: inbox@example.test\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n" +
		"Message-ID: <load@sender.soak.test>\r\nSubject: soak\r\n\r\nsee http://www.linked.soak.test/page\r\n")
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Go(func() {
			for ctx.Err() == nil {
				sent.Add(1)
				out, err := loadgen.Check(context.Background(), loadgen.Options{Addr: milterAddr, Message: msg,
					ClientIP: "198.51.100.23", From: "a@sender.soak.test", Timeout: 20 * time.Second})
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					answered.Add(1)
					actions[loadgen.ActionName(out.Action)]++
				}
				mu.Unlock()
				time.Sleep(3 * time.Millisecond)
			}
		})
	}

	// Feedback: each report is sent until acknowledged; 503 means "again
	// later" and nothing else than 200 or 503 is an acceptable answer.
	var acked sync.Map // report number -> true
	var unavailable, refusedBusy atomic.Int64
	var next atomic.Int64
	for w := 0; w < 2; w++ {
		wg.Go(func() {
			client := &http.Client{Timeout: 20 * time.Second}
			n := int(next.Add(1))
			for ctx.Err() == nil {
				req, _ := http.NewRequest("POST", "http://"+adminAddr+"/learn/spam", bytes.NewReader(soakReport(n)))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					failures = append(failures, "report: "+err.Error())
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
					continue
				}
				resp.Body.Close()
				switch {
				case resp.StatusCode == 200:
					acked.Store(n, true)
					n = int(next.Add(1))
				case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
					if resp.Header.Get("Retry-After") == "5" {
						refusedBusy.Add(1)
					}
					unavailable.Add(1)
					time.Sleep(100 * time.Millisecond) // shortened Retry-After
				default:
					mu.Lock()
					failures = append(failures, fmt.Sprintf("report %d: %s (want 200, or 503 with Retry-After)", n, resp.Status))
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}

	// The faults, in order, while the load runs. A reload changes the score
	// of a symbol the soak messages never get (a scores: name no check
	// reports is a config error, so it must be a real one).
	hup := func(body string) {
		write(body)
		cmd.Process.Signal(syscall.SIGHUP)
	}
	faults := []struct {
		at   time.Duration
		what string
		do   func()
	}{
		{3 * time.Second, "SIGHUP, new score", func() { hup(config("scores: {CONTENT_URL_MIXED_SCRIPT: 1}\n")) }},
		{6 * time.Second, "DNS SERVFAIL", func() { dns.SetZoneFault(".", dnstest.ServFail) }},
		{8 * time.Second, "SIGHUP during the DNS outage (the new engine probes the lists now)", func() { hup(config("scores: {CONTENT_URL_MIXED_SCRIPT: 3}\n")) }},
		{10 * time.Second, "DNS back", func() { dns.SetZoneFault(".", dnstest.NoFault) }},
		{13 * time.Second, "Redis kill -9", rds.kill},
		{16 * time.Second, "Redis restarted", rds.start},
		{19 * time.Second, "SIGHUP, empty file (refused)", func() { hup("") }},
		{21 * time.Second, "DNS slow answers", func() { dns.SetDelay(400 * time.Millisecond) }},
		{24 * time.Second, "DNS fast again", func() { dns.SetDelay(0) }},
		{25 * time.Second, "SIGHUP, good file", func() { hup(config("")) }},
		{27 * time.Second, "Redis frozen (SIGSTOP)", func() { rds.signal(syscall.SIGSTOP) }},
		{30 * time.Second, "Redis thawed", func() { rds.signal(syscall.SIGCONT) }},
		{32 * time.Second, "DNS timeouts", func() { dns.SetZoneFault(".", dnstest.Timeout) }},
		{33 * time.Second, "SIGHUP during DNS timeouts", func() { hup(config("")) }},
		{35 * time.Second, "DNS back", func() { dns.SetZoneFault(".", dnstest.NoFault) }},
		{37 * time.Second, "Redis kill -9", rds.kill},
		{39 * time.Second, "Redis restarted", rds.start},
		{42 * time.Second, "SIGHUP, new score", func() { hup(config("scores: {CONTENT_URL_MIXED_SCRIPT: 2}\n")) }},
		{45 * time.Second, "DNS SERVFAIL", func() { dns.SetZoneFault(".", dnstest.ServFail) }},
		{47 * time.Second, "DNS back", func() { dns.SetZoneFault(".", dnstest.NoFault) }},
	}
	start := time.Now()
	for _, f := range faults {
		time.Sleep(time.Until(start.Add(f.at)))
		t.Logf("%5.1fs %s", time.Since(start).Seconds(), f.what)
		f.do()
	}
	wg.Wait()
	t.Logf("load: %d messages sent, %d answered %v; reports: %d acknowledged, %d answered 503 (%d busy)",
		sent.Load(), answered.Load(), actions, count(&acked), unavailable.Load(), refusedBusy.Load())

	// Every message answered.
	if len(failures) > 0 {
		t.Errorf("%d failures, first ones: %q", len(failures), failures[:min(5, len(failures))])
	}
	if answered.Load() != sent.Load() || sent.Load() < 100 {
		t.Errorf("%d of %d messages answered; want all (and at least 100 sent)", answered.Load(), sent.Load())
	}
	// The outages were seen, and answered as configured: the store's
	// outages with 503 (never 400), DNS failures with tempfail (fail_closed:
	// [dnsbl]) and DNS health with accept.
	if unavailable.Load() == 0 {
		t.Error("no report was refused with 503 while Redis was down or frozen")
	}
	if actions["tempfail_with_code"] == 0 || actions["accept"] == 0 {
		t.Errorf("actions %v: want both accept (DNS up) and tempfail (DNS down, fail_closed: [dnsbl])", actions)
	}
	if !strings.Contains(logs.String(), "reload refused") || strings.Count(logs.String(), "configuration reloaded") < 5 {
		t.Error("the SIGHUPs were not all seen: want one refused reload and five applied")
	}
	for _, bad := range []string{"panicked", "DATA RACE", "list is unhealthy"} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("vigil log contains %q", bad)
		}
	}

	// Nothing acknowledged was lost, even across one more kill -9.
	rds.kill()
	rds.start()
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: rds.sock})
	defer rdb.Close()
	missing := 0
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		m, err := filters.ParseMessage(bytes.NewReader(soakReport(k.(int))), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		digest, _ := feedback.Digest(m)
		for _, key := range []string{"soak:m:" + digest, "soak:m:bayes:" + digest} {
			if got, err := rdb.Exists(context.Background(), key).Result(); err != nil || got != 1 {
				missing++
				if missing <= 5 {
					t.Errorf("acknowledged report %d: %s not in Redis (%v)", k, key, err)
				}
			}
		}
		return true
	})
	if n < 20 {
		t.Errorf("only %d reports acknowledged in a minute", n)
	}
	if missing > 0 {
		t.Errorf("%d records of %d acknowledged reports lost", missing, n)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("vigil exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("vigil did not exit after SIGTERM")
	}
}

func count(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}
