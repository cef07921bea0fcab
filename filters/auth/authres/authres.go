// Package authres formats the RFC 8601 Authentication-Results header field
// from the authentication facts, and recognises incoming fields that claim
// our authserv-id so the milter can remove them before adding ours
// (RFC 8601 §5). We format it ourselves: go-msgauth's formatter writes ARC
// results with an empty method name, and its parser breaks on comments.
package authres

import (
	"strings"

	"github.com/vigilmail/vigil/filters"
)

// maxReason bounds reason= text taken from check details.
const maxReason = 80

// Format returns the Authentication-Results field value (without the
// field name and without a leading space) for the facts a, as one line:
//
//	mx.example.org; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com header.s=sel header.a=rsa-sha256; dmarc=pass (p=reject) header.from=example.com; arc=none
//
// Methods with no result (a check that did not run) are left out; with
// none at all the value is "<authserv-id>; none" (RFC 8601 §2.2).
func Format(authservID string, a filters.AuthResults) string {
	var parts []string
	if r := a.SPF.Result; r != "" {
		s := "spf=" + string(r)
		if r != filters.SPFNone || a.SPF.Domain != "" {
			prop := "smtp.mailfrom"
			if a.SPF.Identity == filters.SPFHelo {
				prop = "smtp.helo"
			}
			if a.SPF.Domain != "" {
				s += " " + prop + "=" + value(a.SPF.Domain)
			}
		}
		parts = append(parts, s)
	}
	for _, d := range a.DKIM {
		s := "dkim=" + string(d.Result)
		if reason := reasonFor(d.Result, d.Detail); reason != "" {
			s += " reason=" + quote(reason)
		}
		if d.Domain != "" {
			s += " header.d=" + value(d.Domain)
		}
		if d.Selector != "" {
			s += " header.s=" + value(d.Selector)
		}
		if d.Algorithm != "" {
			s += " header.a=" + value(d.Algorithm)
		}
		parts = append(parts, s)
	}
	if len(a.DKIM) == 0 && (a.SPF.Result != "" || a.ARC.Result != "") {
		// The authentication stage ran and the dkim check found no
		// signature (it runs beside spf and arc).
		parts = append(parts, "dkim=none")
	}
	if r := a.DMARC.Result; r != "" {
		s := "dmarc=" + string(r)
		if a.DMARC.Policy != "" {
			s += " (p=" + string(a.DMARC.Policy) + ")"
		}
		if a.DMARC.Domain != "" {
			s += " header.from=" + value(a.DMARC.Domain)
		}
		parts = append(parts, s)
	}
	if r := a.ARC.Result; r != "" {
		parts = append(parts, "arc="+string(r))
	}
	if len(parts) == 0 {
		return value(authservID) + "; none"
	}
	return value(authservID) + "; " + strings.Join(parts, "; ")
}

func reasonFor(result filters.DKIMStatus, detail string) string {
	if result == filters.DKIMPass || detail == "" {
		return ""
	}
	if len(detail) > maxReason {
		detail = detail[:maxReason]
	}
	return detail
}

// isTokenChar reports whether c may appear in an RFC 2045 token.
func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

// value writes v as an RFC 2045 token when it is one, else quoted.
func value(v string) string {
	if v == "" {
		return `""`
	}
	for i := 0; i < len(v); i++ {
		if !isTokenChar(v[i]) {
			return quote(v)
		}
	}
	return v
}

// quote makes a quoted-string; control characters become spaces so a
// detail can never break the header line.
func quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// AuthservID returns the authserv-id an Authentication-Results value
// claims (RFC 8601 §2.2: the first value after optional CFWS), unquoted,
// and false when it has none.
func AuthservID(headerValue string) (string, bool) {
	s := skipCFWS(headerValue)
	if s == "" {
		return "", false
	}
	if s[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				return b.String(), true
			default:
				b.WriteByte(s[i])
			}
		}
		return "", false // unterminated
	}
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", false
	}
	return s[:i], true
}

// ClaimsID reports whether an incoming Authentication-Results value claims
// authservID (compared case-insensitively, RFC 8601 §2.5). The milter
// removes such fields: only we may speak for our authserv-id (§5).
func ClaimsID(headerValue, authservID string) bool {
	id, ok := AuthservID(headerValue)
	return ok && strings.EqualFold(strings.TrimSuffix(id, "."), strings.TrimSuffix(authservID, "."))
}

// skipCFWS drops leading whitespace, line folding and (nested) comments
// with quoted-pairs (RFC 5322 §3.2.2).
func skipCFWS(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" || s[0] != '(' {
			return s
		}
		depth := 0
		i := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if depth != 0 || i >= len(s) {
			return "" // unterminated comment: no authserv-id
		}
		s = s[i+1:]
	}
}
