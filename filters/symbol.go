package filters

import (
	"sort"
	"strings"
)

// Symbol is one piece of evidence a check reports. Checks propose a default
// Score; the policy may override it per symbol name.
type Symbol struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Detail string  `json:"detail,omitempty"`
	// Force is the least action this symbol demands regardless of the score
	// (for example DMARC p=reject honoured as reject, or a required check
	// that failed closed demanding tempfail). Empty means none.
	Force Action `json:"-"`
	// Hard keeps Force even under policy.dry_run. Only for what Vigil could
	// not check at all (a header block larger than it keeps): a dry run
	// delivers what Vigil judged, never what it did not read.
	Hard bool `json:"-"`
	// Full is the score of a graded symbol at full strength (a reputation
	// family's cap, the classifier's max_score, a blocklist's score): its
	// Score is Full times the strength of the evidence. 0 for a symbol whose
	// score does not depend on the evidence (Score is then its full score).
	// Learned weights (Policy.Weights) replace Full and keep the strength.
	Full float64 `json:"-"`
	// Weight says how a learned weight set Score; nil when Score is the
	// check's own or an operator's (scores:).
	Weight *SymbolWeight `json:"weight,omitempty"`
	// List is set on the symbol of an operator's list (lists: in the
	// configuration): what the list does with the message. Decide lets
	// an allow list accept the message whatever its score and the checks'
	// forced actions, and a deny list reject it, before any allow.
	List ListAction `json:"-"`
	// Rcpt limits the symbol to some of the message's recipients: ""
	// counts for every recipient, a domain for the recipients in that
	// domain, an address for that recipient (AppliesTo). Lists matched on
	// recipients and the reputation of a recipient domain's own reports
	// set it; DecideRecipients judges each recipient on its own symbols.
	Rcpt string `json:"-"`
	// Check is the check that reported the symbol ("" for the symbols of
	// how the message arrived). The pipeline sets it, so that a
	// recipient's settings can leave out the checks they disable.
	Check string `json:"-"`
}

// SymbolWeight explains the score of a symbol whose weight was learned
// from feedback: the weight it has by default, the one learned, and the
// one used (the learned one blended in as reports accumulate, within the
// symbol's bounds). Score = Used × the strength of the evidence.
type SymbolWeight struct {
	Default float64 `json:"default"`
	Learned float64 `json:"learned"`
	Used    float64 `json:"used"`
}

// Strength is how strongly the evidence holds, as a multiple of the
// symbol's full weight: Score/Full for a graded symbol, 1 otherwise.
func (s Symbol) Strength() float64 {
	if s.Full != 0 {
		return s.Score / s.Full
	}
	return 1
}

// DefaultWeight is the symbol's weight at full strength as its check
// proposed it: Full for a graded symbol, else its Score.
func (s Symbol) DefaultWeight() float64 {
	if s.Full != 0 {
		return s.Full
	}
	return s.Score
}

// ListAction is what an operator's list does with a message it matches.
type ListAction string

const (
	// ListScore adds the list's symbol with its score, like any check.
	ListScore ListAction = "score"
	// ListAllow accepts the message (headers still added, every check
	// still reported), unless a deny list matched too.
	ListAllow ListAction = "allow"
	// ListDeny rejects the message with the list's name as the reason.
	ListDeny ListAction = "deny"
)

// AppliesTo reports whether the symbol counts for the recipient rcpt
// (an address as the envelope gives it).
func (s Symbol) AppliesTo(rcpt string) bool {
	if s.Rcpt == "" {
		return true
	}
	if strings.Contains(s.Rcpt, "@") {
		return strings.EqualFold(s.Rcpt, rcpt)
	}
	return strings.EqualFold(s.Rcpt, RcptDomain(rcpt))
}

// RcptDomain is the domain of an envelope recipient, lower case without a
// trailing dot; "" when it has none.
func RcptDomain(rcpt string) string {
	i := strings.LastIndexByte(rcpt, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(rcpt[i+1:]), "."))
}

// sortSymbols orders symbols by name, then detail, so the same evidence
// always yields the same verdict and header whatever finished first.
func sortSymbols(s []Symbol) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Name != s[j].Name {
			return s[i].Name < s[j].Name
		}
		return s[i].Detail < s[j].Detail
	})
}
