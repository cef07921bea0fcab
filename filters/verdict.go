package filters

import (
	"fmt"
	"math"
	"strings"
)

// Action is what the MTA is told to do with a message.
type Action string

const (
	// Accept delivers the message with our headers.
	Accept Action = "accept"
	// Tag delivers it with X-Spam-Flag: YES.
	Tag Action = "tag"
	// Quarantine delivers it to the MTA's hold queue (milter quarantine).
	Quarantine Action = "quarantine"
	// TempFail answers 451 4.7.1 so the sender retries later.
	TempFail Action = "tempfail"
	// Reject answers 550 5.7.1.
	Reject Action = "reject"
)

// severity orders actions: a stronger one wins when several apply.
// Reject outranks tempfail: evidence enough to reject is final, retrying
// would not change it.
func (a Action) severity() int {
	switch a {
	case Tag:
		return 1
	case Quarantine:
		return 2
	case TempFail:
		return 3
	case Reject:
		return 4
	}
	return 0
}

// ParseAction parses an action name.
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.ToLower(s)); a {
	case Accept, Tag, Quarantine, TempFail, Reject:
		return a, nil
	}
	return "", fmt.Errorf("filters: unknown action %q (want accept, tag, quarantine, tempfail or reject)", s)
}

// Policy turns scores into actions. Thresholds are inclusive: a score equal
// to Reject rejects. A zero threshold is "disabled" for Quarantine only;
// Tag and Reject must be set (the config supplies defaults).
type Policy struct {
	Tag        float64
	Quarantine float64 // 0 = no quarantine threshold
	Reject     float64
	// Scores override the default score of a symbol by name.
	Scores map[string]float64
	// Weights are the symbol weights learned from feedback; nil scores
	// every symbol as its check proposed.
	Weights Weights
	// DryRun never rejects, tempfails or quarantines: the verdict carries
	// the action that would have been taken, and the message is delivered
	// (tagged when the score says so) with our headers.
	DryRun bool
}

// Verdict is the outcome for one message.
type Verdict struct {
	Action Action
	Score  float64
	// Symbols are sorted by name; scores are the effective ones.
	Symbols []Symbol
	// Reason is the short text for the SMTP reply and the log line.
	Reason string
	// WouldBe is the action the policy chose before DryRun softened it;
	// equal to Action when DryRun is off.
	WouldBe Action
	// Threshold is the score needed for tagging (X-Spam-Status required=).
	Threshold float64
	// Settings is the name of the settings entry (settings: in the
	// configuration) whose policy gave this verdict; "" for the default
	// policy.
	Settings string
	// Rcpts is each recipient's own verdict, in envelope order, when the
	// message had recipients (DecideRecipients); the verdict above is the
	// one the whole SMTP transaction gets.
	Rcpts []RcptVerdict
}

// Weights are symbol weights learned from feedback (filters/weights).
type Weights interface {
	// Weigh sets Score and Weight of each symbol whose weight was learned,
	// except the names skip reports (an operator's scores: win). It may
	// bound groups of symbols together (the client-IP inputs).
	Weigh(syms []Symbol, skip func(name string) bool)
}

