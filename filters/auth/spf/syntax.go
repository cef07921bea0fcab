package spf

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// errSyntax is wrapped by every record syntax error.
var errSyntax = errors.New("spf: record syntax error")

func syntaxErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errSyntax, fmt.Sprintf(format, a...))
}

// isSPFRecord reports whether txt is an SPF record (RFC 7208 §4.5: the
// version section "v=spf1" followed by a space or the end of the record).
func isSPFRecord(txt string) bool {
	if len(txt) < 6 || !strings.EqualFold(txt[:6], "v=spf1") {
		return false
	}
	return len(txt) == 6 || txt[6] == ' '
}

// checkRecordSyntax validates a whole SPF record against the ABNF of
// RFC 7208 §4.6.1, §5, §6 and §7.1. RFC 7208 §4.6: the record is parsed
// completely before evaluation, so a syntax error anywhere is permerror even
// when an earlier term would have matched (blitiri evaluates term by term and
// would miss it).
func checkRecordSyntax(txt string) error {
	terms := strings.Split(txt, " ")
	if !strings.EqualFold(terms[0], "v=spf1") {
		return syntaxErr("bad version %q", terms[0])
	}
	var redirects, exps int
	for _, t := range terms[1:] {
		if t == "" {
			continue
		}
		if name, value, ok := modifier(t); ok {
			switch strings.ToLower(name) {
			case "redirect":
				redirects++
				if err := checkDomainSpec(value); err != nil {
					return syntaxErr("redirect=%s: %v", value, err)
				}
			case "exp":
				exps++
				if err := checkDomainSpec(value); err != nil {
					return syntaxErr("exp=%s: %v", value, err)
				}
			default:
				if _, err := checkMacroString(value, true); err != nil {
					return syntaxErr("modifier %s: %v", name, err)
				}
			}
			continue
		}
		if err := checkDirective(t); err != nil {
			return syntaxErr("%q: %v", t, err)
		}
	}
	// RFC 7208 §6: redirect and exp each appear at most once.
	if redirects > 1 || exps > 1 {
		return syntaxErr("redirect= or exp= appears more than once")
	}
	return nil
}

// modifier splits name=value when t is a modifier (RFC 7208 §4.6.1:
// name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )).
func modifier(t string) (name, value string, ok bool) {
	i := strings.IndexByte(t, '=')
	if i <= 0 {
		return "", "", false
	}
	name = t[:i]
	for j := 0; j < len(name); j++ {
		c := name[j]
		switch {
		case isAlpha(c):
		case j > 0 && (isDigit(c) || c == '-' || c == '_' || c == '.'):
		default:
			return "", "", false
		}
	}
	return name, t[i+1:], true
}

func checkDirective(t string) error {
	if strings.IndexByte("+-~?", t[0]) >= 0 {
		t = t[1:]
	}
	end := strings.IndexAny(t, ":/")
	if end < 0 {
		end = len(t)
	}
	mech, rest := strings.ToLower(t[:end]), t[end:]
	switch mech {
	case "all":
		if rest != "" {
			return errors.New("all takes no argument")
		}
	case "include", "exists":
		if !strings.HasPrefix(rest, ":") {
			return fmt.Errorf("%s needs a domain", mech)
		}
		return checkDomainSpec(rest[1:])
	case "ptr":
		if rest == "" {
			return nil
		}
		if rest[0] != ':' {
			return errors.New("ptr takes no cidr length")
		}
		return checkDomainSpec(rest[1:])
	case "a", "mx":
		if strings.HasPrefix(rest, ":") {
			// domain-spec may itself hold "/" (macro-literal): the
			// dual-cidr-length is only the trailing /N, //N or /N//N.
			spec := rest[1:]
			cidr := trailingCIDR.FindString(spec)
			if err := checkDomainSpec(spec[:len(spec)-len(cidr)]); err != nil {
				return err
			}
			rest = cidr
		}
		return checkDualCIDR(rest)
	case "ip4", "ip6":
		if !strings.HasPrefix(rest, ":") {
			return fmt.Errorf("%s needs an address", mech)
		}
		addr, cidr, hasCIDR := strings.Cut(rest[1:], "/")
		ip, err := netip.ParseAddr(addr)
		if err != nil || ip.Zone() != "" || (mech == "ip4") != ip.Is4() {
			return fmt.Errorf("bad %s address %q", mech, addr)
		}
		if hasCIDR {
			max := 32
			if mech == "ip6" {
				max = 128
			}
			return checkCIDR(cidr, max)
		}
	default:
		return fmt.Errorf("unknown mechanism %q", mech)
	}
	return nil
}

