package spf

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
)

// macroEnv is what RFC 7208 §7.3 macros expand from.
type macroEnv struct {
	sender string // <sender>: local-part@domain
	domain string // <domain>: the current domain
	ip     netip.Addr
	helo   string
	now    time.Time
	// validated returns the "p" macro value; nil means "unknown".
	validated func(domain string) string
}

var errMacro = errors.New("spf: invalid macro")

// maxExplanation bounds the exp= text we keep.
const maxExplanation = 256

// expand expands a macro-string (RFC 7208 §7). exp permits the c, r and t
// letters, which only explanation text may use (§7.1).
func (e macroEnv) expand(s string, exp bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", errMacro
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
			continue
		case '_':
			b.WriteByte(' ')
			continue
		case '-':
			b.WriteString("%20")
			continue
		case '{':
		default:
			return "", errMacro
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errMacro
		}
		body := s[i+1 : i+end]
		i += end
		if err := checkMacroBody(body, exp); err != nil {
			return "", errMacro
		}
		b.WriteString(e.letter(body))
	}
	return b.String(), nil
}

// letter expands one validated macro body: letter, digits, "r", delimiters.
func (e macroEnv) letter(body string) string {
	l := body[0]
	escape := l >= 'A' && l <= 'Z'
	local, dom, _ := strings.Cut(e.sender, "@")
	var v string
	switch l | 0x20 {
	case 's':
		v = e.sender
	case 'l':
		v = local
	case 'o':
		v = dom
	case 'd':
		v = e.domain
	case 'i':
		v = dottedIP(e.ip)
	case 'p':
		// §7.3: p SHOULD NOT be used; "unknown" is the value when the
		// name cannot be validated.
		v = "unknown"
		if e.validated != nil {
			v = e.validated(e.domain)
		}
	case 'v':
		v = "in-addr"
		if e.ip.Unmap().Is6() {
			v = "ip6"
		}
	case 'h':
		v = e.helo
	case 'c':
		v = e.ip.Unmap().String()
	case 'r':
		v = "unknown"
	case 't':
		v = strconv.FormatInt(e.now.Unix(), 10)
	}
	j := 1
	for j < len(body) && isDigit(body[j]) {
		j++
	}
	keep, _ := strconv.Atoi(body[1:j])
	reverse := j < len(body) && body[j]|0x20 == 'r'
	if reverse {
		j++
	}
	delims := body[j:]
	if delims == "" {
		delims = "."
	}
	parts := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if reverse {
		for a, z := 0, len(parts)-1; a < z; a, z = a+1, z-1 {
			parts[a], parts[z] = parts[z], parts[a]
		}
	}
	if keep > 0 && keep < len(parts) {
		parts = parts[len(parts)-keep:]
	}
	v = strings.Join(parts, ".")
	if escape {
		v = urlEscape(v)
	}
	return v
}

// urlEscape escapes all but RFC 3986 unreserved characters (§7.3).
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// dottedIP is the "i" macro: IPv4 dotted quad, IPv6 as dot-separated
// nibbles (§7.3).
func dottedIP(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	a := ip.As16()
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i, x := range a {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteByte(hex[x>>4])
		b.WriteByte('.')
		b.WriteByte(hex[x&0xf])
	}
	return b.String()
}

// modifierValue returns the value of the named modifier in a record.
func modifierValue(rec, name string) (string, bool) {
	for _, t := range strings.Split(rec, " ") {
		if n, v, ok := modifier(t); ok && strings.EqualFold(n, name) {
			return v, true
		}
	}
	return "", false
}

// explanation computes the exp= text for a fail result (RFC 7208 §6.2).
// The deciding record is the checked domain's, or the target of its
// redirect when the library followed it (a redirect discards the original
// exp=; include never contributes one). Any error means no explanation.
func explanation(ctx context.Context, vr *validatingResolver, env macroEnv) string {
	domain := env.domain
	for range 10 {
		rec, ok := vr.record(domain)
		if !ok {
			return ""
		}
		target, hasRedirect := modifierValue(rec, "redirect")
		if hasRedirect {
			e := env
			e.domain = domain
			t, err := e.expand(target, false)
			if err == nil && vr.fetched(t) {
				domain = t
				continue
			}
		}
		spec, ok := modifierValue(rec, "exp")
		if !ok {
			return ""
		}
		e := env
		e.domain = domain
		name, err := e.expand(spec, false)
		if err != nil || name == "" {
			return ""
		}
		name = truncateName(name)
		// §6.2: the exp lookup does not count against the limits, and
		// anything but exactly one TXT record means no explanation.
		txts, err := vr.StdResolver.LookupTXT(ctx, name)
		if err != nil || len(txts) != 1 {
			return ""
		}
		text, err := e.expand(txts[0], true)
		if err != nil {
			return ""
		}
		for i := 0; i < len(text); i++ {
			if text[i] < 0x20 || text[i] > 0x7e {
				return "" // §6.2: the result must be US-ASCII text
			}
		}
		// The text is the sender's; keep logs and reports bounded.
		if len(text) > maxExplanation {
			text = text[:maxExplanation]
		}
		return text
	}
	return ""
}

// truncateName applies RFC 7208 §7.3: an expanded domain name over 253
// characters loses labels from the left until it fits.
func truncateName(n string) string {
	for len(strings.TrimSuffix(n, ".")) > 253 {
		i := strings.IndexByte(n, '.')
		if i < 0 {
			return n
		}
		n = n[i+1:]
	}
	return n
}

// validatedName returns a "p" macro resolver (RFC 7208 §7.3 with the
// §5.5 validation): PTR names of ip (at most 10) whose A/AAAA include ip,
// preferring domain itself, then a subdomain of it; "unknown" otherwise or
// on any DNS error.
func validatedName(ctx context.Context, r dnsrep.StdResolver, ip netip.Addr) func(domain string) string {
	return func(domain string) string {
		names, err := r.LookupAddr(ctx, ip.Unmap().String())
		if err != nil {
			return "unknown"
		}
		if len(names) > 10 {
			names = names[:10]
		}
		var valid []string
		for _, n := range names {
			addrs, err := r.LookupIPAddr(ctx, n)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if x, ok := netip.AddrFromSlice(a.IP); ok && x.Unmap() == ip.Unmap() {
					valid = append(valid, strings.TrimSuffix(n, "."))
					break
				}
			}
		}
		if len(valid) == 0 {
			return "unknown"
		}
		d := strings.ToLower(domain)
		for _, n := range valid {
			if strings.EqualFold(n, d) {
				return n
			}
		}
		for _, n := range valid {
			if strings.HasSuffix(strings.ToLower(n), "."+d) {
				return n
			}
		}
		return valid[0]
	}
}
