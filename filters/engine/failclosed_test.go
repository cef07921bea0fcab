package engine

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
)

// downStore is a reputation store that cannot be reached.
type downStore struct{ store.Store }

func (downStore) Counts(context.Context, []string) ([]store.Counts, error) {
	return nil, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
}
func (downStore) Close() error { return nil }

// TestFailClosedMeansWhatItSays: with DNS down and the store unreachable,
// each check named in policy.fail_closed tempfails the message, and with
// no check named the message is judged on what is left (fail open).
// Before, fail_closed: [dnsbl] and [reputation] never tempfailed: the two
// checks reported their failure as symbols only.
func TestFailClosedMeansWhatItSays(t *testing.T) {
	s := dnstest.NewServer(t, "sender.test. 300 IN TXT \"v=spf1 -all\"\n2.0.0.127.bl.test. 60 IN A 127.0.0.2\n")
	res := s.Resolver(t, 100*time.Millisecond)
	s.SetZoneFault(".", dnstest.ServFail)
	raw := "From: Alice <alice@sender.test>\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <1@sender.test>\r\nSubject: hi\r\n\r\nsee http://linked.test/x\r\n"
	judge := func(failClosed ...string) filters.Verdict {
		t.Helper()
		bc := bayes.DefaultConfig()
		acfg := auth.DefaultConfig()
		acfg.AuthservID = "mx.example.test"
		e, err := New(Options{
			Policy: filters.Policy{Tag: 5, Reject: 15}, FailClosed: failClosed,
			Pipeline: filters.NewPipeline(2*time.Second, 4*time.Second, nil), AuthservID: "mx.example.test",
			Resolver: res, Auth: acfg, Content: content.DefaultConfig(),
			Blocklists: []dnsbl.List{{Name: "BL", Zone: "bl.test", Check: dnsbl.KindIP, Score: 3}},
			Budgets:    dnsbl.DefaultBudgets(),
			Store:      downStore{}, Reputation: reputation.DefaultConfig(), Bayes: bc,
		})
		if err != nil {
			t.Fatal(err)
		}
		m, err := filters.ParseMessage(strings.NewReader(raw), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		m.Envelope = filters.Envelope{ClientIP: netip.MustParseAddr("192.0.2.99"), Helo: "mx.sender.test", MailFrom: "alice@sender.test"}
		return e.Judge(context.Background(), m)
	}
	open := judge()
	if open.Action != filters.Accept {
		t.Fatalf("fail open with DNS and store down: %s %v, want accept", open.Action, open.SymbolNames())
	}
	for _, want := range []string{"SPF_TEMPERROR", "DMARC_TEMPERROR", "NAMESERVERS_UNKNOWN", "BL_UNKNOWN", "REP_UNAVAILABLE", "BAYES_ERROR"} {
		if !slices.Contains(open.SymbolNames(), want) {
			t.Errorf("fail open: %s missing from %v", want, open.SymbolNames())
		}
	}
	for _, check := range []string{"spf", "dmarc", "nameservers", "dnsbl", "reputation", "bayes"} {
		v := judge(check)
		sym := filters.ErrorSymbol(check)
		if v.Action != filters.TempFail || !slices.Contains(v.SymbolNames(), sym) {
			t.Errorf("fail_closed: [%s]: %s %v, want tempfail with %s", check, v.Action, v.SymbolNames(), sym)
		}
	}
	// Checks that got all their evidence do not tempfail when named.
	for _, check := range []string{"headers", "content", "dkim", "arc"} {
		if v := judge(check); v.Action != filters.Accept {
			t.Errorf("fail_closed: [%s] with nothing missing for it: %s %v, want accept", check, v.Action, v.SymbolNames())
		}
	}
}
