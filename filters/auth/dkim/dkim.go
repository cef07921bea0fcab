// Package dkim is the "dkim" check: RFC 6376 DomainKeys
// Identified Mail verification with go-msgauth over our resolver, with the
// RFC 8301 rules (rsa-sha1 and RSA keys under 1024 bits do not verify) and
// RFC 8463 ed25519-sha256. Every signature up to a cap is verified and
// reported with its domain, selector, algorithm and l= tag.
package dkim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/dkimsig"
)

// Result is the RFC 8601 §2.7.1 result of one signature
// (filters.DKIMStatus, named here as the check uses it).
type Result = filters.DKIMStatus

const (
	Pass      = filters.DKIMPass
	Fail      = filters.DKIMFail
	Neutral   = filters.DKIMNeutral
	TempError = filters.DKIMTempError
	PermError = filters.DKIMPermError
	None      = filters.DKIMNone
)

// Name is the check's name.
const Name = "dkim"

// Symbols names the symbol of each overall result.
var Symbols = map[Result]string{
	Pass: "DKIM_PASS", Fail: "DKIM_FAIL", None: "DKIM_NONE",
	TempError: "DKIM_TEMPERROR", PermError: "DKIM_PERMERROR",
}

// Spec declares the check and its symbols: one per message, from the best
// signature (pass, else fail, else temperror, else permerror).
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "auth.dkim",
	Symbols: []filters.SymbolSpec{
		{Name: Symbols[Pass], Score: -0.5, Doc: "a signature verified"},
		{Name: Symbols[Fail], Score: 2.0, Doc: "no signature verified and one failed: bad hash or signature, or crypto RFC 8301 forbids"},
		{Name: Symbols[None], Score: 0.3, Doc: "no DKIM-Signature field"},
		{Name: Symbols[TempError], Score: 0, State: true, Doc: "a key could not be fetched for now"},
		{Name: Symbols[PermError], Score: 1.0, Doc: "the signatures or their keys are unusable"},
	},
})

