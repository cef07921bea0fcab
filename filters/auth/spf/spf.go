// Package spf is the "spf" check: RFC 7208 Sender Policy
// Framework for the MAIL FROM identity, or the HELO identity when MAIL FROM
// is the null reverse-path. Evaluation is blitiri.com.ar/go/spf over our
// resolver, with a full-record syntax check in front of it because the
// library evaluates term by term and is lenient where RFC 7208 says
// permerror.
package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	bspf "blitiri.com.ar/go/spf"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
)

// Result is an RFC 7208 §2.6 result (filters.SPFStatus, named here as
// the check uses it).
type Result = filters.SPFStatus

const (
	Pass      = filters.SPFPass
	Fail      = filters.SPFFail
	SoftFail  = filters.SPFSoftFail
	Neutral   = filters.SPFNeutral
	None      = filters.SPFNone
	TempError = filters.SPFTempError
	PermError = filters.SPFPermError
)

// Name is the check's name.
const Name = "spf"

// Symbols names the symbol of each result.
var Symbols = map[Result]string{
	Pass: "SPF_PASS", Fail: "SPF_FAIL", SoftFail: "SPF_SOFTFAIL", Neutral: "SPF_NEUTRAL",
	None: "SPF_NONE", TempError: "SPF_TEMPERROR", PermError: "SPF_PERMERROR",
}

// Spec declares the check and its symbols: one per message, the result for
// the identity checked (pass slightly negative, fail positive).
var Spec = filters.Declare(filters.CheckSpec{
	Name: Name,
	Symbols: []filters.SymbolSpec{
		{Name: Symbols[Pass], Score: -0.5, Doc: "the client is authorized (RFC 7208 §2.6.3)"},
		{Name: Symbols[Fail], Score: 3.0, Doc: "the client is not authorized (§2.6.4)"},
		{Name: Symbols[SoftFail], Score: 1.5, Doc: "the client is probably not authorized (§2.6.5)"},
		{Name: Symbols[Neutral], Score: 0.2, Doc: "the domain asserts nothing about the client (§2.6.2)"},
		{Name: Symbols[None], Score: 0.5, Doc: "no SPF record, or no valid domain to check (§2.6.1)"},
		{Name: Symbols[TempError], Score: 0, State: true, Doc: "a transient DNS error (§2.6.6)"},
		{Name: Symbols[PermError], Score: 1.0, Doc: "the record could not be interpreted (§2.6.7)"},
	},
})

// Config is the check's configuration: it has no keys.
type Config struct{}

// Deps are the check's collaborators.
type Deps struct {
	// Resolver answers the SPF lookups. Required.
	Resolver dnsrep.StdResolver
}

// Check is the "spf" check.
type Check struct {
	resolver dnsrep.StdResolver
}

var _ filters.Check = (*Check)(nil)

// New returns the "spf" check.
func New(cfg Config, deps Deps) (*Check, error) {
	if deps.Resolver == nil {
		return nil, errors.New("spf: no resolver")
	}
	return &Check{resolver: deps.Resolver}, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Run evaluates SPF and writes m.Facts.Auth.SPF.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	if !m.Envelope.ClientIP.IsValid() {
		// Local submission: there is no client to authorize.
		m.Facts.Auth.SPF = filters.SPFResult{Result: None, Detail: "no client address"}
		return nil, nil
	}
	ev := EvaluateExplained(ctx, c.resolver, m.Envelope.ClientIP, m.Envelope.Helo, m.Envelope.MailFrom)
	res := ev.SPFResult
	if ev.Explanation != "" {
		res.Detail = strings.TrimPrefix(res.Detail+"; explanation: "+ev.Explanation, "; ")
	}
	m.Facts.Auth.SPF = res
	r := Result(res.Result)
	detail := string(res.Identity) + "=" + res.Domain
	if res.Detail != "" {
		detail += ": " + res.Detail
	}
	syms := []filters.Symbol{Spec.Symbol(Symbols[r], detail)}
	if r == TempError {
		// RFC 7208 §8.6: a temperror may be answered with a 4xx; so it is
		// when policy.fail_closed lists "spf".
		return syms, fmt.Errorf("spf: %w: %s", filters.ErrIncomplete, detail)
	}
	return syms, nil
}

// Identity returns the identity RFC 7208 checks and its domain: MAIL FROM
// (§2.4), or postmaster@HELO when MAIL FROM is empty (§2.4, §4.3). A
// MAIL FROM without a local-part gets "postmaster" (§4.3).
func Identity(helo, mailFrom string) (kind filters.SPFIdentity, sender, domain string) {
	if mailFrom == "" {
		return filters.SPFHelo, "postmaster@" + helo, helo
	}
	i := strings.LastIndexByte(mailFrom, '@')
	if i < 0 {
		// No domain part: RFC 5321 forbids it; use the HELO domain as the
		// library does, keeping the local-part for macros.
		return filters.SPFMailFrom, mailFrom + "@" + helo, helo
	}
	if i == 0 {
		mailFrom = "postmaster" + mailFrom
		i = len("postmaster")
	}
	return filters.SPFMailFrom, mailFrom, mailFrom[i+1:]
}

