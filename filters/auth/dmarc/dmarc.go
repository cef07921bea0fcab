// Package dmarc is the "dmarc" check (stage policy): RFC 7489 Domain-based
// Message Authentication, Reporting and Conformance, with the np= tag of
// RFC 9091. It reads the SPF and DKIM facts of stage auth, discovers the
// policy of the RFC5322.From domain (falling back to its organizational
// domain from the Public Suffix List, ICANN section), checks identifier
// alignment and reports the result and the policy. By default a failing
// message whose policy is reject or quarantine (after pct) carries a forced
// action; with enforce off it is only scored.
package dmarc

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/mail"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
)

// Result is the DMARC result (RFC 7489 §11.2, RFC 8601 §2.7.5).
type Result string

const (
	Pass      Result = "pass"      // an aligned SPF or DKIM identifier passed
	Fail      Result = "fail"      // a policy exists and nothing aligned passed
	None      Result = "none"      // no policy record was found
	TempError Result = "temperror" // DNS failure during policy discovery or of an aligned check
	PermError Result = "permerror" // unusable record, or no usable From domain
)

// Policy is a requested disposition (RFC 7489 §6.3 p=).
type Policy string

const (
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

// Symbol names and default scores: a failure with p=reject weighs heavily
// on its own, so that even with enforce off it usually reaches the reject
// threshold.
var (
	Symbols = map[Result]string{
		Pass: "DMARC_PASS", Fail: "DMARC_FAIL", None: "DMARC_NONE",
		TempError: "DMARC_TEMPERROR", PermError: "DMARC_PERMERROR",
	}
	Scores = map[Result]float64{
		Pass: -1.0, Fail: 2.0, None: 0, TempError: 0, PermError: 0.5,
	}
	PolicySymbols = map[Policy]string{
		PolicyNone: "DMARC_POLICY_NONE", PolicyQuarantine: "DMARC_POLICY_QUARANTINE", PolicyReject: "DMARC_POLICY_REJECT",
	}
	PolicyScores = map[Policy]float64{
		PolicyNone: 0, PolicyQuarantine: 3.0, PolicyReject: 8.0,
	}
)

// Config is the auth.dmarc section.
type Config struct {
	// Enforce turns a failing p=reject into a forced reject and
	// p=quarantine into a forced quarantine (default true). When false the
	// policy is only scored.
	Enforce bool `yaml:"enforce"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{Enforce: true} }

// Check is the "dmarc" check.
type Check struct {
	resolver dnsrep.StdResolver
	cfg      Config
	// trusted decides whether a validated ARC chain may override a
	// failure (nil: never).
	trusted func(m *filters.Message) (string, bool)
	// sample returns an integer in [0,100) for pct sampling of m.
	sample func(m *filters.Message, domain string) int
}

// New returns the "dmarc" check. trustedARC, when not nil, reports whether
// the message's validated ARC chain comes from a trusted forwarder that saw
// DMARC pass (see package arc), and which sealer that was.
func New(r dnsrep.StdResolver, cfg Config, trustedARC func(m *filters.Message) (string, bool)) *Check {
	return &Check{resolver: r, cfg: cfg, trusted: trustedARC, sample: Sample}
}

// Sample is the pct draw for m (RFC 7489 §6.6.4): a hash of the message's
// identity rather than a random number, so `vigil check` and the milter,
// and a retried delivery, make the same choice for the same message while
// distinct messages spread evenly over 0..99.
func Sample(m *filters.Message, domain string) int {
	h := fnv.New32a()
	for _, k := range []string{"Message-ID", "Date", "Subject"} {
		h.Write([]byte(m.Header(k)))
		h.Write([]byte{0})
	}
	h.Write([]byte(domain))
	return int(h.Sum32() % 100)
}

var _ filters.Check = (*Check)(nil)

// Name implements filters.Check.
func (c *Check) Name() string { return "dmarc" }

// Evaluation is the full outcome for one message.
type Evaluation struct {
	Result Result
	// Domain is the RFC5322.From domain evaluated (the failing one when
	// there were several).
	Domain string
	// Policy is the published policy that applies to Domain (p, sp or np).
	Policy Policy
	// Applied is the disposition after pct sampling, for failures only.
	Applied Policy
	// Override names the trusted ARC sealer that overrode a failure.
	Override string
	Detail   string
}

// Run evaluates DMARC and writes m.Facts.Auth.DMARC.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	ev := c.Evaluate(ctx, m)
	m.Facts.Auth.DMARC = filters.DMARCResult{
		Result: string(ev.Result), Policy: string(ev.Policy), Domain: ev.Domain, Detail: ev.Detail,
	}
	detail := ev.Domain
	if ev.Detail != "" {
		detail += ": " + ev.Detail
	}
	main := filters.Symbol{Name: Symbols[ev.Result], Score: Scores[ev.Result], Detail: detail}
	syms := []filters.Symbol{main}
	if ev.Result == TempError {
		// RFC 7489 §6.6.3 and §6.7: policy discovery or an aligned check
		// failed for now; tempfail when policy.fail_closed lists "dmarc".
		return syms, fmt.Errorf("dmarc: %w: %s", filters.ErrIncomplete, detail)
	}
	if ev.Result != Fail {
		return syms, nil
	}
	ps := filters.Symbol{Name: PolicySymbols[ev.Applied], Score: PolicyScores[ev.Applied], Detail: detail}
	if ev.Override != "" {
		// RFC 7489 §6.7: a local policy may override the domain's; the
		// failure stays visible but weighs nothing.
		syms[0].Score = 0
		ps = filters.Symbol{Name: PolicySymbols[PolicyNone], Detail: detail}
	} else if c.cfg.Enforce {
		switch ev.Applied {
		case PolicyReject:
			ps.Force = filters.Reject
		case PolicyQuarantine:
			ps.Force = filters.Quarantine
		}
	}
	return append(syms, ps), nil
}

// MaxFromDomains bounds the From domains evaluated (two lookups each); a
// message with more is permerror.
const MaxFromDomains = 10

// Evaluate applies RFC 7489 §6.6 to m using the SPF and DKIM facts.
func (c *Check) Evaluate(ctx context.Context, m *filters.Message) Evaluation {
	domains, err := FromDomains(m)
	if err == nil && len(domains) > MaxFromDomains {
		err = fmt.Errorf("dmarc: %d From domains, more than %d (RFC 7489 §6.6.1)", len(domains), MaxFromDomains)
	}
	if err != nil {
		// RFC 7489 §6.6.1: without a usable From domain there is nothing
		// to evaluate; such messages are typically rejected, which we
		// leave to the score.
		return Evaluation{Result: PermError, Detail: err.Error()}
	}
	// §6.6.1: with several From domains, evaluate each and keep the
	// strictest failing policy.
	var worst *Evaluation
	for _, d := range domains {
		ev := c.evaluateDomain(ctx, m, d)
		if len(domains) > 1 {
			ev.Detail = strings.TrimPrefix(ev.Detail+"; several From domains", "; ")
		}
		if worst == nil || rank(ev) > rank(*worst) {
			e := ev
			worst = &e
		}
	}
	if worst.Result == Fail && c.trusted != nil {
		if sealer, ok := c.trusted(m); ok {
			worst.Override = sealer
			worst.Detail = strings.TrimPrefix(worst.Detail+"; overridden: ARC pass from trusted sealer "+sealer, "; ")
		}
	}
	return *worst
}

// rank orders evaluations so the strictest outcome wins across From domains.
func rank(e Evaluation) int {
	switch e.Result {
	case Fail:
		switch e.Applied {
		case PolicyReject:
			return 7
		case PolicyQuarantine:
			return 6
		}
		return 5
	case TempError:
		return 4
	case PermError:
		return 3
	case None:
		return 2
	}
	return 1 // pass
}

func (c *Check) evaluateDomain(ctx context.Context, m *filters.Message, from string) Evaluation {
	ev := Evaluation{Domain: from}
	org := OrganizationalDomain(from)
	rec, at, err := c.discover(ctx, from, org)
	switch {
	case errors.Is(err, errTemp):
		ev.Result, ev.Detail = TempError, err.Error()
		return ev
	case errors.Is(err, errNoRecord):
		ev.Result, ev.Detail = None, "no DMARC record"
		return ev
	case errors.Is(err, errMultiple):
		ev.Result, ev.Detail = None, err.Error()
		return ev
	case err != nil:
		ev.Result, ev.Detail = PermError, err.Error()
		return ev
	}

	ev.Policy = rec.p
	if at != from {
		// §6.3: sp applies to subdomains when the record was found at the
		// organizational domain; RFC 9091 §4.1: np applies when the
		// subdomain does not exist.
		ev.Policy = rec.sp
		if rec.np != "" && c.nonExistent(ctx, from) {
			ev.Policy = rec.np
		}
	}

	spf := m.Facts.Auth.SPF
	spfAligned := aligned(spf.Domain, from, org, rec.aspf)
	if spf.Result == "pass" && spfAligned {
		ev.Result, ev.Detail = Pass, "spf aligned ("+spf.Domain+")"
		return ev
	}
	var temp []string
	if spf.Result == "temperror" && spfAligned {
		temp = append(temp, "spf")
	}
	for _, d := range m.Facts.Auth.DKIM {
		if !aligned(d.Domain, from, org, rec.adkim) {
			continue
		}
		if d.Result == "pass" {
			ev.Result, ev.Detail = Pass, "dkim aligned ("+d.Domain+")"
			return ev
		}
		if d.Result == "temperror" {
			temp = append(temp, "dkim "+d.Domain)
		}
	}
	if len(temp) > 0 {
		// An aligned identifier could not be checked for now: do not fail
		// (and possibly reject) on a transient DNS error.
		ev.Result, ev.Detail = TempError, "aligned check temperror: "+strings.Join(temp, ", ")
		return ev
	}
	ev.Result, ev.Detail = Fail, "no aligned spf or dkim pass"
	// §6.6.4: pct selects which failures get the policy; the others get
	// the next weaker one (reject becomes quarantine, quarantine none).
	ev.Applied = ev.Policy
	if rec.pct < 100 && c.sample(m, from) >= rec.pct {
		switch ev.Policy {
		case PolicyReject:
			ev.Applied = PolicyQuarantine
		case PolicyQuarantine:
			ev.Applied = PolicyNone
		}
		ev.Detail += fmt.Sprintf("; not selected by pct=%d", rec.pct)
	}
	return ev
}

// aligned applies RFC 7489 §3.1.1 / §3.1.2: strict needs the same domain,
// relaxed the same organizational domain.
func aligned(id, from, fromOrg string, mode byte) bool {
	id = strings.ToLower(strings.TrimSuffix(id, "."))
	if id == "" {
		return false
	}
	if mode == 's' {
		return id == from
	}
	return OrganizationalDomain(id) == fromOrg
}

var (
	errTemp     = errors.New("dmarc: temporary DNS error")
	errNoRecord = errors.New("dmarc: no record")
	errMultiple = errors.New("dmarc: several records")
)

// discover runs policy discovery (§6.6.3): the record at _dmarc.<from>,
// else at _dmarc.<org>. It returns the record and the domain it was found at.
func (c *Check) discover(ctx context.Context, from, org string) (*record, string, error) {
	rec, err := c.fetch(ctx, from)
	if errors.Is(err, errNoRecord) && org != from {
		rec, err = c.fetch(ctx, org)
		return rec, org, err
	}
	return rec, from, err
}

func (c *Check) fetch(ctx context.Context, domain string) (*record, error) {
	txts, err := c.resolver.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		var derr *net.DNSError
		if errors.As(err, &derr) && derr.IsNotFound {
			return nil, errNoRecord
		}
		// SERVFAIL, timeouts and anything unclassified are temporary:
		// never read as "no policy".
		return nil, fmt.Errorf("%w: _dmarc.%s: %v", errTemp, domain, err)
	}
	var recs []string
	for _, t := range txts {
		// §6.6.3 step 3: records that do not start with v=DMARC1 are discarded.
		tt := strings.TrimLeft(t, " \t")
		if strings.HasPrefix(tt, "v=DMARC1") {
			rest := strings.TrimLeft(tt[len("v=DMARC1"):], " \t")
			if rest == "" || rest[0] == ';' {
				recs = append(recs, tt)
			}
		}
	}
	switch len(recs) {
	case 0:
		return nil, errNoRecord
	case 1:
	default:
		// §6.6.3 step 4: several records end policy discovery: no DMARC
		// processing, and no fallback to the organizational domain.
		return nil, fmt.Errorf("%w: %d at _dmarc.%s", errMultiple, len(recs), domain)
	}
	rec, err := parseRecord(recs[0])
	if err != nil {
		return nil, fmt.Errorf("dmarc: _dmarc.%s: %w", domain, err)
	}
	return rec, nil
}

// record is the part of a DMARC record (§6.3, RFC 9091 §4) evaluation needs.
type record struct {
	p, sp, np   Policy
	adkim, aspf byte // 'r' or 's'
	pct         int
}

func parsePolicy(v string) (Policy, bool) {
	// Tag values are case-insensitive in practice; the go-msgauth parser
	// refusing "p=Reject" is the bug this package works around.
	switch p := Policy(strings.ToLower(v)); p {
	case PolicyNone, PolicyQuarantine, PolicyReject:
		return p, true
	}
	return "", false
}

var validURI = regexp.MustCompile(`(?i)^mailto:[^@\s]+@[^@\s]+$`)

func parseRecord(s string) (*record, error) {
	r := &record{adkim: 'r', aspf: 'r', pct: 100}
	tags := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue // §6.4: unknown or malformed tags are ignored
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := tags[k]; !dup {
			tags[k] = strings.TrimSpace(v)
		}
	}
	var pOK, spOK bool
	r.p, pOK = parsePolicy(tags["p"])
	if v, ok := tags["sp"]; ok {
		r.sp, spOK = parsePolicy(v)
	} else {
		r.sp, spOK = r.p, pOK
	}
	if !pOK || !spOK {
		// §6.6.3 step 6: an invalid p or sp with a valid rua means p=none;
		// otherwise no DMARC processing.
		for _, u := range strings.Split(tags["rua"], ",") {
			u, _, _ = strings.Cut(strings.TrimSpace(u), "!")
			if validURI.MatchString(u) {
				r.p, r.sp = PolicyNone, PolicyNone
				return r, nil
			}
		}
		return nil, fmt.Errorf("invalid or missing p= / sp= (%q / %q)", tags["p"], tags["sp"])
	}
	if v, ok := tags["np"]; ok {
		if p, ok := parsePolicy(v); ok {
			r.np = p
		}
	}
	for _, a := range []struct {
		tag string
		dst *byte
	}{{"adkim", &r.adkim}, {"aspf", &r.aspf}} {
		switch strings.ToLower(tags[a.tag]) {
		case "s":
			*a.dst = 's'
		case "r", "":
		default:
			return nil, fmt.Errorf("invalid %s=%q", a.tag, tags[a.tag])
		}
	}
	if v, ok := tags["pct"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			return nil, fmt.Errorf("invalid pct=%q", v)
		}
		r.pct = n
	}
	return r, nil
}

// nonExistent applies RFC 9091 §2.1: a domain with NXDOMAIN or NODATA for
// A, AAAA and MX. A DNS error counts as existing (sp applies).
func (c *Check) nonExistent(ctx context.Context, d string) bool {
	notFound := func(err error) bool {
		var derr *net.DNSError
		return errors.As(err, &derr) && derr.IsNotFound
	}
	if _, err := c.resolver.LookupIPAddr(ctx, d); !notFound(err) {
		return false
	}
	_, err := c.resolver.LookupMX(ctx, d)
	return notFound(err)
}

// OrganizationalDomain is RFC 7489 §3.2 with the ICANN section of the
// Public Suffix List: the public suffix plus one label. Private-section
// rules (e.g. blogspot.com) are ignored.
func OrganizationalDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	suffix := icannSuffix(d)
	if suffix == d || suffix == "" {
		return d
	}
	rest := strings.TrimSuffix(d, "."+suffix)
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest + "." + suffix
}

func icannSuffix(d string) string {
	s, icann := publicsuffix.PublicSuffix(d)
	for !icann {
		// A private rule matched (or none, giving the last label): retry
		// one label shorter until an ICANN rule or a single label is left.
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return s
		}
		s, icann = publicsuffix.PublicSuffix(s[i+1:])
	}
	return s
}

var atDomain = regexp.MustCompile(`@([A-Za-z0-9._-]+)`)

// FromDomains returns the distinct RFC5322.From domains, lower-cased and
// sorted. A From field that does not parse is not a way around DMARC: every
// "@domain" in it is taken (§6.6.1 lets receivers evaluate all of them).
func FromDomains(m *filters.Message) ([]string, error) {
	vals := m.HeaderValues("From")
	if len(vals) == 0 {
		return nil, errors.New("dmarc: no From header field (RFC 7489 §6.6.1)")
	}
	set := map[string]bool{}
	for _, v := range vals {
		addrs, err := mail.ParseAddressList(v)
		if err == nil {
			for _, a := range addrs {
				if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
					set[strings.ToLower(strings.TrimSuffix(a.Address[i+1:], "."))] = true
				}
			}
			continue
		}
		for _, mm := range atDomain.FindAllStringSubmatch(v, -1) {
			set[strings.ToLower(strings.TrimSuffix(mm[1], "."))] = true
		}
	}
	delete(set, "")
	if len(set) == 0 {
		return nil, errors.New("dmarc: no domain in From (RFC 7489 §6.6.1)")
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}
