package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// testDNS starts a loopback DNS server and returns a config file that points
// Vigil at it (plus extra YAML). Every test that runs the pipeline must use
// one: the built-in default resolver is /etc/resolv.conf, which tests must
// never reach.
func testDNS(t *testing.T, extra string) string {
	t.Helper()
	srv := dnstest.NewServer(t, `
sender.example.      300 IN NS  ns1.sender.example.
ns1.sender.example.  300 IN A   127.0.0.53
`)
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	body := fmt.Sprintf("dns: {servers: [%q], timeout: 500ms}\nreputation: {path: %s}\n%s", srv.Addr(), t.TempDir(), extra)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runVigil(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const cleanMsg = "From: a@sender.example\nDate: Sat, 28 Nov 2026 06:00:00 +0000\nMessage-ID: <1@sender.example>\nSubject: hi\n\nhello\n"

func TestCheckJSON(t *testing.T) {
	code, out, stderr := runVigil(t, cleanMsg, "check", "--config", testDNS(t, ""), "--json", "--ip", "192.0.2.1", "--from", "a@sender.example", "--rcpt", "b@example.test", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"action", "score", "symbols", "auth", "urls", "images"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	if r["action"] != "accept" {
		t.Errorf("action %v", r["action"])
	}
	auth := r["auth"].(map[string]any)
	for _, k := range []string{"spf", "dkim", "dmarc", "arc"} {
		if _, ok := auth[k]; !ok {
			t.Errorf("auth lacks %q", k)
		}
	}
}

func TestCheckVerdictFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := testDNS(t, "scores: {MISSING_MESSAGE_ID: 20}\n")
	msg := filepath.Join(dir, "m.eml")
	os.WriteFile(msg, []byte("From: a@b.example\nDate: Sat, 28 Nov 2026 06:00:00 +0000\nSubject: x\n\nbody\n"), 0o644)
	code, out, stderr := runVigil(t, "", "check", "--config", cfg, msg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "action:  reject") || !strings.Contains(out, "MISSING_MESSAGE_ID") {
		t.Fatalf("table output:\n%s", out)
	}
	cfg = testDNS(t, "scores: {MISSING_MESSAGE_ID: 20}\npolicy: {dry_run: true}\n")
	_, out, _ = runVigil(t, "", "check", "--json", "--config", cfg, msg)
	if !strings.Contains(out, `"action": "tag"`) || !strings.Contains(out, `"dry_run_action": "reject"`) {
		t.Fatalf("dry run JSON:\n%s", out)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("milter: {lisen: x}\n"), 0o644)
	good := testDNS(t, "")
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  int
		msg   string
	}{
		{"no command", nil, "", 2, "usage"},
		{"unknown command", []string{"frobnicate"}, "", 2, "unknown command"},
		{"bad flag", []string{"check", "--nope"}, "", 2, "flag provided but not defined"},
		{"bad ip", []string{"check", "--config", good, "--ip", "999.1.1.1"}, cleanMsg, 2, "not an IP address"},
		{"bad config", []string{"check", "--config", bad}, cleanMsg, 2, "milter.lisen"},
		{"missing config", []string{"check", "--config", filepath.Join(dir, "none.yaml")}, cleanMsg, 2, "no such file"},
		{"missing message", []string{"check", "--config", good, filepath.Join(dir, "none.eml")}, "", 1, "no such file"},
		{"empty message", []string{"check", "--config", good}, "", 1, "empty message"},
		{"two files", []string{"check", "a", "b"}, "", 2, "one message at a time"},
		{"serve bad config", []string{"serve", "--config", bad}, "", 2, "milter.lisen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runVigil(t, tt.stdin, tt.args...)
			if code != tt.want || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d stderr %q, want %d containing %q", code, stderr, tt.want, tt.msg)
			}
		})
	}
}

// TestCheckJSONListsAndSettings: check --json says which lists matched,
// which settings gave the verdict, and each recipient's own verdict.
func TestCheckJSONListsAndSettings(t *testing.T) {
	cfg := testDNS(t, `blocklists: []
scores: {MISSING_MESSAGE_ID: 20}
lists:
  - {name: WATCHED_NETS, match: ip, entries: ["192.0.2.0/24"], score: 1}
  - {name: BLOCKED, match: ip, entries: ["198.51.100.0/24"], action: deny}
settings:
  - {name: trial, rcpt_domains: [trial.example], dry_run: true}
`)
	msg := "From: a@sender.example\nDate: Sat, 28 Nov 2026 06:00:00 +0000\nSubject: hi\n\nhello\n"
	type report struct {
		Action     string   `json:"action"`
		Lists      []string `json:"lists"`
		Settings   string   `json:"settings"`
		Reason     string   `json:"reason"`
		Recipients []struct {
			Rcpt, Settings, Action string
			WouldBe                string `json:"would_be"`
		} `json:"recipients"`
	}
	check := func(ip string, rcpts ...string) report {
		t.Helper()
		args := []string{"check", "--config", cfg, "--json", "--ip", ip, "--from", "a@sender.example"}
		for _, r := range rcpts {
			args = append(args, "--rcpt", r)
		}
		code, out, stderr := runVigil(t, msg, append(args, "-")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var r report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if !strings.Contains(out, `"lists": [`) {
			t.Errorf(`no "lists" list in %s`, out)
		}
		return r
	}
	r := check("192.0.2.1", "a@trial.example", "b@other.example")
	if r.Action != "tag" || r.Settings != "trial" || len(r.Lists) != 1 || r.Lists[0] != "WATCHED_NETS" {
		t.Errorf("mixed recipients: %+v", r)
	}
	if len(r.Recipients) != 2 || r.Recipients[0].Settings != "trial" || r.Recipients[0].WouldBe != "reject" || r.Recipients[1].Action != "reject" {
		t.Errorf("recipients %+v", r.Recipients)
	}
	r = check("198.51.100.9", "b@other.example")
	if r.Action != "reject" || r.Settings != "" || len(r.Lists) != 1 || r.Lists[0] != "BLOCKED" || !strings.HasPrefix(r.Reason, "BLOCKED: ip 198.51.100.9") {
		t.Errorf("denied: %+v", r)
	}
	r = check("203.0.113.1")
	if len(r.Lists) != 0 || r.Lists == nil {
		t.Errorf("no list matched: lists %#v, want []", r.Lists)
	}
}
