package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// evalFixture writes labelled mail whose verdicts are known: with
// MISSING_MESSAGE_ID scored 10 (scores:), a message without a Message-ID
// is tagged and one with it is not. Spam: three without (caught), one
// with (missed), as .eml files, an mbox and a Maildir. Ham: three with,
// one without (a false positive). The weights, the classifier (it needs
// 50 of each) and reputation (3 reports of a key) stay silent on so few.
func evalFixture(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	msg := func(i int, withID bool) string {
		id := ""
		if withID {
			id = fmt.Sprintf("Message-ID: <m%d@sender%d.example>\n", i, i)
		}
		return fmt.Sprintf("From: a@sender%d.example\nTo: b@rcpt.example\nSubject: note %d\nDate: Mon, %d Jun 2002 10:00:00 +0000\n%s\nbody %d\n", i, i, i, id, i)
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Spam: a directory with an .eml file, an mbox of two, and a Maildir.
	write(filepath.Join(dir, "spam", "one.eml"), msg(1, false))
	write(filepath.Join(dir, "spam", "box.mbox"), "From x@y Mon Jun  3 10:00:00 2002\n"+msg(2, false)+"\nFrom x@y Mon Jun  4 10:00:00 2002\n"+msg(3, true))
	write(filepath.Join(dir, "spam", "maildir", "cur", "1.host:2,S"), msg(4, false))
	if err := os.MkdirAll(filepath.Join(dir, "spam", "maildir", "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 5; i <= 7; i++ {
		write(filepath.Join(dir, "ham", fmt.Sprintf("%d.eml", i)), msg(i, true))
	}
	write(filepath.Join(dir, "ham", "8.eml"), msg(8, false))
	write(filepath.Join(dir, "learn", "l.eml"), msg(9, true))
	srv := dnstest.NewServer(t, "")
	cfg = filepath.Join(dir, "vigil.yaml")
	write(cfg, fmt.Sprintf("dns: {servers: [%q], timeout: 500ms}\nscores: {MISSING_MESSAGE_ID: 10}\nreputation: {path: %s}\n",
		srv.Addr(), filepath.Join(dir, "never")))
	return dir, cfg
}

type evalJSON struct {
	Mode     string
	Feedback string
	Learned  struct{ Spam, Ham int }
	Reports  struct{ Spam, Ham int }
	Spam     struct{ Judged, Caught, Tag int }
	Ham      struct{ Judged, Caught, Tag int }
	Recall   float64
	FPRate   float64 `json:"fp_rate"`
	AtFP     []struct {
		MaxFPRate float64  `json:"max_fp_rate"`
		Threshold *float64 `json:"threshold"`
		Recall    float64
	} `json:"at_fp"`
	Symbols []struct {
		Name     string
		SpamHits int `json:"spam_hits"`
		HamHits  int `json:"ham_hits"`
	}
	Errors []struct {
		Path, Label, Action string
		Score               float64
		Symbols             []string
	}
	Unreadable []any
	Curve      []any
}

// TestEvalCommand: vigil eval on the fixture, both modes, every feedback
// rule: the confusion matrix is the one worked out by hand, the JSON has
// the contract's fields, the same input gives the same output, and the
// configured store is never created.
func TestEvalCommand(t *testing.T) {
	dir, cfg := evalFixture(t)
	args := func(extra ...string) []string {
		return append([]string{"eval", "--config", cfg, "--json", "--learn-ham", filepath.Join(dir, "learn"),
			"--spam", filepath.Join(dir, "spam"), "--ham", filepath.Join(dir, "ham")}, extra...)
	}
	cases := []struct {
		name                   string
		extra                  []string
		reportsSpam            int
		reportsHam             int
		wantMode, wantFeedback string
	}{
		{"static", nil, 0, 0, "static", ""},
		{"online errors", []string{"--mode", "online"}, 1, 1, "online", "errors"},
		{"online all", []string{"--mode", "online", "--feedback", "all"}, 4, 4, "online", "all"},
		{"online share", []string{"--mode", "online", "--feedback", "0.5"}, -1, -1, "online", "0.5"},
		{"online errors share", []string{"--mode", "online", "--feedback", "errors:1"}, 1, 1, "online", "errors"},
	}
	var first string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := runVigil(t, "", args(c.extra...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var r evalJSON
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if r.Mode != c.wantMode || r.Feedback != c.wantFeedback || r.Learned.Ham != 1 {
				t.Errorf("mode %q feedback %q learned %+v", r.Mode, r.Feedback, r.Learned)
			}
			if r.Spam.Judged != 4 || r.Spam.Caught != 3 || r.Ham.Judged != 4 || r.Ham.Caught != 1 || r.Recall != 0.75 || r.FPRate != 0.25 {
				t.Errorf("spam %+v ham %+v recall %v fp_rate %v; want 3 of 4 spam and 1 of 4 ham caught", r.Spam, r.Ham, r.Recall, r.FPRate)
			}
			if c.reportsSpam >= 0 && (r.Reports.Spam != c.reportsSpam || r.Reports.Ham != c.reportsHam) {
				t.Errorf("reports %+v, want %d spam and %d ham", r.Reports, c.reportsSpam, c.reportsHam)
			}
			if len(r.AtFP) != 3 || r.AtFP[0].MaxFPRate != 0 || r.AtFP[1].MaxFPRate != 0.001 || r.AtFP[2].MaxFPRate != 0.01 || r.AtFP[0].Threshold == nil {
				t.Errorf("at_fp %+v", r.AtFP)
			}
			if len(r.Errors) != 2 || r.Errors[0].Label == r.Errors[1].Label {
				t.Errorf("errors %+v: want the missed spam and the false positive", r.Errors)
			}
			hits := map[string][2]int{}
			for _, s := range r.Symbols {
				hits[s.Name] = [2]int{s.SpamHits, s.HamHits}
			}
			if hits["MISSING_MESSAGE_ID"] != [2]int{3, 1} {
				t.Errorf("MISSING_MESSAGE_ID hits %v, want 3 spam 1 ham; symbols %+v", hits["MISSING_MESSAGE_ID"], r.Symbols)
			}
			if (c.wantMode == "online") != (len(r.Curve) > 0) {
				t.Errorf("curve %v in mode %s", r.Curve, c.wantMode)
			}
			if c.name == "static" {
				first = out
			}
			if strings.Contains(stderr, "\r[") {
				t.Errorf("a progress bar on a stream that is not a terminal: %q", stderr)
			}
		})
	}
	// Deterministic.
	if _, again, _ := runVigil(t, "", args()...); again != first {
		t.Error("a second static run printed something else")
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); !os.IsNotExist(err) {
		t.Errorf("eval touched the configured store: %v", err)
	}
	// The table.
	code, out, stderr := runVigil(t, "", "eval", "--config", cfg, "--spam", filepath.Join(dir, "spam"), "--ham", filepath.Join(dir, "ham"))
	if code != exitOK || !strings.Contains(out, "recall 75.00%, false positives 25.00%") || !strings.Contains(out, "MISSING_MESSAGE_ID") {
		t.Errorf("exit %d, table:\n%s\n%s", code, out, stderr)
	}
}

func TestEvalUsage(t *testing.T) {
	dir, cfg := evalFixture(t)
	for _, args := range [][]string{
		{"eval", "--config", cfg, "--spam", dir},
		{"eval", "--config", cfg, "--ham", dir},
		{"eval", "--config", cfg, "--spam", dir, "--ham", dir, "--mode", "batch"},
		{"eval", "--config", cfg, "--spam", dir, "--ham", dir, "--feedback", "2"},
		{"eval", "--config", cfg, "--spam", dir, "--ham", dir, "stray"},
	} {
		if code, _, stderr := runVigil(t, "", args...); code != exitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	if code, _, stderr := runVigil(t, "", "eval", "--config", cfg, "--spam", filepath.Join(dir, "nothing"), "--ham", dir); code != exitFailure || !strings.Contains(stderr, "nothing") {
		t.Errorf("missing input: exit %d, %s", code, stderr)
	}
}
