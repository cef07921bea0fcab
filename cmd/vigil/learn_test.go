package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func spamMessage(i int) string {
	return fmt.Sprintf("From: Deals <deals%d@promo%d.example>\nTo: bob@example.test\nDate: Sat, 28 Nov 2026 06:0%d:00 +0000\nMessage-ID: <%d@promo.example>\nSubject: offer %d\n\nCheap watches number %d at http://spam.example/p%d today only.\n", i, i, i, i, i, i*7919, i)
}

// spamFiles writes spamMessage 1..n to files and returns their paths.
func spamFiles(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i := 1; i <= n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("spam%d.eml", i))
		os.WriteFile(p, []byte(spamMessage(i)), 0o644)
		files = append(files, p)
	}
	return files
}

func TestLearnThenCheck(t *testing.T) {
	cfg := testDNS(t, "")
	dir := t.TempDir()
	files := spamFiles(t, 4)
	code, out, stderr := runVigil(t, "", append([]string{"learn", "--spam", "--config", cfg}, files...)...)
	if code != 0 || strings.Count(out, ": learned as spam") != 4 {
		t.Fatalf("learn: exit %d\n%s\n%s", code, out, stderr)
	}
	// The same message again counts once; as ham it moves.
	code, out, _ = runVigil(t, "", "learn", "--spam", "--config", cfg, files[0])
	if code != 0 || !strings.Contains(out, "duplicate") {
		t.Fatalf("relearn: %d %s", code, out)
	}
	code, out, _ = runVigil(t, "", "learn", "--ham", "--config", cfg, files[0])
	if code != 0 || !strings.Contains(out, "moved as ham") {
		t.Fatalf("move: %d %s", code, out)
	}
	code, out, _ = runVigil(t, "", "learn", "--spam", "--config", cfg, files[0])
	if code != 0 || !strings.Contains(out, "moved as spam") {
		t.Fatalf("move back: %d %s", code, out)
	}

	// An mbox of two more spams.
	mbox := filepath.Join(dir, "spam.mbox")
	os.WriteFile(mbox, []byte("From a@b Sat Nov 28 06:00:00 2026\n"+spamMessage(5)+"\nFrom a@b Sat Nov 28 06:00:00 2026\n"+spamMessage(6)), 0o644)
	code, out, stderr = runVigil(t, "", "learn", "--spam", "--config", cfg, mbox)
	if code != 0 || strings.Count(out, "learned as spam") != 2 {
		t.Fatalf("mbox: %d\n%s\n%s", code, out, stderr)
	}

	// A new message linking the learned domain now carries its reputation.
	fresh := "From: Other <x@fresh.example>\nDate: Sat, 28 Nov 2026 07:00:00 +0000\nMessage-ID: <new@fresh.example>\nSubject: hello\n\nsee http://spam.example/new-campaign\n"
	code, out, stderr = runVigil(t, fresh, "check", "--json", "--config", cfg)
	if code != 0 || !strings.Contains(out, "REP_DOMAIN_SPAM") {
		t.Fatalf("check after learning: %d\n%s\n%s", code, out, stderr)
	}
}

func TestLearnUsage(t *testing.T) {
	cfg := testDNS(t, "")
	for _, args := range [][]string{
		{"learn", "--config", cfg, "x.eml"},
		{"learn", "--spam", "--ham", "--config", cfg, "x.eml"},
		{"learn", "--spam", "--config", cfg},
	} {
		if code, _, _ := runVigil(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	code, _, stderr := runVigil(t, "", "learn", "--spam", "--config", cfg, filepath.Join(t.TempDir(), "missing.eml"))
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing input: %d %s", code, stderr)
	}
}

func TestDoctor(t *testing.T) {
	cfg := testDNS(t, "")
	code, out, stderr := runVigil(t, "", "doctor", "--config", cfg)
	// The built-in lists' test points are not in the test zone: they fail.
	if code != exitFailure {
		t.Fatalf("doctor: %d %s", code, stderr)
	}
	for _, want := range []string{"stage auth:", "spf", "dkim", "stage policy:", "dmarc", "nameservers", "stage reputation:", "dnsbl", "reputation", "SERVER", "high port", "SPAMHAUS_ZEN", "FAIL wrong answer"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
}

// TestLearnForRecipientDomain: with reputation.scope rcpt_domain, a
// customer's reports (learn --rcpt-domain) move that customer's verdicts
// and nobody else's.
func TestLearnForRecipientDomain(t *testing.T) {
	cfg := testDNS(t, "")
	// testDNS writes the reputation: mapping (its path); the scope joins it.
	raw, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(raw), "reputation: {", "reputation: {scope: rcpt_domain, ", 1)), 0o644)
	files := spamFiles(t, 4)
	code, out, stderr := runVigil(t, "", append([]string{"learn", "--spam", "--rcpt-domain", "customer-a.example", "--config", cfg}, files...)...)
	if code != 0 || strings.Count(out, "learned as spam") != 4 || !strings.Contains(out, "for customer-a.example") {
		t.Fatalf("learn: exit %d\n%s\n%s", code, out, stderr)
	}
	fresh := "From: Other <x@fresh.example>\nDate: Sat, 28 Nov 2026 07:00:00 +0000\nMessage-ID: <new@fresh.example>\nSubject: hello\n\nsee http://spam.example/new-campaign\n"
	_, out, _ = runVigil(t, fresh, "check", "--json", "--config", cfg, "--rcpt", "bob@customer-a.example")
	if !strings.Contains(out, "REP_DOMAIN_SPAM") {
		t.Errorf("customer A after its own reports: no REP_DOMAIN_SPAM\n%s", out)
	}
	_, out, _ = runVigil(t, fresh, "check", "--json", "--config", cfg, "--rcpt", "eve@customer-b.example")
	if strings.Contains(out, "REP_DOMAIN") {
		t.Errorf("customer B judged on customer A's reports:\n%s", out)
	}
	if code, _, _ := runVigil(t, "", "learn", "--spam", "--rcpt-domain", "not a domain", "--config", cfg, files[0]); code != 2 {
		t.Errorf("a bad --rcpt-domain: exit %d, want 2", code)
	}
}