// Evaluation is an SPF result with the exp= explanation of a fail.
type Evaluation struct {
	filters.SPFResult
	// Explanation is the expanded exp= text (RFC 7208 §6.2) of a fail,
	// "" when the record has none or it could not be used.
	Explanation string
}

// Evaluate runs check_host() (RFC 7208 §4) for ip and the identity chosen
// from helo and mailFrom.
func Evaluate(ctx context.Context, r dnsrep.StdResolver, ip netip.Addr, helo, mailFrom string) filters.SPFResult {
	return EvaluateExplained(ctx, r, ip, helo, mailFrom).SPFResult
}

// EvaluateExplained is Evaluate with the explanation of a fail.
func EvaluateExplained(ctx context.Context, r dnsrep.StdResolver, ip netip.Addr, helo, mailFrom string) Evaluation {
	kind, sender, domain := Identity(helo, mailFrom)
	out := filters.SPFResult{Identity: kind, Domain: strings.ToLower(strings.TrimSuffix(domain, "."))}
	// RFC 7208 §4.3: a malformed or single-label domain gives "none"
	// without any lookup.
	if err := checkDomain(domain); err != nil {
		out.Result, out.Detail = None, err.Error()
		return Evaluation{SPFResult: out}
	}
	vr := &validatingResolver{StdResolver: r}
	res, err := bspf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), helo, sender,
		bspf.WithContext(ctx), bspf.WithResolver(vr))
	// blitiri.com.ar/go/spf results are the RFC 7208 §2.6 names.
	out.Result = filters.SPFStatus(res)
	switch {
	case res == bspf.PermError && vr.syntaxError() != nil:
		out.Detail = vr.syntaxError().Error()
	case res == bspf.None:
		out.Detail = "no SPF record"
	case err != nil:
		out.Detail = describe(err)
	}
	if ctx.Err() != nil && (res == bspf.TempError || res == bspf.PermError) {
		// The deadline cut the evaluation short: that is transient.
		out.Result, out.Detail = TempError, "timeout: "+ctx.Err().Error()
	}
	ev := Evaluation{SPFResult: out}
	if res == bspf.Fail {
		ev.Explanation = explanation(ctx, vr, macroEnv{
			sender: sender, domain: strings.TrimSuffix(domain, "."), ip: ip, helo: helo, now: time.Now(),
			validated: validatedName(ctx, r, ip),
		})
	}
	return ev
}

// describe turns the library's match markers into readable details.
func describe(err error) string {
	var derr *net.DNSError
	if errors.As(err, &derr) {
		return "dns: " + derr.Error()
	}
	return strings.TrimPrefix(err.Error(), "spf: ")
}

// checkDomain applies RFC 7208 §4.3: labels of 1..63 octets, at most 253
// octets, and more than one label.
func checkDomain(d string) error {
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return errors.New("spf: empty domain")
	}
	if len(d) > 253 {
		return errors.New("spf: domain too long")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return fmt.Errorf("spf: %q is not a multi-label domain", d)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("spf: %q has an empty or over-long label", d)
		}
		for i := 0; i < len(l); i++ {
			// Letters, digits, hyphen and underscore: an address literal
			// such as "[192.0.2.1]" or stray bytes are not a domain.
			if c := l[i]; !(isAlpha(c) || isDigit(c) || c == '-' || c == '_') {
				return fmt.Errorf("spf: %q is not a domain name", d)
			}
		}
	}
	return nil
}

// invalidRecord is what the library sees instead of a record that failed
// our syntax check: an unknown mechanism, which it reports as permerror.
const invalidRecord = "v=spf1 \x00invalid"

// validatingResolver checks every SPF record the library fetches (the
// top-level one and those reached by include and redirect) and hands it a
// record it rejects with permerror when ours finds a syntax error.
type validatingResolver struct {
	dnsrep.StdResolver
	mu      sync.Mutex
	err     error
	records map[string]string // valid SPF record by name, for exp=
	queried map[string]bool
}

func (v *validatingResolver) record(name string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.records[nameKey(name)]
	return r, ok
}

func (v *validatingResolver) fetched(name string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.queried[nameKey(name)]
}

func nameKey(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }

func (v *validatingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := v.StdResolver.LookupTXT(ctx, name)
	v.mu.Lock()
	if v.queried == nil {
		v.queried, v.records = map[string]bool{}, map[string]string{}
	}
	v.queried[nameKey(name)] = true
	v.mu.Unlock()
	if err != nil {
		return txts, err
	}
	out := make([]string, len(txts))
	for i, t := range txts {
		out[i] = t
		if !isSPFRecord(t) {
			continue
		}
		if serr := checkRecordSyntax(t); serr != nil {
			v.mu.Lock()
			if v.err == nil {
				v.err = fmt.Errorf("%s: %w", name, serr)
			}
			v.mu.Unlock()
			out[i] = invalidRecord
			continue
		}
		v.mu.Lock()
		v.records[nameKey(name)] = t
		v.mu.Unlock()
	}
	return out, nil
}

func (v *validatingResolver) syntaxError() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}
