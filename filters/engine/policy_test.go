package engine

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/lists"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
)

// policyEngine judges with the headers and content checks (no DNS), a
// deny list on a network, an allow list on the postmaster, a trial
// domain in dry run and a domain that disables the headers check.
func policyEngine(t *testing.T) *Engine {
	t.Helper()
	def := filters.Policy{Tag: 5, Reject: 15, Scores: map[string]float64{"MISSING_MESSAGE_ID": 20}}
	e, err := New(Options{
		Policy:     def,
		Pipeline:   filters.NewPipeline(time.Second, 2*time.Second, nil),
		AuthservID: "mx.example.test",
		Content:    content.DefaultConfig(),
		Lists: []lists.List{
			{Name: "BLOCKED_NET", Match: lists.MatchIP, Entries: []string{"198.51.100.0/24"}, Action: filters.ListDeny},
			{Name: "POSTMASTER", Match: lists.MatchRcpt, Entries: []string{"postmaster@example.test"}, Action: filters.ListAllow},
		},
		Settings: []filters.RcptPolicy{
			{Name: "trial", Policy: filters.Policy{Tag: 4, Reject: 12, DryRun: true, Scores: def.Scores}, Domains: []string{"trial.example"}},
			{Name: "noheaders", Policy: def, Domains: []string{"quiet.example"}, Disable: []string{"headers"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// noMessageID scores 20 (MISSING_MESSAGE_ID) from client to rcpts.
func noMessageID(t *testing.T, client string, rcpts ...string) *filters.Message {
	t.Helper()
	m, err := filters.ParseMessage(strings.NewReader("From: a@sender.example\nDate: Sat, 28 Nov 2026 06:00:00 +0000\nSubject: x\n\nbody\n"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	m.Envelope.ClientIP = netip.MustParseAddr(client)
	m.Envelope.Rcpts = rcpts
	return m
}

func TestJudgePerRecipient(t *testing.T) {
	e := policyEngine(t)
	tests := []struct {
		name          string
		client        string
		rcpts         []string
		action, would filters.Action
		settings      string
		reason, noSym string
		perRcpt       []string
		lists         []string
	}{
		{name: "a trial recipient: dry run", client: "192.0.2.1", rcpts: []string{"a@trial.example"},
			action: filters.Tag, would: filters.Reject, settings: "trial",
			perRcpt: []string{"a@trial.example tag would_be=reject score=20.00 settings=trial"}},
		{name: "another domain: rejected", client: "192.0.2.1", rcpts: []string{"b@other.example"},
			action: filters.Reject, would: filters.Reject, reason: "spam score 20.00 reaches 15.00"},
		{name: "both in one transaction: the lenient trial, each logged", client: "192.0.2.1", rcpts: []string{"b@other.example", "a@trial.example"},
			action: filters.Tag, would: filters.Reject, settings: "trial",
			perRcpt: []string{"b@other.example reject score=20.00", "a@trial.example tag would_be=reject score=20.00 settings=trial"}},
		{name: "a disabled check does not run", client: "192.0.2.1", rcpts: []string{"c@quiet.example"},
			action: filters.Accept, would: filters.Accept, settings: "noheaders", noSym: "MISSING_MESSAGE_ID"},
		{name: "a deny list rejects with its name", client: "198.51.100.7", rcpts: []string{"b@other.example"},
			action: filters.Reject, would: filters.Reject, reason: "BLOCKED_NET: ip 198.51.100.7 in 198.51.100.0/24", lists: []string{"BLOCKED_NET"}},
		{name: "the postmaster is allowed", client: "192.0.2.1", rcpts: []string{"postmaster@example.test"},
			action: filters.Accept, would: filters.Accept, lists: []string{"POSTMASTER"}},
		{name: "the postmaster with another recipient: tagged, not passed", client: "192.0.2.1", rcpts: []string{"postmaster@example.test", "b@other.example"},
			action: filters.Tag, would: filters.Tag, lists: []string{"POSTMASTER"},
			perRcpt: []string{"postmaster@example.test accept score=20.00", "b@other.example reject score=20.00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := noMessageID(t, tt.client, tt.rcpts...)
			v := e.Judge(context.Background(), m)
			if v.Action != tt.action || v.WouldBe != tt.would || v.Settings != tt.settings {
				t.Fatalf("verdict %s would %s settings %q (reason %q, symbols %v), want %s %s %q",
					v.Action, v.WouldBe, v.Settings, v.Reason, v.SymbolNames(), tt.action, tt.would, tt.settings)
			}
			if tt.reason != "" && v.Reason != tt.reason {
				t.Errorf("reason %q, want %q", v.Reason, tt.reason)
			}
			if tt.noSym != "" && slices.Contains(v.SymbolNames(), tt.noSym) {
				t.Errorf("%s reported for recipients that disable its check", tt.noSym)
			}
			if tt.perRcpt != nil {
				var got []string
				for _, r := range v.Rcpts {
					got = append(got, r.String())
				}
				if !slices.Equal(got, tt.perRcpt) {
					t.Errorf("recipients:\n got %q\nwant %q", got, tt.perRcpt)
				}
			}
			rep := filters.NewReport(m, v)
			if want := tt.lists; !slices.Equal(rep.Lists, want) && !(len(want) == 0 && len(rep.Lists) == 0) {
				t.Errorf("report lists %v, want %v", rep.Lists, want)
			}
			if rep.Settings != tt.settings {
				t.Errorf("report settings %q", rep.Settings)
			}
		})
	}
}

// TestLearnForRecipientDomain: with reputation.scope rcpt_domain a
// report's recipient domain scopes it; with the global scope it is
// learned for all; a bad domain is refused.
func TestLearnForRecipientDomain(t *testing.T) {
	raw := "From: news@sender.example\nSubject: issue 1\nMessage-ID: <1@sender.example>\n\nhello\n"
	for _, tc := range []struct {
		scope reputation.Scope
		want  string
	}{{reputation.ScopeRcptDomain, "for customer.example"}, {reputation.ScopeGlobal, ""}} {
		rc := reputation.DefaultConfig()
		rc.Scope = tc.scope
		e, err := New(Options{Policy: filters.Policy{Tag: 5, Reject: 15}, Pipeline: filters.NewPipeline(time.Second, 2*time.Second, nil),
			Content: content.DefaultConfig(), Store: store.NewMemory(), Reputation: rc})
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Learn(context.Background(), strings.NewReader(raw), false, "Customer.Example.")
		if err != nil {
			t.Fatal(err)
		}
		if tc.want != "" && !strings.HasSuffix(out, tc.want) || tc.want == "" && strings.Contains(out, " for ") {
			t.Errorf("scope %s: %q", tc.scope, out)
		}
		if _, err := e.Learn(context.Background(), strings.NewReader(raw), false, "not a domain"); tc.scope == reputation.ScopeRcptDomain && !errors.Is(err, ErrBadDomain) {
			t.Errorf("a bad domain: %v", err)
		}
	}
}
