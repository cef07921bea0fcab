package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// doctorZone answers the root NS probe and one IP list's RFC 5782 test
// points as a healthy list does.
const doctorZone = `
.                          300 IN NS a.root-servers.net.
2.0.0.127.good.bl.test.    300 IN A  127.0.0.2
`

// refusingZone: a list that answers every query with the refusal code
// Spamhaus gives public resolvers (127.255.255.254).
const refusingZone = `
2.0.0.127.refusing.bl.test. 300 IN A 127.255.255.254
1.0.0.127.refusing.bl.test. 300 IN A 127.255.255.254
`

// doctorConfig writes a config whose DNS is dnsAddr, with the healthy list
// (and more lists); the store is bbolt in a fresh directory unless
// reputation is given.
func doctorConfig(t *testing.T, dnsAddr, reputation, moreLists string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if reputation == "" {
		reputation = fmt.Sprintf("{path: %s}", t.TempDir())
	}
	body := fmt.Sprintf(`dns: {servers: [%q], timeout: 300ms, attempts: 1}
reputation: %s
blocklists:
  - {name: GOOD_BL, zone: good.bl.test, check: ip, score: 1}
%s`, dnsAddr, reputation, moreLists)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// resultOf returns the RESULT column of the report line that mentions all
// of words, or fails the test.
func resultOf(t *testing.T, out string, words ...string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			m := regexp.MustCompile(`^\s+(ok|note|WARN [a-z ]+?|FAIL [a-z ]+?)\s{2,}`).FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line for %v has no result column: %q", words, line)
			}
			return m[1]
		}
	}
	t.Fatalf("no report line mentions %v:\n%s", words, out)
	return ""
}

func TestDoctorHealthy(t *testing.T) {
	srv := dnstest.NewServer(t, doctorZone)
	code, out, stderr := runVigil(t, "", "doctor", "--config", doctorConfig(t, srv.Addr(), "", ""))
	t.Log(out)
	if code != exitOK {
		t.Fatalf("exit %d, want 0 with everything healthy\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if got := resultOf(t, out, "GOOD_BL", "good.bl.test"); got != "ok" {
		t.Errorf("healthy list: %q", got)
	}
	if got := resultOf(t, out, srv.Addr(), "high port"); got != "ok" {
		t.Errorf("DNS server, high port: %q", got)
	}
	// No store file yet: doctor does not create one (as root it would
	// leave a file the daemon's user cannot open).
	if got := resultOf(t, out, "bbolt"); got != "note" {
		t.Errorf("absent bbolt file: %q", got)
	}
	if regexp.MustCompile(`(?m)^\s+(FAIL|WARN) `).MatchString(out) || stderr != "" {
		t.Errorf("a healthy setup printed failures or log lines:\nstdout:\n%s\nstderr:\n%s", out, stderr)
	}
}

func TestDoctorFailures(t *testing.T) {
	srv := dnstest.NewServer(t, doctorZone+refusingZone)
	// Nothing listens on these: a closed UDP port answers ICMP port
	// unreachable (refused); a socket that never reads lets queries time out.
	closed := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	deadRedis := fmt.Sprintf("127.0.0.1:%d", freePort(t))

	type expect struct {
		words []string // a report line with all of these
		want  string   // has this result
	}
	tests := []struct {
		name   string
		cfg    func(t *testing.T) string
		expect []expect
	}{
		{"dead redis", func(t *testing.T) string {
			return doctorConfig(t, srv.Addr(), fmt.Sprintf("{backend: redis, redis: {addr: %q}}", deadRedis), "")
		}, []expect{{[]string{"redis", deadRedis}, "FAIL refused"}}},
		{"redis with the wrong password", func(t *testing.T) string {
			sock := startRedisServer(t, "--requirepass", "right")
			return doctorConfig(t, srv.Addr(), fmt.Sprintf("{backend: redis, redis: {addr: %q, password: wrong}}", sock), "")
		}, []expect{{[]string{"redis", "redis.sock"}, "FAIL auth failed"}}},
		{"DNS server refuses connections", func(t *testing.T) string {
			return doctorConfig(t, closed, "", "")
		}, []expect{{[]string{closed, "high port"}, "FAIL refused"}, {[]string{"GOOD_BL"}, "FAIL refused"}}},
		{"DNS server silent", func(t *testing.T) string {
			return doctorConfig(t, silent.LocalAddr().String(), "", "")
		}, []expect{{[]string{silent.LocalAddr().String(), "high port"}, "FAIL timeout"}, {[]string{"GOOD_BL"}, "FAIL timeout"}}},
		{"refusing list", func(t *testing.T) string {
			return doctorConfig(t, srv.Addr(), "", "  - {name: REFUSING_BL, zone: refusing.bl.test, check: ip, score: 1}\n")
		}, []expect{{[]string{"REFUSING_BL"}, "FAIL list refused"}, {[]string{"GOOD_BL"}, "ok"}}},
		{"list whose test point is not listed", func(t *testing.T) string {
			return doctorConfig(t, srv.Addr(), "", "  - {name: EMPTY_BL, zone: empty.bl.test, check: ip, score: 1}\n")
		}, []expect{{[]string{"EMPTY_BL"}, "FAIL wrong answer"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runVigil(t, "", "doctor", "--config", tt.cfg(t))
			if code != exitFailure {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, out, stderr)
			}
			for _, e := range tt.expect {
				if got := resultOf(t, out, e.words...); got != e.want {
					t.Errorf("%v: result %q, want %q\n%s", e.words, got, e.want, out)
				}
			}
			if !strings.Contains(out, ": exit status 1") {
				t.Errorf("the summary does not say why the exit status is 1:\n%s", out)
			}
			// Each finding once: the report, not also a log line.
			if stderr != "" {
				t.Errorf("doctor logged besides its report:\n%s", stderr)
			}
		})
	}
}

// TestDoctorStoreInUse: a bbolt file locked by the running daemon is the
// normal state of a live system: a note, exit 0.
func TestDoctorStoreInUse(t *testing.T) {
	srv := dnstest.NewServer(t, doctorZone)
	cfg := doctorConfig(t, srv.Addr(), "", "")
	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	held, err := openStore(c, newLogger(c, os.Stderr), false)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	code, out, stderr := runVigil(t, "", "doctor", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d with the store in use\n%s\n%s", code, out, stderr)
	}
	if got := resultOf(t, out, "bbolt"); got != "note" || !strings.Contains(out, "in use") {
		t.Errorf("store in use reported as %q:\n%s", got, out)
	}
	held.Close()
	code, out, _ = runVigil(t, "", "doctor", "--config", cfg)
	if got := resultOf(t, out, "bbolt"); code != exitOK || got != "ok" {
		t.Errorf("released store: exit %d, %q:\n%s", code, got, out)
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}
