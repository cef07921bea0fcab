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
