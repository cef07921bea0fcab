package reputation

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// senderMessage is a message authenticated (DKIM) for sender.example,
// number i (its own text, so each is a report of its own), to rcpts.
func senderMessage(i int, rcpts ...string) *filters.Message {
	m := &filters.Message{
		Envelope: filters.Envelope{ClientIP: netip.MustParseAddr("192.0.2.25"), Rcpts: rcpts},
		Headers: []filters.Header{
			{Name: "From", Value: " news@sender.example"},
			{Name: "Subject", Value: fmt.Sprintf(" issue %d", i)},
			{Name: "Message-ID", Value: fmt.Sprintf(" <%d@sender.example>", i)},
		},
		Body: filters.BytesBody(fmt.Sprintf("newsletter number %d\r\n", i)),
	}
	m.Facts.Auth.DKIM = []filters.DKIMResult{{Domain: "sender.example", Result: filters.DKIMPass}}
	return m
}

func senderSymbol(t *testing.T, c *Check, m *filters.Message, rcpt string) string {
	t.Helper()
	syms, err := c.Run(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "REP_SENDER_") && s.AppliesTo(rcpt) {
			return s.Name + " " + s.Detail
		}
	}
	return ""
}

// TestScopeRcptDomain: with reputation.scope rcpt_domain, one customer's
// "not spam" does not whitelist a sender for the others; a domain's own
// reports count before the shared ones; in one message to two domains,
// each recipient is judged on its own domain's.
func TestScopeRcptDomain(t *testing.T) {
	for name, open := range map[string]storeOpener{"bbolt": openTestBolt, "redis": openTestRedis} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			cfg := testConfig()
			cfg.Scope = ScopeRcptDomain
			c := mustCheck(New(cfg, Deps{Store: st, Log: quietLog}))

			// A user at customer-a.example reports the sender's mail as
			// not spam, five times.
			for i := 0; i < 5; i++ {
				res, err := LearnFor(ctx, st, senderMessage(i), store.Ham, "customer-a.example")
				if err != nil || res.Outcome != store.Learned || res.Scope != "customer-a.example" {
					t.Fatalf("learn %d: %+v %v", i, res, err)
				}
			}
			// The same report twice counts once, within the scope.
			if res, _ := LearnFor(ctx, st, senderMessage(0), store.Ham, "customer-a.example"); res.Outcome != store.Duplicate {
				t.Errorf("the same report again: %s", res.Outcome)
			}
			next := senderMessage(100, "bob@customer-a.example")
			if got := senderSymbol(t, c, next, "bob@customer-a.example"); !strings.HasPrefix(got, "REP_SENDER_HAM @customer-a.example|sender:sender.example") {
				t.Errorf("customer A, its own reports: %q, want REP_SENDER_HAM from its own counts", got)
			}
			other := senderMessage(101, "eve@customer-b.example")
			if got := senderSymbol(t, c, other, "eve@customer-b.example"); got != "" {
				t.Errorf("customer B: %q; customer A's \"not spam\" must not whitelist the sender for B", got)
			}

			// The same reports with the global scope whitelist it for all:
			// what the rcpt_domain scope prevents.
			global := testConfig()
			for i := 0; i < 5; i++ {
				if _, err := Learn(ctx, st, senderMessage(200+i), store.Ham); err != nil {
					t.Fatal(err)
				}
			}
			cg := mustCheck(New(global, Deps{Store: st, Log: quietLog}))
			if got := senderSymbol(t, cg, senderMessage(102, "eve@customer-b.example"), "eve@customer-b.example"); !strings.HasPrefix(got, "REP_SENDER_HAM sender:sender.example") {
				t.Errorf("global scope: %q, want the shared ham", got)
			}

			// Now the shared reports say spam (an operator's spam trap, 20
			// reports outweigh the 5 shared ham: a lean of 0.56, past
			// minLean): B is judged on them, A still on its own.
			for i := 0; i < 20; i++ {
				if _, err := Learn(ctx, st, senderMessage(300+i), store.Spam); err != nil {
					t.Fatal(err)
				}
			}
			if got := senderSymbol(t, c, senderMessage(103, "eve@customer-b.example"), "eve@customer-b.example"); !strings.HasPrefix(got, "REP_SENDER_SPAM sender:sender.example") {
				t.Errorf("customer B after shared spam reports: %q, want REP_SENDER_SPAM", got)
			}
			if got := senderSymbol(t, c, senderMessage(104, "bob@customer-a.example"), "bob@customer-a.example"); !strings.HasPrefix(got, "REP_SENDER_HAM @customer-a.example|") {
				t.Errorf("customer A after shared spam reports: %q, want its own REP_SENDER_HAM first", got)
			}

			// One message to both: each recipient on its own domain's.
			both := senderMessage(105, "bob@customer-a.example", "eve@customer-b.example")
			if got := senderSymbol(t, c, both, "bob@customer-a.example"); !strings.HasPrefix(got, "REP_SENDER_HAM") {
				t.Errorf("A in a message to both: %q", got)
			}
			if got := senderSymbol(t, c, both, "eve@customer-b.example"); !strings.HasPrefix(got, "REP_SENDER_SPAM") {
				t.Errorf("B in a message to both: %q", got)
			}
			syms, _ := c.Run(ctx, both)
			for _, s := range syms {
				if s.Rcpt == "" {
					t.Errorf("%s counts for every recipient in a message whose domains differ", s.Name)
				}
			}
		})
	}
}

func TestRcptScopes(t *testing.T) {
	got := rcptScopes([]string{"a@B.example", "c@a.example", "d@b.example", "nodomain"})
	if strings.Join(got, ",") != "a.example,b.example" {
		t.Errorf("scopes %v", got)
	}
	var many []string
	for i := 0; i <= maxScopes; i++ {
		many = append(many, fmt.Sprintf("u@d%d.example", i))
	}
	if got := rcptScopes(many); got != nil {
		t.Errorf("%d domains: scopes %v, want none (the shared reports)", len(many), got)
	}
}
