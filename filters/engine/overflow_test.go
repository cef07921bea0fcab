package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

// TestHeaderOverflowRefusedUnread: filler fields before From: push the
// sender past what Vigil keeps. The message is rejected without running a
// check, under dry run too: delivering it would pass on fields (a forged
// From, Authentication-Results or X-Spam-Status) Vigil never read.
func TestHeaderOverflowRefusedUnread(t *testing.T) {
	raw := strings.Repeat("X-Filler: x\n", 30) + "From: a@spoofed.example\nX-Spam-Status: No, score=-100\n\nbody\n"
	for _, dry := range []bool{false, true} {
		e := newEngine(t, filters.Policy{Tag: 5, Reject: 15, DryRun: dry})
		m, err := filters.ParseMessageWith(strings.NewReader(raw), filters.Limits{MaxHeaders: 20, MaxBody: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		v := e.Judge(context.Background(), m)
		if v.Action != filters.Reject || v.WouldBe != filters.Reject {
			t.Fatalf("dry run %v: action %s (would be %s), want reject; symbols %v", dry, v.Action, v.WouldBe, v.SymbolNames())
		}
		if len(v.Symbols) != 1 || v.Symbols[0].Name != filters.SymbolHeadersTooMany {
			t.Fatalf("dry run %v: symbols %v, want only %s (no check runs on a partial header)", dry, v.SymbolNames(), filters.SymbolHeadersTooMany)
		}
	}
	// Within the limits the same message is judged normally.
	e := newEngine(t, filters.Policy{Tag: 5, Reject: 15})
	m, _ := filters.ParseMessageWith(strings.NewReader(raw), filters.Limits{MaxHeaders: 40, MaxBody: 1 << 20})
	if v := e.Judge(context.Background(), m); v.Action != filters.Accept {
		t.Fatalf("within limits: %s %v", v.Action, v.SymbolNames())
	}
}
