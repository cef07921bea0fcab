package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
)

func newEngine(t *testing.T, p filters.Policy, failClosed ...string) *Engine {
	t.Helper()
	e, err := New(Options{Policy: p, FailClosed: failClosed, Pipeline: filters.NewPipeline(time.Second, 2*time.Second, nil), AuthservID: "mx.example.test", Content: content.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestHeaders(t *testing.T) {
	e := newEngine(t, filters.Policy{Tag: 5, Reject: 15, Scores: map[string]float64{"MISSING_MESSAGE_ID": 6}})
	m, _ := filters.ParseMessage(strings.NewReader("From: a@b.example\nDate: Sat, 28 Nov 2026 06:00:00 +0000\nSubject: x\n\nbody\n"), 1<<20)
	v := e.Judge(context.Background(), m)
	if v.Action != filters.Tag {
		t.Fatalf("action %s, want tag (symbols %v)", v.Action, v.SymbolNames())
	}
	hs := e.Headers(m, v)
	got := map[string]string{}
	for _, h := range hs {
		got[h.Name] = h.Value
	}
	if got["X-Spam-Status"] != "Yes, score=6.00 required=5.00 tests=MISSING_MESSAGE_ID" {
		t.Errorf("X-Spam-Status = %q", got["X-Spam-Status"])
	}
	if got["X-Spam-Score"] != "6.00" || got["X-Spam-Flag"] != "YES" {
		t.Errorf("headers %v", got)
	}

	clean := newEngine(t, filters.Policy{Tag: 5, Reject: 15})
	v = clean.Judge(context.Background(), m)
	for _, h := range clean.Headers(m, v) {
		if h.Name == "X-Spam-Flag" {
			t.Error("X-Spam-Flag on an accepted message")
		}
		if h.Name == "X-Spam-Status" && !strings.HasPrefix(h.Value, "No, score=0.50") {
			t.Errorf("X-Spam-Status = %q", h.Value)
		}
	}
}

func TestFoldList(t *testing.T) {
	names := []string{}
	for i := 0; i < 20; i++ {
		names = append(names, "SYMBOL_NUMBER_"+string(rune('A'+i)))
	}
	out := foldList(names)
	for _, line := range strings.Split(out, "\r\n") {
		if len(line) > 78 {
			t.Fatalf("line too long (%d): %q", len(line), line)
		}
	}
	if strings.ReplaceAll(strings.ReplaceAll(out, "\r\n\t", ""), " ", "") != strings.Join(names, ",") {
		t.Fatalf("folding lost names: %q", out)
	}
}

func TestForged(t *testing.T) {
	e := newEngine(t, filters.Policy{Tag: 5, Reject: 15})
	tests := []struct {
		name, value string
		want        bool
	}{
		{"X-Spam-Status", "No", true},
		{"x-spam-flag", "YES", true},
		{"Authentication-Results", " mx.example.test; spf=pass", true},
		{"Authentication-Results", " (comment) MX.EXAMPLE.TEST 1; dkim=pass", true},
		{"Authentication-Results", " other.example; spf=pass", false},
		{"Authentication-Results", " mx.example.test.evil; spf=pass", false},
		{"Subject", "mx.example.test", false},
	}
	for _, tt := range tests {
		if got := e.Forged(tt.name, tt.value); got != tt.want {
			t.Errorf("Forged(%q, %q) = %v, want %v", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestUnknownFailClosedCheck(t *testing.T) {
	_, err := New(Options{Policy: filters.Policy{Tag: 5, Reject: 15}, FailClosed: []string{"nosuch"}, Pipeline: filters.NewPipeline(time.Second, time.Second, nil), Content: content.DefaultConfig()})
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestAutolearn(t *testing.T) {
	st, err := store.Open(store.Config{Backend: "bbolt", Path: t.TempDir(), HalfLife: filters.Duration(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bc := bayes.DefaultConfig()
	bc.Autolearn.Enabled = true
	bc.Autolearn.SpamScore = 10
	e, err := New(Options{Policy: filters.Policy{Tag: 5, Reject: 15, Scores: map[string]float64{"MISSING_MESSAGE_ID": 30}},
		Pipeline: filters.NewPipeline(time.Second, 2*time.Second, nil), AuthservID: "mx.test",
		Content: content.DefaultConfig(), Store: st, Reputation: reputation.DefaultConfig(), Bayes: bc})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	defer e.Close()
	m, _ := filters.ParseMessage(strings.NewReader("From: a@b.example\nDate: Sat, 28 Nov 2026 06:00:00 +0000\nSubject: win money\n\ncheap pills casino\n"), 1<<20)
	if v := e.Judge(context.Background(), m); v.Action != filters.Reject {
		t.Fatalf("verdict %s", v.Action)
	}
	// The spool behind m is gone after the verdict; learning uses a copy.
	m.Body = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := st.Counts(context.Background(), []string{"bayes:#messages"})
		if err == nil && c[0].Spam > 0.99 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("auto-learned spam count %+v %v", c, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
