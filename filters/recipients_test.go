package filters

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDomainAndParents(t *testing.T) {
	var got []string
	for d := range DomainAndParents("a.b.example") {
		got = append(got, d)
	}
	if want := []string{"a.b.example", "b.example", "example"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for range DomainAndParents("") {
		t.Fatal("a name from the empty string")
	}
	if n := testing.AllocsPerRun(100, func() {
		for d := range DomainAndParents("mail.news.partner.example") {
			_ = d
		}
	}); n != 0 {
		t.Errorf("%v allocations per walk, want 0", n)
	}
}

func TestSymbolAppliesTo(t *testing.T) {
	tests := []struct {
		rcpt, to string
		want     bool
	}{
		{"", "bob@a.example", true},
		{"bob@a.example", "Bob@A.example", true},
		{"bob@a.example", "eve@a.example", false},
		{"a.example", "eve@A.Example", true},
		{"a.example", "eve@sub.a.example", false}, // a recipient domain's own reports are its own
		{"a.example", "a.example", false},         // no domain in the recipient
	}
	for _, tt := range tests {
		if got := (Symbol{Rcpt: tt.rcpt}).AppliesTo(tt.to); got != tt.want {
			t.Errorf("Symbol{Rcpt: %q}.AppliesTo(%q) = %v, want %v", tt.rcpt, tt.to, got, tt.want)
		}
	}
}

func testPolicies(t *testing.T) *RcptPolicies {
	t.Helper()
	def := Policy{Tag: 5, Reject: 15}
	p, err := NewRcptPolicies(def, []RcptPolicy{
		{Name: "trial", Policy: Policy{Tag: 4, Reject: 12, DryRun: true}, Domains: []string{"trial.example"}, Disable: []string{"follow"}},
		{Name: "strict", Policy: Policy{Tag: 3, Reject: 6}, Domains: []string{"strict.example", "eu.trial.example"}},
		{Name: "ceo", Policy: Policy{Tag: 2, Reject: 4}, Rcpts: []string{"ceo@trial.example"}, Disable: []string{"follow", "bayes"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRcptPoliciesMostSpecificWins(t *testing.T) {
	p := testPolicies(t)
	for rcpt, want := range map[string]string{
		"bob@trial.example":        "trial",
		"bob@mail.trial.example":   "trial",  // subdomain
		"bob@eu.trial.example":     "strict", // the longer domain
		"bob@x.eu.trial.example":   "strict",
		"CEO@Trial.Example":        "ceo", // the address, whatever the case
		"bob@other.example":        "",
		"bob@nottrial.example":     "", // a suffix that is not a parent
		"no-domain":                "",
		"bob@strict.example.":      "strict",
		"bob@trial.example.evil.x": "",
	} {
		if got := p.For(rcpt).Name; got != want {
			t.Errorf("For(%q) = %q, want %q", rcpt, got, want)
		}
	}
	if _, err := NewRcptPolicies(Policy{}, []RcptPolicy{{Name: "a", Domains: []string{"x.example"}}, {Name: "b", Domains: []string{"X.example."}}}); err == nil || !strings.Contains(err.Error(), `"a" and "b"`) {
		t.Errorf("a domain in two entries: %v, want an error naming both", err)
	}
	if _, err := NewRcptPolicies(Policy{}, []RcptPolicy{{Name: "a", Rcpts: []string{"u@x.example"}}, {Name: "b", Rcpts: []string{"U@x.example"}}}); err == nil {
		t.Error("an address in two entries accepted")
	}
	var none *RcptPolicies
	if none.For("bob@x.example").Name != "" {
		t.Error("nil policies")
	}
}

func TestRcptPoliciesSkipped(t *testing.T) {
	p := testPolicies(t)
	tests := []struct {
		rcpts []string
		want  []string
	}{
		{nil, nil},
		{[]string{"a@trial.example"}, []string{"follow"}},
		{[]string{"a@trial.example", "ceo@trial.example"}, []string{"follow"}}, // bayes only for one
		{[]string{"ceo@trial.example"}, []string{"bayes", "follow"}},
		{[]string{"a@trial.example", "b@other.example"}, nil}, // the default runs everything
	}
	for _, tt := range tests {
		var got []string
		for c := range p.Skipped(tt.rcpts) {
			got = append(got, c)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Skipped(%v) = %v, want %v", tt.rcpts, got, tt.want)
		}
	}
}

// TestDecideRecipients: one SMTP transaction, one verdict; each recipient
// judged under its own settings and on its own symbols, the transaction
// getting the most lenient verdict, raised to tag when any recipient's
// own action is tag or stronger.
func TestDecideRecipients(t *testing.T) {
	p := testPolicies(t)
	spam := []Symbol{{Name: "SPAMMY", Score: 16, Check: "content"}}
	tests := []struct {
		name        string
		syms        []Symbol
		rcpts       []string
		action      Action
		would       Action
		settings    string
		perRcpt     []string // RcptVerdict.String() of each recipient
		reasonHas   string
		symbolNames []string
	}{
		{
			name: "no recipients: the default policy", syms: spam,
			action: Reject, would: Reject,
			symbolNames: []string{"SPAMMY"},
		},
		{
			name: "trial domain alone: dry run", syms: spam, rcpts: []string{"a@trial.example"},
			action: Tag, would: Reject, settings: "trial",
			perRcpt: []string{"a@trial.example tag would_be=reject score=16.00 settings=trial"},
		},
		{
			name: "another domain alone: rejected", syms: spam, rcpts: []string{"b@other.example"},
			action: Reject, would: Reject,
			perRcpt: []string{"b@other.example reject score=16.00"},
		},
		{
			name: "both: the trial's lenient verdict for the transaction", syms: spam,
			rcpts:  []string{"b@other.example", "a@trial.example"},
			action: Tag, would: Reject, settings: "trial",
			perRcpt: []string{"b@other.example reject score=16.00", "a@trial.example tag would_be=reject score=16.00 settings=trial"},
		},
		{
			name: "a lenient recipient never lets spam past the others unmarked",
			syms: []Symbol{
				{Name: "SPAMMY", Score: 16, Check: "content"},
				{Name: "POSTMASTER", List: ListAllow, Check: "lists", Rcpt: "postmaster@other.example"},
			},
			rcpts:  []string{"postmaster@other.example", "b@other.example"},
			action: Tag, would: Tag, reasonHas: "recipients' verdicts differ",
			perRcpt: []string{"postmaster@other.example accept score=16.00", "b@other.example reject score=16.00"},
		},
		{
			name: "per-recipient symbols count only for their recipients",
			syms: []Symbol{
				{Name: "REP_SENDER_HAM", Score: -3, Check: "reputation", Rcpt: "trial.example"},
				{Name: "REP_SENDER_SPAM", Score: 3, Check: "reputation", Rcpt: "other.example"},
				{Name: "BASE", Score: 3, Check: "content"},
			},
			rcpts:  []string{"a@trial.example", "b@other.example", "c@other.example"},
			action: Tag, would: Tag, settings: "trial", reasonHas: "recipients' verdicts differ",
			perRcpt:     []string{"a@trial.example accept score=0.00 settings=trial", "b@other.example tag score=6.00", "c@other.example tag score=6.00"},
			symbolNames: []string{"BASE", "REP_SENDER_HAM"},
		},
		{
			name: "a disabled check's symbols do not count for its recipients",
			syms: []Symbol{
				{Name: "FOLLOW_LOGIN_FORM", Score: 16, Check: "follow"},
				{Name: "FOLLOW_ERROR", Check: "follow", Force: TempFail},
			},
			rcpts:  []string{"a@trial.example"},
			action: Accept, would: Accept, settings: "trial",
			symbolNames: []string{},
			perRcpt:     []string{"a@trial.example accept score=0.00 settings=trial"},
		},
		{
			name: "the same verdict for every recipient: nothing raised",
			syms: []Symbol{{Name: "A", Score: 1}}, rcpts: []string{"x@other.example", "y@other.example"},
			action: Accept, would: Accept,
			perRcpt: []string{"x@other.example accept score=1.00", "y@other.example accept score=1.00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := DecideRecipients(tt.syms, tt.rcpts, p)
			if v.Action != tt.action || v.WouldBe != tt.would || v.Settings != tt.settings {
				t.Fatalf("verdict %s would %s settings %q, want %s %s %q (reason %q)", v.Action, v.WouldBe, v.Settings, tt.action, tt.would, tt.settings, v.Reason)
			}
			if tt.reasonHas != "" && !strings.Contains(v.Reason, tt.reasonHas) {
				t.Errorf("reason %q, want it to say %q", v.Reason, tt.reasonHas)
			}
			var got []string
			for _, r := range v.Rcpts {
				got = append(got, r.String())
			}
			if !slices.Equal(got, tt.perRcpt) {
				t.Errorf("recipients' verdicts:\n got %q\nwant %q", got, tt.perRcpt)
			}
			if tt.symbolNames != nil {
				names := v.SymbolNames()
				if !slices.Equal(names, tt.symbolNames) {
					t.Errorf("symbols %v, want %v", names, tt.symbolNames)
				}
			}
		})
	}
}

// TestDecideRecipientsManyRecipients: a thousand recipients of one
// domain cost one Decide, and get the same answer.
func TestDecideRecipientsManyRecipients(t *testing.T) {
	p := testPolicies(t)
	rcpts := make([]string, 1000)
	for i := range rcpts {
		rcpts[i] = "u" + strings.Repeat("x", i%7) + "@other.example"
	}
	syms := []Symbol{{Name: "A", Score: 6}}
	v := DecideRecipients(syms, rcpts, p)
	if v.Action != Tag || len(v.Rcpts) != 1000 {
		t.Fatalf("verdict %s with %d recipients", v.Action, len(v.Rcpts))
	}
	n := testing.AllocsPerRun(10, func() { DecideRecipients(syms, rcpts, p) })
	if n > 100 {
		t.Errorf("%v allocations for 1000 recipients of one policy: decided per recipient?", n)
	}
}

// TestPipelineSkipAndCheckNames: the pipeline names the check of every
// symbol, and leaves out the skipped checks.
func TestPipelineSkipAndCheckNames(t *testing.T) {
	p := NewPipeline(time.Second, 2*time.Second, quiet())
	ran := map[string]bool{}
	add := func(name string, s StageID) {
		p.Add(s, fakeCheck{name, func(ctx context.Context, m *Message) ([]Symbol, error) {
			ran[name] = true
			return []Symbol{{Name: strings.ToUpper(name) + "_HIT"}}, nil
		}}, FailOpen)
	}
	add("content", StageAuth)
	add("follow", StageLinks)
	add("bayes", StageReputation)
	syms := p.RunWithout(context.Background(), &Message{}, map[string]bool{"follow": true})
	if ran["follow"] || !ran["content"] || !ran["bayes"] {
		t.Fatalf("ran %v, want content and bayes only", ran)
	}
	for _, s := range syms {
		if want := strings.ToLower(strings.TrimSuffix(s.Name, "_HIT")); s.Check != want {
			t.Errorf("symbol %s: check %q, want %q", s.Name, s.Check, want)
		}
	}
	if len(syms) != 2 {
		t.Errorf("symbols %+v", syms)
	}
}

// BenchmarkDecide: the verdict of a message of 30 symbols, as Decide
// alone gave it before settings per recipient, and as DecideRecipients
// gives it for one recipient without settings, for one recipient of a
// settings entry and for two recipients whose settings differ.
//
//	go test -run '^$' -bench 'Decide' ./filters
func BenchmarkDecide(b *testing.B) {
	var syms []Symbol
	for i := 0; i < 30; i++ {
		syms = append(syms, Symbol{Name: "SYMBOL_" + strconv.Itoa(i), Score: 0.5, Check: "content"})
	}
	p, _ := NewRcptPolicies(Policy{Tag: 5, Reject: 15}, []RcptPolicy{{Name: "trial", Policy: Policy{Tag: 4, Reject: 12, DryRun: true}, Domains: []string{"trial.example"}}})
	b.Run("Decide", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			Decide(syms, Policy{Tag: 5, Reject: 15})
		}
	})
	for _, tc := range []struct {
		name  string
		rcpts []string
	}{
		{"one-recipient", []string{"bob@example.org"}},
		{"one-trial-recipient", []string{"bob@trial.example"}},
		{"two-settings", []string{"bob@example.org", "eve@trial.example"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				DecideRecipients(syms, tc.rcpts, p)
			}
		})
	}
}

// doubleWeights is learned weights that double every symbol's score.
type doubleWeights struct{}

func (doubleWeights) Weigh(syms []Symbol, skip func(string) bool) {
	for i := range syms {
		if skip == nil || !skip(syms[i].Name) {
			d := syms[i].Score
			syms[i].Score = 2 * d
			syms[i].Weight = &SymbolWeight{Default: d, Learned: 2 * d, Used: 2 * d}
		}
	}
}

// TestRcptPoliciesWithWeights: the learned weights reach every
// recipient's policy, and a recipient's own scores: still come first
// (operator override > learned > the check's own), without changing the
// policies they were made from.
func TestRcptPoliciesWithWeights(t *testing.T) {
	p, err := NewRcptPolicies(Policy{Tag: 5, Reject: 15}, []RcptPolicy{
		{Name: "own", Policy: Policy{Tag: 5, Reject: 15, Scores: map[string]float64{"A": 1}}, Domains: []string{"own.example"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	syms := []Symbol{{Name: "A", Score: 3}, {Name: "B", Score: 1}}
	w := p.WithWeights(doubleWeights{})
	if v := DecideRecipients(syms, []string{"u@other.example"}, w); v.Score != 8 || v.Action != Tag {
		t.Errorf("default policy with learned weights: score %v action %s, want 8 tag", v.Score, v.Action)
	}
	v := DecideRecipients(syms, []string{"u@own.example"}, w)
	if v.Score != 3 || v.Action != Accept {
		t.Errorf("recipient with scores: A=1: score %v action %s, want 1 + 2×1 = 3, accept", v.Score, v.Action)
	}
	for _, s := range v.Symbols {
		if s.Name == "A" && s.Weight != nil {
			t.Errorf("A scored by the operator still shows a learned weight: %+v", s.Weight)
		}
	}
	if v := DecideRecipients(syms, []string{"u@other.example"}, p); v.Score != 4 {
		t.Errorf("the original policies changed: score %v, want 4", v.Score)
	}
	if (*RcptPolicies)(nil).WithWeights(doubleWeights{}) != nil {
		t.Error("nil policies with weights are not nil")
	}
}
