// Package arc is the "arc" check: RFC 8617 Authenticated
// Received Chain validation. It checks the structure of the ARC sets, the
// latest ARC-Message-Signature and every ARC-Seal, with the DKIM
// canonicalisation and key handling of package dkimsig. A configured list
// of trusted sealers lets the DMARC check honour an ARC pass from a
// forwarder that saw DMARC pass (RFC 8617 §7.2).
package arc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/dkimsig"
)

// Result is the chain validation status cv= (filters.ARCStatus, named
// here as the check uses it).
type Result = filters.ARCStatus

const (
	Pass = filters.ARCPass
	Fail = filters.ARCFail
	None = filters.ARCNone
)

// Name is the check's name.
const Name = "arc"

// Symbols names the symbol of each result.
var Symbols = map[Result]string{Pass: "ARC_PASS", Fail: "ARC_FAIL", None: "ARC_NONE"}

// Spec declares the check and its symbols. ARC alone says little about
// spam: the scores are small; its use is the trusted-forwarder override in
// DMARC.
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "auth.arc",
	Symbols: []filters.SymbolSpec{
		{Name: Symbols[Pass], Score: -0.1, Doc: "every ARC seal and the latest message signature verify (RFC 8617 §5.2)"},
		{Name: Symbols[Fail], Score: 0.3, Doc: "the ARC chain is broken, malformed or does not verify"},
		{Name: Symbols[None], Score: 0, Doc: "no ARC sets"},
	},
})

// MaxInstances is the RFC 8617 §4.2.1 limit on i=.
const MaxInstances = 50

// Config is the auth.arc section.
type Config struct {
	// TrustedSealers are ARC-Seal d= domains whose ARC pass, with a
	// dmarc=pass in their ARC-Authentication-Results, overrides a DMARC
	// failure caused by forwarding (default empty: never).
	TrustedSealers []string `yaml:"trusted_sealers"`
}

// Validate checks the section; errors name the key.
func (c Config) Validate() error {
	for i, s := range c.TrustedSealers {
		if s == "" || strings.ContainsAny(s, " @/") || !strings.Contains(s, ".") {
			return fmt.Errorf("arc: auth.arc.trusted_sealers[%d]: %q is not a domain", i, s)
		}
	}
	return nil
}

// Deps are the check's collaborators.
type Deps struct {
	// Resolver fetches the keys. Required.
	Resolver dnsrep.StdResolver
}

// Check is the "arc" check.
type Check struct {
	resolver dnsrep.StdResolver
	trusted  map[string]bool
}

var _ filters.Check = (*Check)(nil)

