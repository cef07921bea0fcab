package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWeightsCommand: reports learned with vigil learn train the symbol
// weights in the store; vigil weights lists them (table and JSON), and
// check --json shows a learned symbol's default, learned and used weight.
func TestWeightsCommand(t *testing.T) {
	cfg := testDNS(t, "weights: {min_reports: 0}\n")
	dir := t.TempDir()
	// Spam lacks a Message-ID (MISSING_MESSAGE_ID), ham has one: the only
	// symbol that tells the classes apart.
	msg := func(i int, spam bool) string {
		id := fmt.Sprintf("Message-ID: <%d@sender%d.example>\n", i, i)
		if spam {
			id = ""
		}
		return fmt.Sprintf("From: a@sender%d.example\nTo: b@rcpt.example\nSubject: note %d\nDate: Mon, 3 Jun 2002 10:00:00 +0000\n%s\nbody %d\n", i, i, id, i)
	}
	batch := func(name string, from, to int, spam bool) []string {
		var paths []string
		for i := from; i < to; i++ {
			p := filepath.Join(dir, name, fmt.Sprintf("%d.eml", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(msg(i, spam)), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		return paths
	}
	learn := func(class string, paths []string) {
		t.Helper()
		if code, _, stderr := runVigil(t, "", append([]string{"learn", "--config", cfg, "--" + class}, paths...)...); code != exitOK {
			t.Fatalf("learn --%s: exit %d: %s", class, code, stderr)
		}
	}
	// 25 reports of each class first (the model learns a symbol only once
	// it has 20 of each, decayed, to see whether it contrasts the
	// classes), then more of each.
	learn("spam", batch("s1", 0, 25, true))
	learn("ham", batch("h1", 100, 125, false))
	learn("spam", batch("s2", 25, 35, true))
	learn("ham", batch("h2", 125, 135, false))

	code, out, stderr := runVigil(t, "", "weights", "--config", cfg, "--json")
	if code != exitOK {
		t.Fatalf("weights: exit %d: %s", code, stderr)
	}
	var l struct {
		Reports struct{ Spam, Ham float64 }
		Blend   float64
		Symbols []struct {
			Name                   string
			Default, Learned, Used float64
		}
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if l.Reports.Spam < 34.9 || l.Reports.Ham < 34.9 || l.Blend != 1 {
		t.Errorf("reports %+v blend %v, want 35 and 35, blend 1 (min_reports 0)", l.Reports, l.Blend)
	}
	var found bool
	for _, s := range l.Symbols {
		if s.Name == "MISSING_MESSAGE_ID" {
			found = true
			if s.Learned <= s.Default || s.Used != s.Learned {
				t.Errorf("MISSING_MESSAGE_ID %+v: want learned above the default (only spam lacks it), used = learned", s)
			}
		}
	}
	if !found {
		t.Fatalf("MISSING_MESSAGE_ID not learned: %s", out)
	}

	code, out, stderr = runVigil(t, "", "weights", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "learned from 35 spam and 35 ham reports") || !strings.Contains(out, "MISSING_MESSAGE_ID") {
		t.Errorf("weights table: exit %d:\n%s\n%s", code, out, stderr)
	}

	code, out, stderr = runVigil(t, msg(999, true), "check", "--config", cfg, "--json", "-")
	if code != exitOK {
		t.Fatalf("check: exit %d: %s", code, stderr)
	}
	var v struct {
		Symbols []struct {
			Name   string
			Score  float64
			Weight *struct{ Default, Learned, Used float64 }
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("check: not JSON: %v\n%s", err, out)
	}
	found = false
	for _, s := range v.Symbols {
		if s.Name == "MISSING_MESSAGE_ID" {
			found = true
			if s.Weight == nil || s.Weight.Learned <= s.Weight.Default || math.Abs(s.Score-s.Weight.Used) > 0.006 {
				t.Errorf("check: MISSING_MESSAGE_ID score %v weight %+v: want the learned weight used and shown", s.Score, s.Weight)
			}
		}
	}
	if !found {
		t.Errorf("check: no MISSING_MESSAGE_ID: %s", out)
	}

	// Off: a clear error, not an empty list.
	if code, _, stderr := runVigil(t, "", "weights", "--config", testDNS(t, "weights: {enabled: false}\n")); code != exitFailure || !strings.Contains(stderr, "weights.enabled") {
		t.Errorf("weights with weights.enabled off: exit %d: %s", code, stderr)
	}
}
