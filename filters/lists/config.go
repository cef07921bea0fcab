package lists

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/vigilmail/vigil/filters"
)

// Match is what a list compares its entries with (the `match:` key).
type Match string

const (
	// MatchIP: the connecting client's address. Entries are addresses or
	// CIDR prefixes, IPv4 and IPv6.
	MatchIP Match = "ip"
	// MatchHelo: the HELO/EHLO name. Authenticated when SPF passed for the
	// HELO identity (RFC 7208 §2.3) or it is the client's verified reverse
	// DNS name.
	MatchHelo Match = "helo"
	// MatchEnvFrom: the MAIL FROM address (RFC 5321 §4.1.1.2).
	// Authenticated when SPF passed for its domain.
	MatchEnvFrom Match = "env_from"
	// MatchEnvFromDomain: the MAIL FROM domain. Authenticated when SPF
	// passed for it (RFC 7208 §2.4).
	MatchEnvFromDomain Match = "env_from_domain"
	// MatchFrom: the From addresses (RFC 5322 §3.6.2). Authenticated when
	// their domain is (see MatchFromDomain).
	MatchFrom Match = "from"
	// MatchFromDomain: the From domains. Authenticated when DMARC passed
	// for the domain, or a DKIM signature of the domain, or of a domain
	// aligned with it (RFC 7489 §3.1.1), passed.
	MatchFromDomain Match = "from_domain"
	// MatchDKIMDomain: the d= of the DKIM signatures. Authenticated: the
	// signature passed (RFC 6376 §6.1).
	MatchDKIMDomain Match = "dkim_domain"
	// MatchRcpt: each envelope recipient address; the list counts for
	// the recipients it matches.
	MatchRcpt Match = "rcpt"
	// MatchRcptDomain: each envelope recipient's domain; likewise.
	MatchRcptDomain Match = "rcpt_domain"
	// MatchURLDomain: the hosts of the message's links and images and of
	// where followed links led.
	MatchURLDomain Match = "url_domain"
	// MatchNSName: the nameserver host names behind the sender and
	// linked domains (the nameservers check).
	MatchNSName Match = "ns_name"
)

// Matches lists every match, in the order the documentation gives them.
var Matches = []Match{MatchIP, MatchHelo, MatchEnvFrom, MatchEnvFromDomain, MatchFrom, MatchFromDomain,
	MatchDKIMDomain, MatchRcpt, MatchRcptDomain, MatchURLDomain, MatchNSName}

// sender reports a match on an identity the sender claims, which a
// forger can claim too: it matches an allow list only when
// authentication proved it (List.Authenticated).
func (m Match) sender() bool {
	switch m {
	case MatchHelo, MatchEnvFrom, MatchEnvFromDomain, MatchFrom, MatchFromDomain, MatchDKIMDomain:
		return true
	}
	return false
}

// content reports a match on what the message links to: anyone can put
// a link in a message.
func (m Match) content() bool { return m == MatchURLDomain || m == MatchNSName }

// recipient reports a match on the envelope recipients: the list's
// symbol counts for the recipients it matched (filters.Symbol.Rcpt).
func (m Match) recipient() bool { return m == MatchRcpt || m == MatchRcptDomain }

// entryKind is how the entries of a match are written.
func (m Match) entryKind() entryKind {
	switch m {
	case MatchIP:
		return kindIP
	case MatchEnvFrom, MatchFrom, MatchRcpt:
		return kindAddress
	}
	return kindDomain
}

