// Package lists is the "lists" check: the operator's own allow, deny and
// score lists (rspamd's multimap, SpamAssassin's whitelist_auth). Each
// list compares one thing about the message (the client address, a sender
// identity, a recipient, a link's domain, a nameserver) with its entries,
// and reports its name as the symbol. A sender identity on an allow list
// matches only when authentication proved it, so a forged From of an
// allowed domain is never allowed. List files are read again when they
// change.
package lists

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/dmarc"
)

// Name is the check's name.
const Name = "lists"

// Placeholder is the family placeholder of the lists' symbols in the
// catalogue: filters.Catalogue(map[string][]string{Placeholder: names}).
const Placeholder = "NAME"

// Spec declares the check and its symbol family.
var Spec = filters.Declare(filters.CheckSpec{Name: Name, Config: "lists", Symbols: []filters.SymbolSpec{
	{Name: "<" + Placeholder + ">", ScoreDoc: "the list's score",
		Doc: "one of the lists: matched (the symbol is the list's name): allow accepts the message, deny rejects it with the list's name as the reason, score adds the score; the detail says what matched which entry, and how it was authenticated"},
}})

// DefaultPoll is how often list files are checked for changes.
const DefaultPoll = time.Second

// maxLogged bounds the bad lines logged per file and load.
const maxLogged = 20

// Deps are the check's collaborators.
type Deps struct {
	Log *slog.Logger
	// Poll is how often Watch looks at the list files; 0 is DefaultPoll.
	Poll time.Duration
}

// Check is the "lists" check.
type Check struct {
	lists []*list
	log   *slog.Logger
	poll  time.Duration

	// Reloads and ReloadsRefused count list files read again after a
	// change, and changed files refused for a bad line (metrics:
	// vigil_lists_reloads_total, vigil_lists_reloads_refused_total).
	Reloads        atomic.Int64
	ReloadsRefused atomic.Int64
}

var _ filters.Check = (*Check)(nil)

// list is one configured list and its current entries.
type list struct {
	cfg List
	cur atomic.Pointer[set]
	// What Watch knows of the file: the stamp of the content in use (or
	// refused) and the one seen at the previous poll; only Watch's
	// goroutine touches them.
	loaded, seen fileStamp
	statErr      string
}

// New loads every list: its entries, and its file. A file that cannot be
// read is an error (a deny list that silently lost its file would let
// everything through); a bad line in it is logged with the file and line,
// and skipped.
func New(cfg Config, deps Deps) (*Check, error) {
	if err := Validate(cfg.Lists, nil); err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Poll <= 0 {
		deps.Poll = DefaultPoll
	}
	c := &Check{log: deps.Log, poll: deps.Poll}
	for i, lc := range cfg.Lists {
		l := &list{cfg: lc}
		if lc.File != "" {
			st, err := stampOf(lc.File)
			if err != nil {
				return nil, fmt.Errorf("lists: lists[%d].file: %w", i, err)
			}
			l.loaded, l.seen = st, st
		}
		s, bad, err := l.build()
		if err != nil {
			return nil, fmt.Errorf("lists: lists[%d].file: %w", i, errors.Unwrap(err))
		}
		c.logBad(l, bad, "skipped")
		l.cur.Store(s)
		c.lists = append(c.lists, l)
	}
	return c, nil
}

// build reads the list's entries and file into a new set.
func (l *list) build() (*set, []LineError, error) {
	s := newSet()
	kind := l.cfg.Match.entryKind()
	for _, e := range l.cfg.Entries {
		_ = s.add(kind, e) // validated with the configuration
	}
	if l.cfg.File == "" {
		return s, nil, nil
	}
	bad, err := readEntries(l.cfg.File, kind, s)
	return s, bad, err
}

func (c *Check) logBad(l *list, bad []LineError, what string) {
	for i, b := range bad {
		if i == maxLogged {
			c.log.Warn("lists: more bad lines", "list", l.cfg.Name, "file", l.cfg.File, "more", len(bad)-maxLogged)
			break
		}
		c.log.Warn("lists: bad entry "+what, "list", l.cfg.Name, "at", fmt.Sprintf("%s:%d", b.File, b.Line), "entry", b.Entry, "err", b.Err.Error())
	}
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Entries returns the number of entries of each list (for metrics).
func (c *Check) Entries() map[string]int {
	out := make(map[string]int, len(c.lists))
	for _, l := range c.lists {
		out[l.cfg.Name] = l.cur.Load().Len()
	}
	return out
}

// Watch reads a list file again once it changed and stayed unchanged for
// one poll (an editor or a copy caught half-written is not read), until
// ctx ends. A file with a bad line, or one that cannot be read, leaves the
// list as it was and is logged with the file and line; it is read again
// when it changes again.
func (c *Check) Watch(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("lists: watch panicked; list files are no longer read on change", "panic", fmt.Sprint(r))
		}
	}()
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.pollFiles()
		}
	}
}