// Config is the auth.dkim section.
type Config struct {
	// MaxSignatures caps the signatures verified per message (default 5);
	// later ones are reported as neutral and never verified.
	MaxSignatures int `yaml:"max_signatures"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{MaxSignatures: 5} }

// Validate checks the section; errors name the key.
func (c Config) Validate() error {
	if c.MaxSignatures < 1 || c.MaxSignatures > 50 {
		return fmt.Errorf("dkim: auth.dkim.max_signatures: %d out of range 1..50", c.MaxSignatures)
	}
	return nil
}

// MaxHeaderSize is the largest DKIM-Signature value we accept; larger ones
// are permerror without verification (a 4096-bit RSA b= is about 700 bytes,
// so this only stops abuse).
const MaxHeaderSize = 8192

// Deps are the check's collaborators.
type Deps struct {
	// Resolver fetches the keys. Required.
	Resolver dnsrep.StdResolver
}

// Check is the "dkim" check.
type Check struct {
	resolver dnsrep.StdResolver
	cfg      Config
}

var _ filters.Check = (*Check)(nil)

// New returns the "dkim" check.
func New(cfg Config, deps Deps) (*Check, error) {
	if deps.Resolver == nil {
		return nil, errors.New("dkim: no resolver")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Check{resolver: deps.Resolver, cfg: cfg}, nil
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// Run verifies the signatures and writes m.Facts.Auth.DKIM.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	res := Verify(ctx, c.resolver, m, c.cfg.MaxSignatures)
	m.Facts.Auth.DKIM = res
	overall := Overall(res)
	var details []string
	for _, r := range res {
		details = append(details, r.Domain+"/"+r.Selector+"="+string(r.Result))
	}
	syms := []filters.Symbol{Spec.Symbol(Symbols[overall], strings.Join(details, " "))}
	for _, r := range res {
		if r.Result == TempError {
			// RFC 6376 §6.1.2: a key that could not be fetched for now
			// may be retried later (tempfail with policy.fail_closed).
			return syms, fmt.Errorf("dkim: %w: %s/%s temperror", filters.ErrIncomplete, r.Domain, r.Selector)
		}
	}
	return syms, nil
}

// Overall folds per-signature results: pass if any passed, then fail,
// temperror, permerror; none when there was nothing to verify.
func Overall(res []filters.DKIMResult) Result {
	seen := map[Result]bool{}
	for _, r := range res {
		seen[Result(r.Result)] = true
	}
	for _, r := range []Result{Pass, Fail, TempError, PermError} {
		if seen[r] {
			return r
		}
	}
	return None
}

// signature is what we parse ourselves from a DKIM-Signature value.
type signature struct {
	value    string
	tags     dkimsig.Tags
	err      error
	domain   string
	selector string
	algo     string
	length   int64
}

func parseSignature(v string) signature {
	s := signature{value: v, length: -1}
	if len(v) > MaxHeaderSize {
		s.err = fmt.Errorf("dkim: signature header of %d bytes over %d", len(v), MaxHeaderSize)
		return s
	}
	s.tags, s.err = dkimsig.ParseTags(v)
	if s.err != nil {
		return s
	}
	// RFC 6376 §3.5: d= and s= compare case-insensitively.
	s.domain = strings.ToLower(strings.TrimSuffix(dkimsig.StripFWS(s.tags["d"]), "."))
	s.selector = strings.ToLower(dkimsig.StripFWS(s.tags["s"]))
	s.algo = strings.ToLower(dkimsig.StripFWS(s.tags["a"]))
	if l, ok := s.tags["l"]; ok {
		n, err := strconv.ParseInt(dkimsig.StripFWS(l), 10, 64)
		if err != nil || n < 0 {
			s.err = fmt.Errorf("dkim: bad l= tag %q", l)
			return s
		}
		s.length = n
	}
	return s
}

// Verify verifies up to max DKIM-Signature fields of m. The message is
// streamed from the spool (m.Raw); only the header block is held in memory.
func Verify(ctx context.Context, r dnsrep.StdResolver, m *filters.Message, max int) []filters.DKIMResult {
	var sigs []signature
	var sigIndex []int // position of each signature in m.Headers
	for i, h := range m.Headers {
		if strings.EqualFold(strings.TrimSpace(h.Name), "DKIM-Signature") {
			sigs = append(sigs, parseSignature(h.Value))
			sigIndex = append(sigIndex, i)
		}
	}
	if len(sigs) == 0 {
		return nil
	}
	n := min(len(sigs), max)
	out := make([]filters.DKIMResult, n, n+1)
	for i, s := range sigs[:n] {
		out[i] = filters.DKIMResult{Domain: s.domain, Selector: s.selector, Algorithm: s.algo, BodyLength: s.length}
	}
	if extra := len(sigs) - n; extra > 0 {
		// One entry stands for all signatures over the cap, so a message
		// with thousands of them cannot bloat the report or the header.
		out = append(out, filters.DKIMResult{Result: Neutral, BodyLength: -1,
			Detail: fmt.Sprintf("%d more signatures not verified (max_signatures %d)", extra, max)})
	}
	if m.Body == nil {
		for i := range n {
			out[i].Result, out[i].Detail = Neutral, "not verified: body not available (message over size limit)"
		}
		return out
	}

	// The key records the library fetched, by name: what a permanent
	// failure was about is read from them (keyVerdict), not from the
	// library's error text.
	var keysMu sync.Mutex
	keys := map[string][]string{}
	opts := &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			txts, err := r.LookupTXT(ctx, name)
			if err == nil {
				keysMu.Lock()
				keys[strings.ToLower(strings.TrimSuffix(name, "."))] = txts
				keysMu.Unlock()
			}
			return txts, err
		},
		MaxVerifications: max,
	}
	verifs, err := msgdkim.VerifyWithOptions(m.Raw(), opts)
	if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
		// The message could not be read or parsed: nothing verified, and
		// the library may have cleared the error of the signature it was
		// working on, so no result of this run can count as a pass.
		for i := range n {
			out[i].Result, out[i].Detail = PermError, "dkim: "+err.Error()
		}
		return out
	}
	seen := map[string]bool{}
	for i := range n {
		s := sigs[i]
		res, detail := classify(s, verifs, i, keys[keyName(s)])
		if res == PermError && libraryRefusesIdentifier(s) {
			// go-msgauth compares i= with d= case-sensitively and without
			// quoted-printable decoding; RFC 6376 §3.5 does neither, so
			// verify this one ourselves (streaming the body again).
			res, detail = fallback(ctx, r, m, sigIndex[i])
		}
		if res == Pass {
			// A byte-identical copy of a signature proves nothing more;
			// count it once.
			key := dkimsig.StripFWS(s.value)
			if seen[key] {
				res, detail = PermError, "duplicate of an earlier signature"
			}
			seen[key] = true
		}
		out[i].Result, out[i].Detail = res, detail
	}
	return out
}

// fallback verifies signature header hs[idx] with package dkimsig.
func fallback(ctx context.Context, r dnsrep.StdResolver, m *filters.Message, idx int) (Result, string) {
	err := dkimsig.VerifyDKIM(ctx, r, m.Headers, m.Body.Reader(), idx, time.Now())
	switch {
	case err == nil:
		return Pass, ""
	case errors.Is(err, dkimsig.ErrTemporary):
		return TempError, err.Error()
	case errors.Is(err, dkimsig.ErrRFC8301):
		return Fail, err.Error()
	case errors.Is(err, dkimsig.ErrPermanent):
		return PermError, err.Error()
	}
	return Fail, err.Error()
}

// libraryRefusesIdentifier reports a signature whose i= go-msgauth finds
// outside d= by its literal comparison (v0.7.0 verify.go: a suffix
// "@"+d or "."+d, case-sensitive, i= not decoded).
func libraryRefusesIdentifier(s signature) bool {
	i, ok := s.tags["i"]
	if !ok || s.tags == nil {
		return false
	}
	id, d := dkimsig.StripFWS(i), dkimsig.StripFWS(s.tags["d"])
	return !strings.HasSuffix(id, "@"+d) && !strings.HasSuffix(id, "."+d)
}

// keyName is where the key of s is published (RFC 6376 §3.6.2.1).
func keyName(s signature) string { return s.selector + "._domainkey." + s.domain }

// classify maps the library's verdict on signature i to our result. key is
// the key record the library fetched for it, if any.
func classify(s signature, verifs []*msgdkim.Verification, i int, key []string) (Result, string) {
	if s.err != nil {
		return PermError, s.err.Error()
	}
	if i >= len(verifs) || verifs[i] == nil {
		return PermError, "dkim: signature not evaluated"
	}
	v := verifs[i]
	if v.Err == nil {
		// Guard against the library and us disagreeing on which field is
		// signature i, or on the algorithm: a mismatch never passes.
		if !strings.EqualFold(strings.TrimSuffix(v.Domain, "."), s.domain) {
			return PermError, "dkim: signature order mismatch"
		}
		if s.algo != "rsa-sha256" && s.algo != "ed25519-sha256" {
			return PermError, fmt.Sprintf("unsupported algorithm %q", s.algo)
		}
		return Pass, ""
	}
	msg := strings.TrimPrefix(v.Err.Error(), "dkim: ")
	switch {
	case msgdkim.IsTempFail(v.Err):
		return TempError, msg
	case msgdkim.IsPermFail(v.Err):
		if weak := weakCrypto(s, key); weak != "" {
			return Fail, weak
		}
		return PermError, msg
	}
	return Fail, msg
}

// weakCrypto says why a signature the library failed permanently is one RFC
// 8301 forbids, "" when it is not: the library rejects weak crypto as a
// permanent failure, RFC 8301 makes it a failed verification. It reads the
// signature's a= and the key record, never the library's error text.
func weakCrypto(s signature, key []string) string {
	if len(key) != 1 {
		return "" // no usable key record: the failure is about the key
	}
	k, err := dkimsig.ParseKey(key[0])
	switch {
	case errors.Is(err, dkimsig.ErrRFC8301):
		// §3.2: RSA keys under 1024 bits MUST NOT be valid.
		return strings.TrimPrefix(err.Error(), dkimsig.ErrPermanent.Error()+": ")
	case err != nil:
		return ""
	}
	if s.algo != "rsa-sha1" || k.RSA == nil {
		return ""
	}
	if k.HashAlgos != nil && !slices.Contains(k.HashAlgos, "sha1") {
		return "" // the key refuses sha1 itself (RFC 6376 §3.6.1 h=)
	}
	// §3.1: verifiers MUST NOT consider rsa-sha1 signatures valid.
	return "RFC 8301: rsa-sha1 is not accepted"
}