var trailingCIDR = regexp.MustCompile(`(/[0-9]+)?(//[0-9]+)?$`)

// checkDualCIDR validates dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ].
func checkDualCIDR(s string) error {
	if s == "" {
		return nil
	}
	if !strings.HasPrefix(s, "/") {
		return fmt.Errorf("bad cidr %q", s)
	}
	s = s[1:]
	v4, v6, dual := strings.Cut(s, "//")
	if strings.HasPrefix(s, "/") {
		// "//64": IPv6 length only.
		v4, v6, dual = "", s[1:], true
	}
	if v4 != "" || !dual {
		if err := checkCIDR(v4, 32); err != nil {
			return err
		}
	}
	if dual {
		return checkCIDR(v6, 128)
	}
	return nil
}

// checkCIDR validates a prefix length: no leading zeros, at most max.
func checkCIDR(s string, max int) error {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return fmt.Errorf("bad cidr length %q", s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return fmt.Errorf("bad cidr length %q", s)
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > max {
		return fmt.Errorf("cidr length %d over %d", n, max)
	}
	return nil
}

// checkDomainSpec validates domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 §7.1).
func checkDomainSpec(s string) error {
	if s == "" {
		return errors.New("empty domain")
	}
	macroEnd, err := checkMacroString(s, false)
	if err != nil {
		return err
	}
	// Ends with a macro-expand (a trailing dot after it is tolerated).
	t := strings.TrimSuffix(s, ".")
	if macroEnd == len(t) {
		return nil
	}
	i := strings.LastIndexByte(t, '.')
	if i < 0 {
		return fmt.Errorf("domain %q has no top label", s)
	}
	if !isTopLabel(t[i+1:]) {
		return fmt.Errorf("domain %q: bad top label %q", s, t[i+1:])
	}
	return nil
}

// isTopLabel: toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) (RFC 7208 §7.1, RFC 3696 §2).
func isTopLabel(l string) bool {
	if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	alpha, hyphen := false, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case isAlpha(c):
			alpha = true
		case isDigit(c):
		case c == '-':
			hyphen = true
		default:
			return false
		}
	}
	return alpha || hyphen
}

// checkMacroString validates macro-string = *( macro-expand / macro-literal ).
// exp allows the c, r and t macro letters, which RFC 7208 §7.1 reserves for
// explanation text.
// It returns the offset just past the last macro-expand (-1 if none).
func checkMacroString(s string, exp bool) (int, error) {
	macroEnd := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			// macro-literal = %x21-24 / %x26-7E
			if c < 0x21 || c > 0x7e {
				return 0, fmt.Errorf("invalid character %q", c)
			}
			continue
		}
		if i+1 >= len(s) {
			return 0, errors.New("lone % at end")
		}
		switch s[i+1] {
		case '%', '_', '-':
			i++
			macroEnd = i + 1
			continue
		case '{':
		default:
			return 0, fmt.Errorf("invalid macro %q", s[i:i+2])
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return 0, errors.New("unterminated macro")
		}
		if err := checkMacroBody(s[i+2:i+end], exp); err != nil {
			return 0, err
		}
		i += end
		macroEnd = i + 1
	}
	return macroEnd, nil
}

// checkMacroBody validates macro-letter transformers *delimiter.
func checkMacroBody(b string, exp bool) error {
	if b == "" {
		return errors.New("empty macro")
	}
	l := b[0] | 0x20
	switch l {
	case 's', 'l', 'o', 'd', 'i', 'p', 'h', 'v':
	case 'c', 'r', 't':
		if !exp {
			return fmt.Errorf("macro %%{%c} only valid in exp text", b[0])
		}
	default:
		return fmt.Errorf("unknown macro letter %q", b[0])
	}
	j := 1
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	// RFC 7208 §7.3: if a DIGIT is specified, the value MUST be nonzero.
	if j > 1 && strings.Trim(b[1:j], "0") == "" {
		return errors.New("macro digit transformer is zero")
	}
	if j < len(b) && (b[j]|0x20) == 'r' {
		j++
	}
	for ; j < len(b); j++ {
		if strings.IndexByte(".-+,/_=", b[j]) < 0 {
			return fmt.Errorf("invalid macro delimiter %q", b[j])
		}
	}
	return nil
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