// Decide is the one pure function from symbols and policy to a verdict.
// It copies and sorts the symbols, sets each symbol's effective score (the
// operator's scores: first, else the learned weight, else the check's
// own), sums, picks the action from thresholds and raises it to the
// strongest forced action. Forced actions never depend on scores: learned
// weights cannot undo a DMARC p=reject or an operator's deny list.
func Decide(symbols []Symbol, p Policy) Verdict {
	syms := make([]Symbol, len(symbols))
	copy(syms, symbols)
	if p.Weights != nil {
		p.Weights.Weigh(syms, func(name string) bool { _, ok := p.Scores[name]; return ok })
	}
	var total float64
	for i := range syms {
		if s, ok := p.Scores[syms[i].Name]; ok {
			syms[i].Score = s
			syms[i].Weight = nil
		}
		total += syms[i].Score
	}
	sortSymbols(syms)
	// Round to 2 decimals so headers and JSON do not show float noise and the
	// threshold comparison matches what the operator reads.
	total = math.Round(total*100) / 100

	action := Accept
	reason := ""
	switch {
	case total >= p.Reject:
		action, reason = Reject, fmt.Sprintf("spam score %.2f reaches %.2f", total, p.Reject)
	case p.Quarantine > 0 && total >= p.Quarantine:
		action, reason = Quarantine, fmt.Sprintf("spam score %.2f reaches %.2f", total, p.Quarantine)
	case total >= p.Tag:
		action, reason = Tag, fmt.Sprintf("spam score %.2f reaches %.2f", total, p.Tag)
	}
	var allow, deny *Symbol
	for i, s := range syms {
		if s.Force != "" && s.Force.severity() > action.severity() {
			action = s.Force
			reason = symbolReason(s)
		}
		switch {
		case s.List == ListDeny && deny == nil:
			deny = &syms[i]
		case s.List == ListAllow && allow == nil:
			allow = &syms[i]
		}
	}
	// The operator's lists come after the score and the checks' forces: a
	// deny list rejects whatever else was found, with its own name as the
	// reason, and an allow list accepts (a deny list beats it: refusing is
	// the explicit, narrower decision). Only what Vigil could not read at
	// all (Hard) stays refused.
	switch {
	case deny != nil:
		action, reason = Reject, symbolReason(*deny)
	case allow != nil:
		action, reason = Accept, "allowed by "+symbolReason(*allow)
		for _, s := range syms {
			if s.Hard && s.Force.severity() > action.severity() {
				action, reason = s.Force, symbolReason(s)
			}
		}
	}
	v := Verdict{Action: action, Score: total, Symbols: syms, Reason: reason, WouldBe: action, Threshold: p.Tag}
	if p.DryRun && action != Accept && action != Tag {
		if total >= p.Tag {
			v.Action = Tag
		} else {
			v.Action = Accept
		}
		for _, s := range syms {
			if s.Hard && s.Force.severity() > v.Action.severity() {
				v.Action = s.Force
			}
		}
	}
	return v
}

// symbolReason is how a symbol that decided the action is named in the
// reason: its name, and its detail when it has one.
func symbolReason(s Symbol) string {
	if s.Detail != "" {
		return s.Name + ": " + s.Detail
	}
	return s.Name
}

// SymbolHeadersTooMany is the symbol of a message refused because its
// header block was larger than Vigil keeps.
const SymbolHeadersTooMany = "HEADERS_TOO_MANY"

// RefuseUnread is the verdict for a message with HeadersOverflow: reject,
// also under dry run, without running any check. Vigil keeps a bounded
// header block, but the MTA delivers all of it; judging the first fields
// and accepting would let filler fields push a forged From (DMARC), a
// forged Authentication-Results or X-Spam-Status past what Vigil reads and
// removes. Legitimate mail has tens of fields, not a thousand.
func RefuseUnread(m *Message, p Policy) Verdict {
	syms := append(m.Notes(), Symbol{Name: SymbolHeadersTooMany, Force: Reject, Hard: true,
		Detail: "header block has " + m.HeadersOverflow + "; refused unread"})
	v := Decide(syms, p)
	v.Reason = "message header too large (too many fields or bytes)"
	return v
}

// ListNames returns the names of the operator's lists among the
// verdict's symbols, sorted and unique ([] when none).
func (v Verdict) ListNames() []string {
	out := []string{}
	for _, s := range v.Symbols {
		if s.List != "" && (len(out) == 0 || out[len(out)-1] != s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

// SymbolNames returns the names of the verdict's symbols in order.
func (v Verdict) SymbolNames() []string {
	out := make([]string, len(v.Symbols))
	for i, s := range v.Symbols {
		out[i] = s.Name
	}
	return out
}
