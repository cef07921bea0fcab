package main

import (
	"bytes"
	"fmt"
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

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

var (
	serveBinOnce sync.Once
	serveBin     string
	serveBinErr  error
)

// vigilBinary builds the daemon once per test run.
func vigilBinary(t testing.TB) string {
	t.Helper()
	serveBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-serve-test")
		if err != nil {
			serveBinErr = err
			return
		}
		serveBin = filepath.Join(dir, "vigil")
		out, err := exec.Command("go", "build", "-o", serveBin, ".").CombinedOutput()
		if err != nil {
			serveBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if serveBinErr != nil {
		t.Fatal(serveBinErr)
	}
	return serveBin
}

// serveTestPort is a port free right now, for the load benchmark only: it
// runs Vigil at log level warn, where the "vigil serving" line that tells
// the port of milter.listen ":0" is not written. Tests listen on port 0.
func serveTestPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a goroutine-safe log sink for the daemon's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// milterVerdict sends one message without Message-ID and returns the action.
func milterVerdict(t *testing.T, addr string) *gomilter.Action {
	t.Helper()
	s, err := gomilter.NewClient("tcp", addr).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	s.Conn("client.example", gomilter.FamilyInet, 25, "192.0.2.44")
	s.Helo("client.example")
	s.Mail("a@sender.example", "")
	s.Rcpt("b@example.test", "")
	s.DataStart()
	s.HeaderField("From", "a@sender.example", nil)
	s.HeaderField("Date", "Sat, 28 Nov 2026 06:00:00 +0000", nil)
	s.HeaderField("Subject", "hello", nil)
	s.HeaderEnd()
	s.BodyChunk([]byte("hi\r\n"))
	_, act, err := s.End()
	if err != nil {
		t.Fatalf("end: %v", err)
	}
	return act
}

func TestServeReloadAndDrain(t *testing.T) {
	bin := vigilBinary(t)
	dir := t.TempDir()
	// Port 0: the daemon binds a free port itself and logs it. Reloads
	// keep the same listen spec, so the socket stays.
	const listen = "127.0.0.1:0"
	cfg := filepath.Join(dir, "vigil.yaml")
	dnsSrv := dnstest.NewServer(t, "sender.example. 300 IN NS ns1.sender.example.\n")
	write := func(body string) {
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("milter: {listen: \"inet:%s\"}\nreputation: {path: %s}\ndns: {servers: [%q]}\n%s", listen, dir, dnsSrv.Addr(), body)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	var logs syncBuffer
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("vigil log:\n%s", logs.String())
		}
	})
	addr, err := waitLogAddr(logs.String, "vigil serving", 20*time.Second, done)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	waitFor(t, "vigil to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	if act := milterVerdict(t, addr); act.Type != gomilter.ActionAccept {
		t.Fatalf("defaults: %v %q", act.Type, act.SMTPReply)
	}

	// A good new config takes effect on SIGHUP.
	write("scores: {MISSING_MESSAGE_ID: 20}\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload", func() bool { return strings.Contains(logs.String(), "configuration reloaded") })
	if act := milterVerdict(t, addr); act.SMTPCode != 550 {
		t.Fatalf("after reload: %v %d %q, want 550", act.Type, act.SMTPCode, act.SMTPReply)
	}

	// A bad one is refused and the running one kept.
	write("scores: {MISSING_MESSAGE_ID: 20}\nactions: {reject: -1}\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "refusal", func() bool { return strings.Contains(logs.String(), "reload refused") })
	if !strings.Contains(logs.String(), "actions.reject") {
		t.Errorf("refusal does not name the key:\n%s", logs.String())
	}
	if act := milterVerdict(t, addr); act.SMTPCode != 550 {
		t.Fatalf("after refused reload: %v %d, want the old config's 550", act.Type, act.SMTPCode)
	}

	// SIGTERM with a session open mid-message: the message still gets its
	// verdict, then the daemon exits cleanly.
	s, err := gomilter.NewClient("tcp", addr).Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	s.Conn("client.example", gomilter.FamilyInet, 25, "192.0.2.44")
	s.Helo("client.example")
	s.Mail("a@sender.example", "")
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, "drain start", func() bool { return strings.Contains(logs.String(), "shutting down") })
	s.Rcpt("b@example.test", "")
	s.DataStart()
	s.HeaderField("Subject", "in flight", nil)
	s.HeaderEnd()
	s.BodyChunk([]byte("x\r\n"))
	_, act, err := s.End()
	if err != nil || act.SMTPCode != 550 {
		t.Fatalf("in-flight message during shutdown: %v %v", act, err)
	}
	s.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("vigil exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("vigil did not exit after SIGTERM")
	}
	for _, want := range []string{"msg=verdict", "action=reject", "queue_id=", "client=192.0.2.44", "symbols="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}
