package bayes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
)

// textMessage is a message whose content facts are its text, as the
// content check would write them.
func textMessage(t *testing.T, id, subject, text string) *filters.Message {
	t.Helper()
	raw := fmt.Sprintf("From: a@sender.example\r\nMessage-ID: <%s@sender.example>\r\nSubject: %s\r\nDate: Sat, 1 Jun 2024 10:00:00 +0000\r\n\r\n%s\r\n", id, subject, text)
	m := testMessage(t, raw)
	m.Facts.Content.Text = text
	return m
}

func counts(t *testing.T, s store.Store, tok string) store.Counts {
	t.Helper()
	c, err := s.Counts(context.Background(), []string{messagesID, TokenID(tok)})
	if err != nil {
		t.Fatal(err)
	}
	return c[1]
}

func messageCounts(t *testing.T, s store.Store) store.Counts {
	t.Helper()
	c, err := s.Counts(context.Background(), []string{messagesID})
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

func TestLearnIdempotentAndMoving(t *testing.T) {
	stores := map[string]func(t *testing.T) store.Store{
		"memory": func(*testing.T) store.Store { return newMemStore() },
		"bbolt": func(t *testing.T) store.Store {
			s, err := store.OpenBolt(t.TempDir(), 0, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			cfg := DefaultConfig()
			m := textMessage(t, "1", "cheap pills", "buy cheap pills today")
			steps := []struct {
				spam      bool
				want      store.Outcome
				wantPills store.Counts
				wantMsgs  store.Counts
			}{
				{true, store.Learned, store.Counts{Spam: 1}, store.Counts{Spam: 1}},
				{true, store.Duplicate, store.Counts{Spam: 1}, store.Counts{Spam: 1}},
				{false, store.Moved, store.Counts{Ham: 1}, store.Counts{Ham: 1}},
				{false, store.Duplicate, store.Counts{Ham: 1}, store.Counts{Ham: 1}},
				{true, store.Moved, store.Counts{Spam: 1}, store.Counts{Spam: 1}},
			}
			for i, st := range steps {
				res, err := Learn(ctx, s, m, st.spam, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != st.want || res.Tokens == 0 {
					t.Fatalf("step %d: outcome %s with %d tokens, want %s", i, res.Outcome, res.Tokens, st.want)
				}
				if got := counts(t, s, "pills"); got != st.wantPills {
					t.Errorf("step %d: counts of \"pills\" %+v, want %+v", i, got, st.wantPills)
				}
				if got := messageCounts(t, s); got != st.wantMsgs {
					t.Errorf("step %d: message counts %+v, want %+v", i, got, st.wantMsgs)
				}
			}
			// The same words in another message add up.
			if _, err := Learn(ctx, s, textMessage(t, "2", "more", "cheap pills again"), true, cfg); err != nil {
				t.Fatal(err)
			}
			if got := counts(t, s, "pills"); got != (store.Counts{Spam: 2}) {
				t.Errorf("after a second message: %+v", got)
			}
			// Reputation learning of the same message in the same store is
			// a separate record: neither sees the other as a duplicate.
			res, err := reputation.Learn(ctx, s, m, store.Spam)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != store.Learned {
				t.Errorf("reputation learning after bayes learning: %s, want learned", res.Outcome)
			}
		})
	}
}

// countingStore counts the Counts calls of the message path.
type countingStore struct {
	store.Store
	calls int
	ids   [][]string
}

func (c *countingStore) Counts(ctx context.Context, ids []string) ([]store.Counts, error) {
	c.calls++
	c.ids = append(c.ids, ids)
	return c.Store.Counts(ctx, ids)
}

// train learns n spam and n ham messages with distinct vocabularies.
func train(t *testing.T, s store.Store, nspam, nham int) {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	for i := 0; i < nspam; i++ {
		m := textMessage(t, fmt.Sprintf("s%d", i), "cheap pills offer", fmt.Sprintf("buy cheap pills viagra casino winner lottery number%c", 'a'+i%26))
		if _, err := Learn(ctx, s, m, true, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < nham; i++ {
		m := textMessage(t, fmt.Sprintf("h%d", i), "meeting notes", fmt.Sprintf("the meeting agenda for the project review draft%c", 'a'+i%26))
		if _, err := Learn(ctx, s, m, false, cfg); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckGatingAndBatching(t *testing.T) {
	ctx := context.Background()
	mem := newMemStore()
	st := &countingStore{Store: mem}
	cfg := DefaultConfig()
	cfg.MinSpam, cfg.MinHam = 5, 5
	check, err := New(cfg, Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	check.gateTTL = 0 // see TestUntrainedGate
	spam := textMessage(t, "new-spam", "cheap pills offer", "buy cheap pills casino winner")
	ham := textMessage(t, "new-ham", "meeting notes", "the meeting agenda for the project review")
	unsure := textMessage(t, "new-unsure", "hello", "completely unrelated words here")

	run := func(m *filters.Message) []filters.Symbol {
		t.Helper()
		before := st.calls
		syms, err := check.Run(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if st.calls != before+1 {
			t.Fatalf("%d Counts calls for one message, want 1", st.calls-before)
		}
		ids := st.ids[len(st.ids)-1]
		if ids[0] != messagesID || len(ids) != len(Tokenize(m, cfg.MaxTokens))+1 {
			t.Fatalf("read %d ids starting %q; want the message counts and every token", len(ids), ids[0])
		}
		return syms
	}

	train(t, mem, 4, 10)
	if syms := run(spam); len(syms) != 0 {
		t.Errorf("4 spam learned (min 5): %+v, want silence", syms)
	}
	train(t, mem, 10, 10)
	syms := run(spam)
	if len(syms) != 1 || syms[0].Name != SymSpam || syms[0].Score <= 0 || syms[0].Score > cfg.MaxScore ||
		!strings.Contains(syms[0].Detail, "prob=") {
		t.Errorf("spam: %+v", syms)
	}
	syms = run(ham)
	if len(syms) != 1 || syms[0].Name != SymHam || syms[0].Score >= 0 || syms[0].Score < cfg.MinScore {
		t.Errorf("ham: %+v", syms)
	}
	// Only neutral shape tokens in common with both classes: unsure.
	if syms := run(unsure); len(syms) != 0 {
		sc, _ := check.Score(ctx, unsure)
		t.Errorf("unsure: %+v (prob %v)", syms, sc.Prob)
	}

	cfg.Enabled = false
	off, _ := New(cfg, Deps{Store: st})
	before := st.calls
	if syms, err := off.Run(ctx, spam); err != nil || len(syms) != 0 || st.calls != before {
		t.Errorf("disabled check: %+v %v, %d reads", syms, err, st.calls-before)
	}
}

// failingStore is a store that cannot be reached.
type failingStore struct{ store.Store }

func (failingStore) Counts(context.Context, []string) ([]store.Counts, error) {
	return nil, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
}

func TestCheckStoreDown(t *testing.T) {
	check, err := New(DefaultConfig(), Deps{Store: failingStore{}})
	if err != nil {
		t.Fatal(err)
	}
	syms, err := check.Run(context.Background(), textMessage(t, "x", "hi", "hello there"))
	if !errors.Is(err, store.ErrUnavailable) || len(syms) != 0 {
		t.Errorf("Run on a failing store: %+v, %v; want an error wrapping ErrUnavailable", syms, err)
	}
}

func TestAutoLearn(t *testing.T) {
	on := AutolearnConfig{Enabled: true, SpamScore: 12, HamScore: -2}
	passed := filters.AuthResults{DMARC: filters.DMARCResult{Result: "pass"}}
	verdict := func(syms ...filters.Symbol) filters.Verdict {
		return filters.Decide(syms, filters.Policy{Tag: 5, Reject: 15})
	}
	tests := []struct {
		name     string
		cfg      AutolearnConfig
		auth     filters.AuthResults
		v        filters.Verdict
		wantOK   bool
		wantSpam bool
	}{
		{"disabled", AutolearnConfig{SpamScore: 12, HamScore: -2}, passed, verdict(filters.Symbol{Name: "X", Score: 20}), false, false},
		{"far spam", on, filters.AuthResults{}, verdict(filters.Symbol{Name: "X", Score: 20}), true, true},
		{"far spam, DMARC fail", on, filters.AuthResults{DMARC: filters.DMARCResult{Result: "fail"}}, verdict(filters.Symbol{Name: "X", Score: 20}), false, false},
		{"far spam, SPF fail", on, filters.AuthResults{SPF: filters.SPFResult{Result: "fail"}}, verdict(filters.Symbol{Name: "X", Score: 20}), false, false},
		{"far spam, only failing DKIM", on, filters.AuthResults{DKIM: []filters.DKIMResult{{Result: "fail"}}}, verdict(filters.Symbol{Name: "X", Score: 20}), false, false},
		{"spam only through BAYES_SPAM", on, filters.AuthResults{}, verdict(filters.Symbol{Name: "X", Score: 8}, filters.Symbol{Name: SymSpam, Score: 5}), false, false},
		{"far ham, DMARC pass", on, passed, verdict(filters.Symbol{Name: "X", Score: -3}), true, false},
		{"far ham, DKIM pass", on, filters.AuthResults{DKIM: []filters.DKIMResult{{Result: "fail"}, {Result: "pass"}}}, verdict(filters.Symbol{Name: "X", Score: -3}), true, false},
		{"far ham, unauthenticated", on, filters.AuthResults{}, verdict(filters.Symbol{Name: "X", Score: -3}), false, false},
		{"ham only through BAYES_HAM", on, passed, verdict(filters.Symbol{Name: "X", Score: 0}, filters.Symbol{Name: SymHam, Score: -3}), false, false},
		{"in between", on, passed, verdict(filters.Symbol{Name: "X", Score: 4}), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &filters.Message{}
			m.Facts.Auth = tt.auth
			spam, ok := AutoLearn(tt.cfg, m, tt.v)
			if ok != tt.wantOK || spam != tt.wantSpam {
				t.Errorf("AutoLearn = spam %v ok %v, want spam %v ok %v", spam, ok, tt.wantSpam, tt.wantOK)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
	}{
		{"min_spam", func(c *Config) { c.MinSpam = 0 }, "bayes.min_spam"},
		{"min_ham", func(c *Config) { c.MinHam = -1 }, "bayes.min_ham"},
		{"spam_threshold", func(c *Config) { c.SpamThreshold = 0.4 }, "bayes.spam_threshold"},
		{"ham_threshold", func(c *Config) { c.HamThreshold = 0.6 }, "bayes.ham_threshold"},
		{"spam_full", func(c *Config) { c.SpamFull = 0.4 }, "bayes.spam_full"},
		{"ham_full", func(c *Config) { c.HamFull = 0.7 }, "bayes.ham_full"},
		{"max_score", func(c *Config) { c.MaxScore = -1 }, "bayes.max_score"},
		{"min_score", func(c *Config) { c.MinScore = 1 }, "bayes.min_score"},
		{"max_tokens", func(c *Config) { c.MaxTokens = 1 }, "bayes.max_tokens"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "bayes.timeout"},
		{"autolearn", func(c *Config) { c.Autolearn = AutolearnConfig{Enabled: true, SpamScore: 1, HamScore: 2} }, "bayes.autolearn.ham_score"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantKey+":") {
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantKey)
			}
			if _, err := New(c, Deps{Store: newMemStore()}); err == nil {
				t.Errorf("NewCheck accepted an invalid config")
			}
		})
	}
	t.Run("yaml", func(t *testing.T) {
		c := DefaultConfig()
		in := "enabled: false\nmin_spam: 200\nspam_threshold: 0.999\ntimeout: 50ms\nautolearn:\n  enabled: true\n  spam_score: 15\n"
		if err := yaml.Unmarshal([]byte(in), &c); err != nil {
			t.Fatal(err)
		}
		if c.Enabled || c.MinSpam != 200 || c.MinHam != 50 || c.SpamThreshold != 0.999 ||
			time.Duration(c.Timeout) != 50*time.Millisecond || !c.Autolearn.Enabled || c.Autolearn.SpamScore != 15 || c.Autolearn.HamScore != -2 {
			t.Errorf("decoded %+v", c)
		}
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
	})
}

// TestUntrainedGate: an untrained classifier reads the store once, then
// skips tokenizing and reading for gateTTL.
func TestUntrainedGate(t *testing.T) {
	ctx := context.Background()
	mem := newMemStore()
	st := &countingStore{Store: mem}
	cfg := DefaultConfig()
	cfg.MinSpam, cfg.MinHam = 5, 5
	check, err := New(cfg, Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	m := textMessage(t, "x", "cheap pills offer", "buy cheap pills casino winner")
	for i := 0; i < 3; i++ {
		if syms, err := check.Run(ctx, m); err != nil || len(syms) != 0 {
			t.Fatalf("untrained: %v %v", syms, err)
		}
	}
	if st.calls != 1 {
		t.Fatalf("%d store reads for 3 messages while untrained, want 1", st.calls)
	}
	train(t, mem, 10, 10)
	check.gateMu.Lock()
	check.gateUntil = time.Time{} // the gate expires
	check.gateMu.Unlock()
	if syms, err := check.Run(ctx, m); err != nil || len(syms) != 1 {
		t.Fatalf("after training and gate expiry: %v %v", syms, err)
	}
}
