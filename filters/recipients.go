package filters

import (
	"fmt"
	"iter"
	"strconv"
	"strings"
)

// RcptPolicy is how the mail of some recipients is judged: one entry of
// settings: in the configuration, or the default policy.
type RcptPolicy struct {
	// Name is the settings entry's name; "" is the default policy.
	Name string
	// Policy is complete: the entry's thresholds, dry run and scores
	// already laid over the default ones.
	Policy Policy
	// Disable names checks whose symbols do not count for these
	// recipients (and that do not run at all when every recipient of a
	// message disables them).
	Disable []string
	// Domains are recipient domains, each matching itself and its
	// subdomains; Rcpts are recipient addresses.
	Domains []string
	Rcpts   []string
}

func (p *RcptPolicy) disables(check string) bool {
	for _, d := range p.Disable {
		if d == check {
			return true
		}
	}
	return false
}

// RcptPolicies finds the policy of each recipient: the entry that names
// the address, else the entry with the longest domain that matches it
// (its own domain or a parent), else the default policy. Specificity, not
// the order of the entries, decides: an entry added for one address in an
// included file wins over its domain's entry in the main file.
type RcptPolicies struct {
	def      RcptPolicy
	entries  []RcptPolicy
	byAddr   map[string]int
	byDomain map[string]int
}

// NewRcptPolicies indexes the entries; def is the policy of every other
// recipient. An address or domain named by two entries is an error: which
// one applies would be a guess.
func NewRcptPolicies(def Policy, entries []RcptPolicy) (*RcptPolicies, error) {
	p := &RcptPolicies{def: RcptPolicy{Policy: def}, entries: entries, byAddr: map[string]int{}, byDomain: map[string]int{}}
	for i, e := range entries {
		for _, a := range e.Rcpts {
			k := strings.ToLower(strings.TrimSpace(a))
			if j, dup := p.byAddr[k]; dup {
				return nil, fmt.Errorf("filters: settings: recipient %s is in both %q and %q", a, entries[j].Name, e.Name)
			}
			p.byAddr[k] = i
		}
		for _, d := range e.Domains {
			k := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
			if j, dup := p.byDomain[k]; dup {
				return nil, fmt.Errorf("filters: settings: recipient domain %s is in both %q and %q", d, entries[j].Name, e.Name)
			}
			p.byDomain[k] = i
		}
	}
	return p, nil
}

// For returns the policy of the recipient rcpt (never nil). A nil
// *RcptPolicies has only a zero default policy.
func (p *RcptPolicies) For(rcpt string) *RcptPolicy {
	return p.at(p.index(rcpt))
}

// Default is the policy of recipients no entry names.
func (p *RcptPolicies) Default() *RcptPolicy {
	if p == nil {
		return &RcptPolicy{}
	}
	return &p.def
}

// WithWeights returns the policies with the learned weights w (nil: the
// checks' own scores) in every one of them: each recipient's scores: still
// come first, then w, then the checks' own (Decide). p is not changed; the
// copy shares its index. Nil stays nil.
func (p *RcptPolicies) WithWeights(w Weights) *RcptPolicies {
	if p == nil {
		return nil
	}
	q := *p
	q.def.Policy.Weights = w
	q.entries = make([]RcptPolicy, len(p.entries))
	copy(q.entries, p.entries)
	for i := range q.entries {
		q.entries[i].Policy.Weights = w
	}
	return &q
}

// index is the entry of rcpt, -1 for the default.
func (p *RcptPolicies) index(rcpt string) int {
	if p == nil {
		return -1
	}
	if i, ok := p.byAddr[strings.ToLower(strings.TrimSpace(rcpt))]; ok {
		return i
	}
	if len(p.byDomain) > 0 {
		for d := range DomainAndParents(RcptDomain(rcpt)) {
			if i, ok := p.byDomain[d]; ok {
				return i
			}
		}
	}
	return -1
}

func (p *RcptPolicies) at(i int) *RcptPolicy {
	if i < 0 {
		return p.Default()
	}
	return &p.entries[i]
}

// Skipped returns the checks that need not run for a message to rcpts:
// those every recipient's policy disables (nil when none).
func (p *RcptPolicies) Skipped(rcpts []string) map[string]bool {
	var skip map[string]bool
	pols := []*RcptPolicy{p.Default()}
	if len(rcpts) > 0 {
		pols = pols[:0]
		for _, r := range rcpts {
			pols = append(pols, p.For(r))
		}
	}
	for _, c := range pols[0].Disable {
		all := true
		for _, q := range pols[1:] {
			all = all && q.disables(c)
		}
		if all {
			if skip == nil {
				skip = map[string]bool{}
			}
			skip[c] = true
		}
	}
	return skip
}

