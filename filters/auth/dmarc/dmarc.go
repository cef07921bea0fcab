// Package dmarc is the "dmarc" check: RFC 7489 Domain-based
// Message Authentication, Reporting and Conformance, with the np= tag of
// RFC 9091. It reads the SPF and DKIM facts, discovers the
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
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/urlcheck"
)

// Result is the DMARC result (filters.DMARCStatus, named here as the
// check uses it).
type Result = filters.DMARCStatus

const (
	Pass      = filters.DMARCPass
	Fail      = filters.DMARCFail
	None      = filters.DMARCNone
	TempError = filters.DMARCTempError
	PermError = filters.DMARCPermError
)

// Policy is a requested disposition (filters.DMARCPolicy).
type Policy = filters.DMARCPolicy

const (
	PolicyNone       = filters.DMARCPolicyNone
	PolicyQuarantine = filters.DMARCPolicyQuarantine
	PolicyReject     = filters.DMARCPolicyReject
)

// Name is the check's name.
const Name = "dmarc"

// Symbols names the symbol of each result, PolicySymbols that of each
// applied policy.
var (
	Symbols = map[Result]string{
		Pass: "DMARC_PASS", Fail: "DMARC_FAIL", None: "DMARC_NONE",
		TempError: "DMARC_TEMPERROR", PermError: "DMARC_PERMERROR",
	}
	PolicySymbols = map[Policy]string{
		PolicyNone: "DMARC_POLICY_NONE", PolicyQuarantine: "DMARC_POLICY_QUARANTINE", PolicyReject: "DMARC_POLICY_REJECT",
	}
)

// Spec declares the check and its symbols: the result, and with a failure
// the policy applied. A failure with p=reject weighs heavily on its own, so
// that even with enforce off it usually reaches the reject threshold.
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "auth.dmarc",
	Symbols: []filters.SymbolSpec{
		{Name: Symbols[Pass], Score: -1.0, Doc: "an aligned SPF or DKIM identifier passed (RFC 7489 §3.1)"},
		{Name: Symbols[Fail], Score: 2.0, Doc: "a policy exists and nothing aligned passed"},
		{Name: Symbols[None], Score: 0, Doc: "no DMARC record for the From domain or its organizational domain"},
		{Name: Symbols[TempError], Score: 0, State: true, Doc: "a DNS failure during policy discovery or of an aligned check"},
		{Name: Symbols[PermError], Score: 0.5, Doc: "an unusable record, or no usable From domain"},
		{Name: PolicySymbols[PolicyReject], Score: 8.0, Doc: "with DMARC_FAIL: p=reject applies; forces reject when auth.dmarc.enforce"},
		{Name: PolicySymbols[PolicyQuarantine], Score: 3.0, Doc: "with DMARC_FAIL: p=quarantine applies; forces quarantine when auth.dmarc.enforce"},
		{Name: PolicySymbols[PolicyNone], Score: 0, Doc: "with DMARC_FAIL: p=none, a pct downgrade, or a trusted ARC sealer's override"},
	},
})

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

// Deps are the check's collaborators.
type Deps struct {
	// Resolver finds the policies. Required.
	Resolver dnsrep.StdResolver
	// TrustedARC, when not nil, reports whether the message's validated ARC
	// chain comes from a trusted forwarder that saw DMARC pass (see package
	// arc), and which sealer that was.
	TrustedARC func(m *filters.Message) (string, bool)
}

// New returns the "dmarc" check.
func New(cfg Config, deps Deps) (*Check, error) {
	if deps.Resolver == nil {
		return nil, errors.New("dmarc: no resolver")
	}
	return &Check{resolver: deps.Resolver, cfg: cfg, trusted: deps.TrustedARC, sample: Sample}, nil
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
func (c *Check) Name() string { return Name }

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
		Result: ev.Result, Policy: ev.Policy, Domain: ev.Domain, Detail: ev.Detail,
	}
	if ev.Domain != "" {
		m.Facts.Auth.DMARC.OrgDomain = OrganizationalDomain(ev.Domain)
	}
	detail := ev.Domain
	if ev.Detail != "" {
		detail += ": " + ev.Detail
	}
	main := Spec.Symbol(Symbols[ev.Result], detail)
	syms := []filters.Symbol{main}
	if ev.Result == TempError {
		// RFC 7489 §6.6.3 and §6.7: policy discovery or an aligned check
		// failed for now; tempfail when policy.fail_closed lists "dmarc".
		return syms, fmt.Errorf("dmarc: %w: %s", filters.ErrIncomplete, detail)
	}
	if ev.Result != Fail {
		return syms, nil
	}
	ps := Spec.Symbol(PolicySymbols[ev.Applied], detail)
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
	if spf.Result == filters.SPFPass && spfAligned {
		ev.Result, ev.Detail = Pass, "spf aligned ("+spf.Domain+")"
		return ev
	}
	var temp []string
	if spf.Result == filters.SPFTempError && spfAligned {
		temp = append(temp, "spf")
	}
	for _, d := range m.Facts.Auth.DKIM {
		if !aligned(d.Domain, from, org, rec.adkim) {
			continue
		}
		if d.Result == filters.DKIMPass {
			ev.Result, ev.Detail = Pass, "dkim aligned ("+d.Domain+")"
			return ev
		}
		if d.Result == filters.DKIMTempError {
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

// OrganizationalDomain is RFC 7489 §3.2: the registrable domain of d in
// the ICANN section of the Public Suffix List (urlcheck.Registry says
// why). A public suffix, or a name without one, is its own organizational
// domain, so that two such names align only when equal.
func OrganizationalDomain(d string) string {
	if org := urlcheck.RegistrableDomain(d, urlcheck.Registry); org != "" {
		return org
	}
	return strings.ToLower(strings.TrimSuffix(d, "."))
}

// FromDomains returns the distinct RFC5322.From domains, sorted. A From
// field that does not parse is not a way around DMARC: every "@domain" in
// it counts (§6.6.1 lets receivers evaluate all of them; the identity view
// reads such fields that way).
func FromDomains(m *filters.Message) ([]string, error) {
	id := m.Identities()
	if id.FromFields == 0 {
		return nil, errors.New("dmarc: no From header field (RFC 7489 §6.6.1)")
	}
	set := map[string]bool{}
	for _, a := range id.From {
		set[a.Domain] = true
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
