package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters/sharedtest"
	"github.com/vigilmail/vigil/milter/loadgen"
)

// startRedisServer runs a private redis-server on a unix socket (no
// network), without persistence, stopped at the end of the test. extra
// are more redis-server options (--requirepass ...); the readiness probe
// takes a NOAUTH answer as ready too.
func startRedisServer(t *testing.T, extra ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		sharedtest.Unavailable(t, "redis-server is not installed (test.sh installs it as root); the two-node test needs it")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	args := []string{"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}
	cmd := exec.Command(bin, append(args, extra...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "redis-server", func() bool {
		c, err := net.Dial("unix", sock)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "PING\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")
	})
	return "unix:" + sock
}

type node struct {
	milter, admin, cfg string
	logs               *syncBuffer
}

// startNode runs `vigil serve` with the reputation store in Redis:
// reputation holds more keys of the reputation section, "redis: {...}"
// among them.
func startNode(t *testing.T, name, dnsAddr, reputation string) node {
	t.Helper()
	bin := vigilBinary(t)
	n := node{logs: &syncBuffer{}}
	cfg := filepath.Join(t.TempDir(), name+".yaml")
	n.cfg = cfg
	// Port 0 for both listeners: the node binds free ports itself and
	// logs them (no window for another process to take a chosen port).
	write := func(milter, admin string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
milter: {listen: "inet:%s"}
admin: {listen: %q, token: sekret-sekret-sekret}
dns: {servers: [%q], timeout: 500ms}
blocklists: []
reputation: {backend: redis, cache_ttl: 0s, min_evidence: 3, %s}
auth: {authserv_id: %s.test}
`, milter, admin, dnsAddr, reputation, name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("127.0.0.1:0", "127.0.0.1:0")
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stderr = n.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s log:\n%s", name, n.logs.String())
		}
	})
	var err error
	if n.milter, err = waitLogAddr(n.logs.String, "vigil serving", 20*time.Second, exited); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, n.logs.String())
	}
	if n.admin, err = waitLogAddr(n.logs.String, "admin listener", 20*time.Second, exited); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, n.logs.String())
	}
	// flush-dns finds the daemon through admin.listen of the same file:
	// write the port the node got (the running node does not reread it).
	write("127.0.0.1:0", n.admin)
	waitFor(t, name+" to listen", func() bool {
		c, err := net.Dial("tcp", n.milter)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return n
}

// TestTwoNodesShareReputation: two `vigil serve` nodes on one Redis.
// Feedback given to node A (over its admin listener) changes node B's
// verdict for a new message whose domain was never seen but shares the
// nameserver of the domains learned as spam.
func TestTwoNodesShareReputation(t *testing.T) {
	redisAddr := startRedisServer(t)
	zone := "fresh.test. 300 IN NS ns1.bulletproof.test.\nns1.bulletproof.test. 300 IN A 127.0.0.66\n"
	for i := 1; i <= 4; i++ {
		zone += fmt.Sprintf("spam%d.test. 300 IN NS ns1.bulletproof.test.\n", i)
	}
	dns := dnstest.NewServer(t, zone)
	rep := fmt.Sprintf(`redis: {addr: %q, prefix: "twonodes:"}`, redisAddr)
	a := startNode(t, "node-a", dns.Addr(), rep)
	b := startNode(t, "node-b", dns.Addr(), rep)

	probe := "From: New <x@elsewhere.test>\r\nDate: Sat, 28 Nov 2026 07:00:00 +0000\r\nMessage-ID: <p1@elsewhere.test>\r\nSubject: hi\r\n\r\nvisit http://fresh.test/offer\r\n"
	status := func(n node) string {
		t.Helper()
		out, err := loadgen.Check(context.Background(), loadgen.Options{Addr: n.milter, Message: []byte(probe), ClientIP: "198.51.100.7", From: "x@elsewhere.test"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Modifications {
			if m.Type == gomilter.ActionAddHeader && m.HeaderName == "X-Spam-Status" {
				return m.HeaderValue
			}
		}
		t.Fatalf("no X-Spam-Status in %+v", out)
		return ""
	}
	if s := status(b); strings.Contains(s, "REP_NS_SPAM") {
		t.Fatalf("node B scores the nameserver before any feedback: %s", s)
	}

	for i := 1; i <= 4; i++ {
		msg := fmt.Sprintf("From: Deals <d@spam%d.test>\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <%d@spam%d.test>\r\nSubject: deal %d\r\n\r\nBuy now at http://spam%d.test/buy number %d\r\n", i, i, i, i, i, i*31337)
		req, _ := http.NewRequest("POST", "http://"+a.admin+"/learn/spam", strings.NewReader(msg))
		req.Header.Set("Authorization", "Bearer sekret-sekret-sekret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("learn on node A: %s", resp.Status)
		}
	}

	if s := status(b); !strings.Contains(s, "REP_NS_SPAM") {
		t.Fatalf("node B does not see node A's feedback on the shared nameserver: %s", s)
	}

	// The operator flushes node B's DNS cache through its admin listener.
	code, out, stderr := runVigil(t, "", "flush-dns", "--config", b.cfg)
	if code != 0 || !strings.Contains(out, "DNS cache flushed: ") {
		t.Fatalf("flush-dns: %d %s %s", code, out, stderr)
	}
	waitFor(t, "flush log line", func() bool { return strings.Contains(b.logs.String(), "DNS cache flushed") })
}