// DomainAndParents yields a domain name and each of its parents, down to
// the last label: "a.b.example" gives "a.b.example", "b.example",
// "example". Nothing for "". It allocates nothing.
func DomainAndParents(d string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for d != "" {
			if !yield(d) {
				return
			}
			i := strings.IndexByte(d, '.')
			if i < 0 {
				return
			}
			d = d[i+1:]
		}
	}
}

// RcptVerdict is one recipient's own verdict.
type RcptVerdict struct {
	Rcpt string `json:"rcpt"`
	// Settings is the settings entry that applied, "" for the default.
	Settings string `json:"settings,omitempty"`
	Action   Action `json:"action"`
	// WouldBe is the action before dry run softened it.
	WouldBe Action  `json:"would_be"`
	Score   float64 `json:"score"`
}

// String is the recipient's verdict for a log line or a table:
// "bob@example.org reject score=16.00", with the settings and the would-be
// action when they say more.
func (r RcptVerdict) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Rcpt, r.Action)
	if r.WouldBe != r.Action {
		fmt.Fprintf(&b, " would_be=%s", r.WouldBe)
	}
	fmt.Fprintf(&b, " score=%.2f", r.Score)
	if r.Settings != "" {
		fmt.Fprintf(&b, " settings=%s", r.Settings)
	}
	return b.String()
}

// DecideRecipients decides for a message to rcpts: each recipient is
// judged on the symbols that count for it (AppliesTo, without the checks
// its policy disables) under its own policy, and the SMTP transaction, which
// has one reply for all its recipients, gets one verdict:
//
//   - the most lenient recipient's verdict (least action, then least
//     would-be action, then lowest score): Vigil never refuses a message
//     that one of its recipients' settings would deliver, so a domain on
//     trial (dry_run) loses nothing for sharing a message with another;
//   - raised to tag when any recipient's own action is tag or stronger:
//     such a message is delivered marked (X-Spam-Flag: YES) to everyone,
//     so adding a lenient recipient to spam for strict ones gets it into
//     their spam folder, never past it.
//
// Verdict.Rcpts keeps each recipient's own verdict for the log. With no
// recipients (vigil check without --rcpt) the default policy decides on
// the symbols that count for every recipient.
func DecideRecipients(symbols []Symbol, rcpts []string, p *RcptPolicies) Verdict {
	if len(rcpts) == 0 {
		return decideFor(symbols, "", p.Default())
	}
	// Recipients with the same policy and the same recipient-specific
	// symbols have the same verdict: decide once per such group (a
	// message to a thousand addresses of one domain is one Decide).
	var specific []int
	for i, s := range symbols {
		if s.Rcpt != "" {
			specific = append(specific, i)
		}
	}
	decided := map[string]*Verdict{}
	var best *Verdict
	strongest := Accept
	out := make([]RcptVerdict, 0, len(rcpts))
	var key []byte
	for _, r := range rcpts {
		pi := p.index(r)
		key = strconv.AppendInt(key[:0], int64(pi), 10)
		for _, i := range specific {
			if symbols[i].AppliesTo(r) {
				key = append(key, ',')
				key = strconv.AppendInt(key, int64(i), 10)
			}
		}
		v, ok := decided[string(key)]
		if !ok {
			d := decideFor(symbols, r, p.at(pi))
			v = &d
			decided[string(key)] = v
		}
		out = append(out, RcptVerdict{Rcpt: r, Settings: v.Settings, Action: v.Action, WouldBe: v.WouldBe, Score: v.Score})
		if v.Action.severity() > strongest.severity() {
			strongest = v.Action
		}
		if best == nil || lenient(v, best) {
			best = v
		}
	}
	res := *best
	res.Rcpts = out
	if strongest.severity() >= Tag.severity() && res.Action.severity() < Tag.severity() {
		res.Reason = fmt.Sprintf("tagged: recipients' verdicts differ (the most lenient is %s, another is %s)", res.Action, strongest)
		res.Action = Tag
		if res.WouldBe.severity() < Tag.severity() {
			res.WouldBe = Tag
		}
	}
	return res
}

// lenient reports whether a is more lenient than b.
func lenient(a, b *Verdict) bool {
	if a.Action != b.Action {
		return a.Action.severity() < b.Action.severity()
	}
	if a.WouldBe != b.WouldBe {
		return a.WouldBe.severity() < b.WouldBe.severity()
	}
	return a.Score < b.Score
}

// decideFor is the verdict of the recipient rcpt ("" for any) under pol.
func decideFor(symbols []Symbol, rcpt string, pol *RcptPolicy) Verdict {
	syms := make([]Symbol, 0, len(symbols))
	for _, s := range symbols {
		if (rcpt == "" && s.Rcpt != "") || (rcpt != "" && !s.AppliesTo(rcpt)) {
			continue
		}
		if s.Check != "" && pol.disables(s.Check) {
			continue
		}
		syms = append(syms, s)
	}
	v := Decide(syms, pol.Policy)
	v.Settings = pol.Name
	return v
}
