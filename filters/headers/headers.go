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

// Check reports missing or malformed required header fields.
type Check struct{}

// New returns the headers check.
func New() Check { return Check{} }

// Name implements filters.Check.
func (Check) Name() string { return "headers" }

// Default scores: each is weak evidence alone (plenty of legitimate bulk
// and automated mail lacks a Message-ID), so none approaches a threshold.
const (
	scoreMissingMID  = 0.5
	scoreMissingDate = 0.5
	scoreMissingFrom = 1.0
	scoreMultiFrom   = 1.0
	scoreBadDate     = 0.3
	scoreMissingSubj = 0.2
)

// Run implements filters.Check.
func (Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	var out []filters.Symbol
	// RFC 5322 §3.6: exactly one From and one Date are required;
	// Message-ID SHOULD be present (§3.6.4).
	switch n := m.Identities().FromFields; {
	case n == 0:
		out = append(out, filters.Symbol{Name: "MISSING_FROM", Score: scoreMissingFrom, Detail: "no From header (RFC 5322 §3.6)"})
	case n > 1:
		out = append(out, filters.Symbol{Name: "MULTIPLE_FROM", Score: scoreMultiFrom, Detail: fmt.Sprintf("%d From headers", n)})
	}
	dates := m.HeaderValues("Date")
	if len(dates) == 0 {
		out = append(out, filters.Symbol{Name: "MISSING_DATE", Score: scoreMissingDate, Detail: "no Date header (RFC 5322 §3.6)"})
	} else if _, err := mail.ParseDate(dates[0]); err != nil {
		out = append(out, filters.Symbol{Name: "INVALID_DATE", Score: scoreBadDate, Detail: fmt.Sprintf("unparsable Date %q", clip(dates[0]))})
	}
	if len(m.HeaderValues("Message-ID")) == 0 {
		out = append(out, filters.Symbol{Name: "MISSING_MESSAGE_ID", Score: scoreMissingMID, Detail: "no Message-ID header (RFC 5322 §3.6.4)"})
	}
	if len(m.HeaderValues("Subject")) == 0 {
		out = append(out, filters.Symbol{Name: "MISSING_SUBJECT", Score: scoreMissingSubj})
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