func (c *Check) pollFiles() {
	for _, l := range c.lists {
		if l.cfg.File == "" {
			continue
		}
		st, err := stampOf(l.cfg.File)
		if err != nil {
			if l.statErr != err.Error() {
				l.statErr = err.Error()
				c.log.Error("lists: cannot read the list file; keeping the list as it was", "list", l.cfg.Name, "file", l.cfg.File, "err", err)
			}
			continue
		}
		l.statErr = ""
		switch {
		case st == l.loaded:
			l.seen = st
			continue
		case st != l.seen:
			// Changed since the last poll: wait until it holds still.
			l.seen = st
			continue
		}
		l.loaded = st
		s, bad, err := l.build()
		switch {
		case err != nil:
			c.ReloadsRefused.Add(1)
			c.log.Error("lists: cannot read the changed list file; keeping the list as it was", "list", l.cfg.Name, "file", l.cfg.File, "err", err)
		case len(bad) > 0:
			c.ReloadsRefused.Add(1)
			c.logBad(l, bad, "in the changed file; keeping the list as it was")
		default:
			l.cur.Store(s)
			c.Reloads.Add(1)
			c.log.Info("lists: list file reloaded", "list", l.cfg.Name, "file", l.cfg.File, "entries", s.Len())
		}
	}
}

// Run implements filters.Check: one symbol per list that matched (per
// recipient it matched, for recipient lists).
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	var out []filters.Symbol
	for _, l := range c.lists {
		out = l.match(m, out)
	}
	return out, nil
}

func (l *list) symbol(detail, rcpt string) filters.Symbol {
	s := filters.Symbol{Name: l.cfg.Name, Score: l.cfg.Score, Detail: detail, List: l.cfg.action(), Rcpt: rcpt}
	if s.List == filters.ListDeny {
		s.Force = filters.Reject
	}
	return s
}

// match appends the list's symbols for m to out.
func (l *list) match(m *filters.Message, out []filters.Symbol) []filters.Symbol {
	s := l.cur.Load()
	// A sender identity must be proven when the list says so: how is
	// the proof ("" when nothing proved it).
	needProof := l.cfg.authenticated() && l.cfg.Match.sender()
	found := func(what, value, entry, how string) []filters.Symbol {
		if needProof && how == "" {
			return out
		}
		d := fmt.Sprintf("%s %s matches %s", what, value, entry)
		if how != "" {
			d += " (" + how + ")"
		}
		return append(out, l.symbol(d, ""))
	}
	id := m.Identities()
	auth := &m.Facts.Auth
	switch l.cfg.Match {
	case MatchIP:
		if p, ok := s.ip(m.Envelope.ClientIP); ok {
			return append(out, l.symbol(fmt.Sprintf("ip %s in %s", m.Envelope.ClientIP.Unmap(), entryPrefix(p)), ""))
		}
	case MatchHelo:
		h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(m.Envelope.Helo), "."))
		if e, ok := s.domain(h); ok {
			return found("helo", h, e, heloProof(m, h))
		}
	case MatchEnvFrom:
		if e, ok := s.address(id.MailFrom); ok {
			return found("env_from", id.MailFrom.String(), e, spfProof(auth, filters.SPFMailFrom, id.MailFrom.Domain))
		}
	case MatchEnvFromDomain:
		if e, ok := s.domain(id.MailFrom.Domain); ok {
			return found("env_from_domain", id.MailFrom.Domain, e, spfProof(auth, filters.SPFMailFrom, id.MailFrom.Domain))
		}
	case MatchFrom, MatchFromDomain:
		for _, a := range id.From {
			var e string
			var ok bool
			if l.cfg.Match == MatchFrom {
				e, ok = s.address(a)
			} else {
				e, ok = s.domain(a.Domain)
			}
			if !ok {
				continue
			}
			what, value := "from", a.String()
			if l.cfg.Match == MatchFromDomain {
				what, value = "from_domain", a.Domain
			}
			return found(what, value, e, fromProof(m, a.Domain))
		}
	case MatchDKIMDomain:
		for _, sig := range auth.DKIM {
			if needProof && sig.Result != filters.DKIMPass {
				continue
			}
			if e, ok := s.domain(strings.ToLower(sig.Domain)); ok {
				how := ""
				if sig.Result == filters.DKIMPass {
					how = "DKIM pass"
				}
				return found("dkim_domain", strings.ToLower(sig.Domain), e, how)
			}
		}
	case MatchRcpt, MatchRcptDomain:
		seen := map[string]bool{}
		for _, r := range m.Envelope.Rcpts {
			k := strings.ToLower(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			var e string
			var ok bool
			if l.cfg.Match == MatchRcpt {
				e, ok = s.address(rcptAddress(r))
			} else {
				e, ok = s.domain(filters.RcptDomain(r))
			}
			if ok {
				out = append(out, l.symbol(fmt.Sprintf("%s %s matches %s", l.cfg.Match, r, e), r))
			}
		}
	case MatchURLDomain, MatchNSName:
		for _, d := range m.Domains() {
			if l.cfg.Match == MatchNSName && d.Role != filters.RoleNameserver ||
				l.cfg.Match == MatchURLDomain && d.Role != filters.RoleLink && d.Role != filters.RoleImage && d.Role != filters.RoleRedirect {
				continue
			}
			if e, ok := s.domain(d.Name); ok {
				detail := fmt.Sprintf("%s %s matches %s", l.cfg.Match, d.Name, e)
				if d.Via != "" {
					detail += " (" + d.Role.String() + " " + d.Via + ")"
				}
				return append(out, l.symbol(detail, ""))
			}
		}
	}
	return out
}