// List is one entry of the top-level `lists:` configuration list: a map
// of entries whose name is the symbol it reports.
type List struct {
	// Name is the symbol reported when the list matches (upper-case
	// letters, digits and _); `scores:` can override its score.
	Name string `yaml:"name"`
	// Match is what the entries are compared with: ip, helo, env_from,
	// env_from_domain, from, from_domain, dkim_domain, rcpt, rcpt_domain,
	// url_domain or ns_name.
	Match Match `yaml:"match"`
	// Entries are the entries written in the configuration: addresses or CIDR
	// prefixes for ip; for address matches (env_from, from, rcpt) an
	// address, or a domain (written "@domain" or "domain") for every
	// address in it; domains for the others. A domain matches itself and
	// its subdomains.
	Entries []string `yaml:"entries"`
	// File holds more entries, one per line, # starts a comment. It is
	// read again when it changes; a bad line is logged with the file and
	// line and skipped at start, and a file with a bad line on reload
	// leaves the list as it was. Default: none.
	File string `yaml:"file"`
	// Action is allow (accept the message, headers still added and every
	// check still reported), deny (reject it with the list's name as the
	// reason) or score (add the symbol with its score). Default score.
	Action filters.ListAction `yaml:"action"`
	// Score is the symbol's score: what a score list adds, and for allow
	// and deny lists the score shown (the list decides the action).
	// Default 0.
	Score float64 `yaml:"score"`
	// Authenticated: a sender identity (helo, env_from, env_from_domain,
	// from, from_domain, dkim_domain) matches only when SPF, DKIM or
	// DMARC proved it. Default true for allow lists and for score lists
	// with a negative score, so that a forged identity can neither be let
	// in nor lower a score; false otherwise (a deny list refuses a name
	// whoever claims it). false on an allow list must be written out.
	Authenticated *bool `yaml:"authenticated"`
}

// action is the list's action with its default.
func (l List) action() filters.ListAction {
	if l.Action == "" {
		return filters.ListScore
	}
	return l.Action
}

// authenticated is whether a sender identity must be proven to match.
func (l List) authenticated() bool {
	if l.Authenticated != nil {
		return *l.Authenticated
	}
	return l.action() == filters.ListAllow || (l.action() == filters.ListScore && l.Score < 0)
}

// Config is the lists check's configuration: the top-level `lists:`.
type Config struct {
	Lists []List
}

var symbolName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// Validate checks every list and its inline entries; errors name the key
// ("lists[2].entries[5]: ..."). taken names symbols of other checks that
// a list must not reuse (the catalogue and the blocklists).
func Validate(lists []List, taken func(name string) (owner string, ok bool)) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	seen := map[string]int{}
	for i, l := range lists {
		key := fmt.Sprintf("lists[%d]", i)
		switch {
		case !symbolName.MatchString(l.Name):
			bad("%s.name: %q must be upper-case letters, digits and _ (it is the symbol)", key, l.Name)
		case seen[l.Name] > 0:
			bad("%s.name: %q is already the name of lists[%d]", key, l.Name, seen[l.Name]-1)
		default:
			seen[l.Name] = i + 1
			if taken != nil {
				if owner, ok := taken(l.Name); ok {
					bad("%s.name: %q is already a symbol of %s", key, l.Name, owner)
				}
			}
		}
		known := false
		for _, m := range Matches {
			known = known || l.Match == m
		}
		if !known {
			bad("%s.match: %q: want ip, helo, env_from, env_from_domain, from, from_domain, dkim_domain, rcpt, rcpt_domain, url_domain or ns_name", key, l.Match)
			continue
		}
		switch l.action() {
		case filters.ListAllow, filters.ListDeny, filters.ListScore:
		default:
			bad("%s.action: %q: want allow, deny or score", key, l.Action)
		}
		if l.Score < -100 || l.Score > 100 {
			bad("%s.score: %v: out of range -100..100", key, l.Score)
		}
		// Anyone can put a link in a message: allowing mail by what it
		// links to would let every spammer in. A negative score list is
		// the way to favour a link.
		if l.action() == filters.ListAllow && l.Match.content() {
			bad("%s.action: allow: a list on %s cannot allow mail (any sender can link anything); use action: score with a negative score", key, l.Match)
		}
		if l.Authenticated != nil && !l.Match.sender() {
			bad("%s.authenticated: %v: only sender identities (helo, env_from, env_from_domain, from, from_domain, dkim_domain) are authenticated; %s is not one", key, *l.Authenticated, l.Match)
		}
		if len(l.Entries) == 0 && l.File == "" {
			bad("%s: no entries and no file", key)
		}
		s := newSet()
		for j, e := range l.Entries {
			if err := s.add(l.Match.entryKind(), e); err != nil {
				bad("%s.entries[%d]: %q: %v", key, j, e, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("lists: %w", errors.Join(errs...))
	}
	return nil
}
