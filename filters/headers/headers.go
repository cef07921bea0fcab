// Package headers is the "headers" check: structural sanity of the header
// block that RFC 5322 requires of every message, cheap and DNS-free.
package headers

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"github.com/vigilmail/vigil/filters"
)

// Name is the check's name.
const Name = "headers"

// Symbols. Each is weak evidence alone (plenty of legitimate bulk and
// automated mail lacks a Message-ID), so none approaches a threshold.
const (
	SymMissingFrom      = "MISSING_FROM"
	SymMultipleFrom     = "MULTIPLE_FROM"
	SymMissingDate      = "MISSING_DATE"
	SymInvalidDate      = "INVALID_DATE"
	SymMissingMessageID = "MISSING_MESSAGE_ID"
	SymMissingSubject   = "MISSING_SUBJECT"
)

// Spec declares the check and its symbols.
var Spec = filters.Declare(filters.CheckSpec{
	Name: Name,
	Symbols: []filters.SymbolSpec{
		{Name: SymMissingFrom, Score: 1.0, Doc: "no From field (RFC 5322 §3.6 requires one)"},
		{Name: SymMultipleFrom, Score: 1.0, Doc: "more than one From field (RFC 5322 §3.6 allows one)"},
		{Name: SymMissingDate, Score: 0.5, Doc: "no Date field (RFC 5322 §3.6 requires one)"},
		{Name: SymInvalidDate, Score: 0.3, Doc: "the Date field does not parse (RFC 5322 §3.3)"},
		{Name: SymMissingMessageID, Score: 0.5, Doc: "no Message-ID field (RFC 5322 §3.6.4: SHOULD be present)"},
		{Name: SymMissingSubject, Score: 0.2, Doc: "no Subject field"},
	},
})

// Config is the check's configuration: it has no keys.
type Config struct{}

// Deps are the check's collaborators: it needs none.
type Deps struct{}

// Check reports missing or malformed required header fields.
type Check struct{}

var _ filters.Check = (*Check)(nil)

// New returns the headers check.
func New(cfg Config, deps Deps) (*Check, error) { return &Check{}, nil }

// Name implements filters.Check.
func (*Check) Name() string { return Name }

// Run implements filters.Check.
func (*Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	var out []filters.Symbol
	// RFC 5322 §3.6: exactly one From and one Date are required;
	// Message-ID SHOULD be present (§3.6.4).
	switch n := m.Identities().FromFields; {
	case n == 0:
		out = append(out, Spec.Symbol(SymMissingFrom, "no From header (RFC 5322 §3.6)"))
	case n > 1:
		out = append(out, Spec.Symbol(SymMultipleFrom, fmt.Sprintf("%d From headers", n)))
	}
	dates := m.HeaderValues("Date")
	if len(dates) == 0 {
		out = append(out, Spec.Symbol(SymMissingDate, "no Date header (RFC 5322 §3.6)"))
	} else if _, err := mail.ParseDate(dates[0]); err != nil {
		out = append(out, Spec.Symbol(SymInvalidDate, fmt.Sprintf("unparsable Date %q", clip(dates[0]))))
	}
	if len(m.HeaderValues("Message-ID")) == 0 {
		out = append(out, Spec.Symbol(SymMissingMessageID, "no Message-ID header (RFC 5322 §3.6.4)"))
	}
	if len(m.HeaderValues("Subject")) == 0 {
		out = append(out, Spec.Symbol(SymMissingSubject, ""))
	}
	return out, nil
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