// New returns the "arc" check.
func New(cfg Config, deps Deps) (*Check, error) {
	if deps.Resolver == nil {
		return nil, errors.New("arc: no resolver")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Check{resolver: deps.Resolver, trusted: map[string]bool{}}
	for _, s := range cfg.TrustedSealers {
		c.trusted[strings.ToLower(strings.TrimSuffix(s, "."))] = true
	}
	return c, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Run validates the chain and writes m.Facts.Auth.ARC.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	v := Validate(ctx, c.resolver, m)
	m.Facts.Auth.ARC = filters.ARCResult{Result: v.Result, Detail: v.Detail}
	detail := v.Detail
	if len(v.Sealers) > 0 {
		detail = strings.TrimPrefix(detail+"; sealers "+strings.Join(v.Sealers, ","), "; ")
	}
	syms := []filters.Symbol{Spec.Symbol(Symbols[v.Result], detail)}
	if v.Temporary {
		return syms, fmt.Errorf("arc: %w: %s", filters.ErrIncomplete, v.Detail)
	}
	return syms, nil
}

// Validation is the outcome of chain validation.
type Validation struct {
	Result    Result
	Instances int
	// Sealers are the ARC-Seal d= domains by instance (index 0 is i=1).
	Sealers []string
	Detail  string
	// Temporary: the result is fail because a key lookup failed for now
	// (DNS), not because a signature was wrong.
	Temporary bool
}

// set is one ARC set: header indices into m.Headers.
type set struct {
	aar, ams, as int
	amsTags      dkimsig.Tags
	asTags       dkimsig.Tags
	aarPayload   string
}

var aarInstance = regexp.MustCompile(`^[ \t\r\n]*i[ \t\r\n]*=[ \t\r\n]*([0-9]+)[ \t\r\n]*;`)

func parseInstance(v string) (int, bool) {
	if v == "" || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 1 && n <= MaxInstances
}

func fail(format string, a ...any) Validation {
	return Validation{Result: Fail, Detail: fmt.Sprintf(format, a...)}
}

// collect groups the ARC header fields into sets (RFC 8617 §4.2) and
// checks their structure. It returns nil sets and no error without ARC.
func collect(hs []filters.Header) ([]*set, error) {
	bySet := map[int]*set{}
	get := func(i int) *set {
		if bySet[i] == nil {
			bySet[i] = &set{aar: -1, ams: -1, as: -1}
		}
		return bySet[i]
	}
	max := 0
	for idx, h := range hs {
		name := strings.ToLower(strings.TrimSpace(h.Name))
		var inst int
		switch name {
		case "arc-seal", "arc-message-signature":
			tags, err := dkimsig.ParseTagsStrict(h.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			n, ok := parseInstance(tags["i"])
			if !ok {
				return nil, fmt.Errorf("%s: bad or missing i= %q", name, tags["i"])
			}
			inst = n
			s := get(n)
			if name == "arc-seal" {
				if s.as >= 0 {
					return nil, fmt.Errorf("two ARC-Seal fields with i=%d", n)
				}
				s.as, s.asTags = idx, tags
			} else {
				if s.ams >= 0 {
					return nil, fmt.Errorf("two ARC-Message-Signature fields with i=%d", n)
				}
				s.ams, s.amsTags = idx, tags
			}
		case "arc-authentication-results":
			mm := aarInstance.FindStringSubmatchIndex(h.Value)
			if mm == nil {
				return nil, errors.New("ARC-Authentication-Results does not start with i=N;")
			}
			n, ok := parseInstance(h.Value[mm[2]:mm[3]])
			if !ok {
				return nil, fmt.Errorf("ARC-Authentication-Results: bad i= %q", h.Value[mm[2]:mm[3]])
			}
			inst = n
			s := get(n)
			if s.aar >= 0 {
				return nil, fmt.Errorf("two ARC-Authentication-Results fields with i=%d", n)
			}
			s.aar, s.aarPayload = idx, h.Value[mm[1]:]
		default:
			continue
		}
		max = maxInt(max, inst)
	}
	if max == 0 {
		return nil, nil
	}
	sets := make([]*set, max)
	for i := 1; i <= max; i++ {
		s := bySet[i]
		if s == nil || s.aar < 0 || s.ams < 0 || s.as < 0 {
			return nil, fmt.Errorf("ARC set %d is incomplete", i)
		}
		sets[i-1] = s
	}
	return sets, nil
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

var domainRE = regexp.MustCompile(`^(?i)[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)+\.?$`)

// commonTags checks the tags both AMS and AS need (RFC 8617 §4.1.2, §4.1.3).
func commonTags(t dkimsig.Tags) error {
	for _, k := range []string{"a", "b", "d", "s"} {
		if t[k] == "" {
			return fmt.Errorf("missing or empty %s=", k)
		}
	}
	// RFC 8617 §4.1.2/§4.1.3 allow only rsa-sha256 (values are
	// case-sensitive).
	if t["a"] != "rsa-sha256" {
		return fmt.Errorf("algorithm %q is not rsa-sha256", t["a"])
	}
	if !domainRE.MatchString(t["d"]) {
		return fmt.Errorf("d=%q is not a domain", t["d"])
	}
	if v, ok := t["t"]; ok {
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("bad t=%q", v)
		}
	}
	return nil
}

// Validate runs RFC 8617 §5.2 chain validation over m.
func Validate(ctx context.Context, r dnsrep.StdResolver, m *filters.Message) Validation {
	sets, err := collect(m.Headers)
	if err != nil {
		return fail("%v", err)
	}
	if len(sets) == 0 {
		return Validation{Result: None}
	}
	n := len(sets)
	v := Validation{Instances: n}
	for _, s := range sets {
		v.Sealers = append(v.Sealers, strings.ToLower(strings.TrimSuffix(s.asTags["d"], ".")))
	}
	// §5.2 step 2: a chain already marked failed stays failed.
	if sets[n-1].asTags["cv"] == "fail" {
		return withSealers(fail("ARC-Seal i=%d has cv=fail", n), v)
	}
	// §5.1.1 / §4.1.3: i=1 carries cv=none, later instances cv=pass.
	for i, s := range sets {
		want := "pass"
		if i == 0 {
			want = "none"
		}
		if s.asTags["cv"] != want {
			return withSealers(fail("ARC-Seal i=%d has cv=%q, want %s", i+1, s.asTags["cv"], want), v)
		}
	}
	if m.Body == nil {
		return withSealers(Validation{Result: None, Detail: "not validated: body not available (message over size limit)"}, v)
	}
	// §5.2 step 3: only the latest AMS must verify.
	if err := verifyAMS(ctx, r, m, sets[n-1]); err != nil {
		return temporary(withSealers(fail("ARC-Message-Signature i=%d: %v", n, err), v), err)
	}
	// §5.2 step 5: every seal, newest first.
	for i := n; i >= 1; i-- {
		if err := verifyAS(ctx, r, m, sets, i); err != nil {
			return temporary(withSealers(fail("ARC-Seal i=%d: %v", i, err), v), err)
		}
	}
	v.Result = Pass
	return v
}

// temporary marks a failure caused by a key that could not be fetched for
// now: the chain was not disproved, only not checked.
func temporary(f Validation, err error) Validation {
	f.Temporary = errors.Is(err, dkimsig.ErrTemporary)
	return f
}

func withSealers(f, v Validation) Validation {
	f.Instances, f.Sealers = v.Instances, v.Sealers
	return f
}

func verifyAMS(ctx context.Context, r dnsrep.StdResolver, m *filters.Message, s *set) error {
	t := s.amsTags
	if err := commonTags(t); err != nil {
		return err
	}
	if t["bh"] == "" {
		return errors.New("missing or empty bh=")
	}
	hv, ok := t["h"]
	if !ok {
		return errors.New("missing h=")
	}
	var names []string
	for _, n := range strings.Split(hv, ":") {
		n = strings.Trim(n, " \t\r\n")
		if n == "" {
			continue
		}
		// RFC 8617 §4.1.2: the AMS MUST NOT sign ARC-Seal fields.
		if strings.EqualFold(n, "arc-seal") {
			return errors.New("h= includes ARC-Seal")
		}
		names = append(names, n)
	}
	hc, bc, ok := dkimsig.ParseCanonicalization(t["c"], hasTag(t, "c"))
	if !ok {
		return fmt.Errorf("bad c=%q", t["c"])
	}
	length := int64(-1)
	if l, ok := t["l"]; ok {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad l=%q", l)
		}
		length = n
	}
	bh, err := dkimsig.DecodeBase64(t["bh"])
	if err != nil {
		return fmt.Errorf("bh=: %w", err)
	}
	sig, err := dkimsig.DecodeBase64(t["b"])
	if err != nil {
		return fmt.Errorf("b=: %w", err)
	}
	got, err := dkimsig.BodyDigest(bc, m.Body.Reader(), length)
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if subtle.ConstantTimeCompare(got, bh) != 1 {
		return fmt.Errorf("%w: body hash", dkimsig.ErrVerify)
	}
	picked := dkimsig.PickHeaders(m.Headers, names, func(i int) bool { return i == s.ams })
	digest := dkimsig.HeaderDigest(hc, m.Headers, picked, m.Headers[s.ams])
	key, err := dkimsig.LookupKey(ctx, r, t["d"], t["s"])
	if err != nil {
		return err
	}
	return key.Verify(t["a"], digest, sig)
}

func hasTag(t dkimsig.Tags, k string) bool {
	_, ok := t[k]
	return ok
}

// verifyAS checks ARC-Seal i over the ARC sets 1..i in order, each as
// AAR, AMS, AS with relaxed header canonicalisation and the seal being
// verified last, b= emptied and without its CRLF (RFC 8617 §5.1.1).
func verifyAS(ctx context.Context, r dnsrep.StdResolver, m *filters.Message, sets []*set, i int) error {
	s := sets[i-1]
	t := s.asTags
	if err := commonTags(t); err != nil {
		return err
	}
	// RFC 8617 §4.1.3: h= is not allowed in ARC-Seal.
	if hasTag(t, "h") {
		return errors.New("h= present")
	}
	sig, err := dkimsig.DecodeBase64(t["b"])
	if err != nil {
		return fmt.Errorf("b=: %w", err)
	}
	h := sha256.New()
	for n := 0; n < i; n++ {
		for _, idx := range []int{sets[n].aar, sets[n].ams, sets[n].as} {
			f := m.Headers[idx]
			if n == i-1 && idx == s.as {
				c := dkimsig.CanonicalHeader(dkimsig.Relaxed, f.Name, dkimsig.StripSignature(f.Value))
				io.WriteString(h, strings.TrimSuffix(c, "\r\n"))
				continue
			}
			io.WriteString(h, dkimsig.CanonicalHeader(dkimsig.Relaxed, f.Name, f.Value))
		}
	}
	key, err := dkimsig.LookupKey(ctx, r, t["d"], t["s"])
	if err != nil {
		return err
	}
	return key.Verify(t["a"], h.Sum(nil), sig)
}

var dmarcPass = regexp.MustCompile(`(?i)(^|[;\s])dmarc[ \t\r\n]*=[ \t\r\n]*pass\b`)

// TrustedForwarder reports whether m carries a validated ARC chain (the
// "arc" check's fact says pass) with a set sealed by a trusted sealer whose
// ARC-Authentication-Results recorded dmarc=pass, and which sealer. The
// DMARC check calls it to override a failure caused by forwarding.
func (c *Check) TrustedForwarder(m *filters.Message) (string, bool) {
	if len(c.trusted) == 0 || m.Facts.Auth.ARC.Result != Pass {
		return "", false
	}
	sets, err := collect(m.Headers)
	if err != nil {
		return "", false
	}
	for i := len(sets) - 1; i >= 0; i-- {
		d := strings.ToLower(strings.TrimSuffix(sets[i].asTags["d"], "."))
		if c.trusted[d] && dmarcPass.MatchString(sets[i].aarPayload) {
			return d, true
		}
	}
	return "", false
}