// entryPrefix writes a full-length prefix as the address it is.
func entryPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func rcptAddress(r string) filters.Address {
	r = strings.Trim(strings.TrimSpace(r), "<>")
	i := strings.LastIndexByte(r, '@')
	if i < 0 {
		return filters.Address{Local: r}
	}
	return filters.Address{Local: r[:i], Domain: filters.RcptDomain(r)}
}

// spfProof says how SPF proved the domain dom for the identity (RFC 7208
// §2.3, §2.4), "" when it did not: a pass for that very domain.
func spfProof(a *filters.AuthResults, identity filters.SPFIdentity, dom string) string {
	if dom != "" && a.SPF.Result == filters.SPFPass && a.SPF.Identity == identity && strings.EqualFold(a.SPF.Domain, dom) {
		return "SPF pass"
	}
	return ""
}

// heloProof: SPF passed for the HELO identity, or the name is the
// client's reverse DNS name, which the MTA verified forward and back.
func heloProof(m *filters.Message, h string) string {
	if how := spfProof(&m.Facts.Auth, filters.SPFHelo, h); how != "" {
		return how
	}
	if h != "" && strings.EqualFold(m.Envelope.ClientName, h) {
		return "the client's verified reverse DNS name"
	}
	return ""
}

// fromProof says how the author domain dom was proven, "" when it was
// not. The message must have one From field that parses (RFC 7489
// §6.6.1: several authors, or a From that does not parse, is no
// identity to trust), and every author domain must be proven, so that an
// allowed address next to a forged one lets nothing in: DMARC passed for
// it, or a passing DKIM signature has a d= aligned with it (RFC 7489
// §3.1.1, relaxed: the same organizational domain), which is what DMARC
// would find had the domain published a policy.
func fromProof(m *filters.Message, dom string) string {
	id := m.Identities()
	if id.FromFields != 1 || id.FromMalformed || len(id.From) == 0 {
		return ""
	}
	how := ""
	for _, a := range id.From {
		h := domainProof(&m.Facts.Auth, a.Domain)
		if h == "" {
			return ""
		}
		if strings.EqualFold(a.Domain, dom) {
			how = h
		}
	}
	return how
}

func domainProof(a *filters.AuthResults, dom string) string {
	if dom == "" {
		return ""
	}
	if a.DMARC.Result == filters.DMARCPass && strings.EqualFold(a.DMARC.Domain, dom) {
		return "DMARC pass"
	}
	org := dmarc.OrganizationalDomain(dom)
	for _, sig := range a.DKIM {
		if sig.Result == filters.DKIMPass && strings.EqualFold(dmarc.OrganizationalDomain(sig.Domain), org) {
			return "DKIM pass d=" + strings.ToLower(sig.Domain)
		}
	}
	return ""
}
