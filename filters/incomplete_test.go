package filters

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestIncompleteEvidence: a check that could not get part of its evidence
// reports it with its own symbols and ErrIncomplete. Failing open nothing
// is added; failing closed its <CHECK>_ERROR forces tempfail.
func TestIncompleteEvidence(t *testing.T) {
	unknown := fakeCheck{"dnsbl", func(ctx context.Context, m *Message) ([]Symbol, error) {
		return []Symbol{{Name: "ZEN_UNKNOWN", Detail: "SERVFAIL"}}, fmt.Errorf("dnsbl: %w: 1 of 1 list queries got no answer", ErrIncomplete)
	}}
	for _, tc := range []struct {
		mode ErrorMode
		want Action
		syms []string
	}{
		{FailOpen, Accept, []string{"ZEN_UNKNOWN"}},
		{FailClosed, TempFail, []string{"DNSBL_ERROR", "ZEN_UNKNOWN"}},
	} {
		p := NewPipeline(time.Second, 2*time.Second, quiet())
		p.Add(StageReputation, unknown, tc.mode)
		v := Decide(p.Run(context.Background(), &Message{}), Policy{Tag: 5, Reject: 15})
		if v.Action != tc.want || fmt.Sprint(v.SymbolNames()) != fmt.Sprint(tc.syms) {
			t.Errorf("mode %d: %s %v, want %s %v", tc.mode, v.Action, v.SymbolNames(), tc.want, tc.syms)
		}
	}
}
