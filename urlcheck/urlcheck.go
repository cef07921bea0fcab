package urlcheck

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// URL is a normalised absolute URL as Vigil checks it.
type URL struct {
	// String is the WHATWG serialisation (http://EXAMPLE.com:80/./a becomes
	// http://example.com/a).
	String string
	Scheme string
	// Host is the ASCII host without trailing dots: a lower-case domain in
	// punycode, a dotted quad, or a bracketed IPv6 literal. For mailto: URLs
	// it is the domain of the (first) address.
	Host string
	// IP is set when the host is an address literal in any spelling
	// (dotted, decimal, hex, octal, short).
	IP netip.Addr
	// Domain is the registrable domain of Host (see RegistrableDomain);
	// "" for IP hosts and public suffixes.
	Domain string
	// Userinfo is true when the URL carries a user name or password, the
	// classic http://bank.example@evil.example/ disguise.
	Userinfo bool
	// NumericHost is true when the host was written as an address in a
	// form other than a plain dotted quad (decimal, hex, octal, fewer parts).
	NumericHost bool
	// IDN is true when the host contained non-ASCII or punycode labels.
	IDN bool
	// MixedScript is true when one label of the host mixes Latin, Cyrillic
	// and Greek letters, the shape of a homograph ("pаypal" with a
	// Cyrillic "а"). Whole-script confusables are not detected.
	MixedScript bool
}

// Normalize parses raw as an absolute URL and normalises it. Hosts are
// percent-decoded, mapped through IDNA (UTS #46) to ASCII, lower-cased and
// stripped of trailing dots; numeric IPv4 forms become dotted quads.
func Normalize(raw string) (URL, error) {
	p, err := Parse(raw)
	if err != nil {
		return URL{}, err
	}
	u := URL{String: p.String(), Scheme: p.Scheme, IP: p.IP, Userinfo: p.Username != "" || p.Password != ""}
	switch {
	case p.HasHost:
		u.Host = strings.ToLower(strings.TrimRight(p.Host, "."))
		if u.Host == "" && p.Host != "" {
			return URL{}, fmt.Errorf("urlcheck: host %q is only dots", p.Host)
		}
	case p.Scheme == "mailto":
		addr := p.Path
		if i := strings.IndexByte(addr, ','); i >= 0 {
			addr = addr[:i]
		}
		addr, _ = url.PathUnescape(addr)
		at := strings.LastIndexByte(addr, '@')
		if at < 0 {
			return u, nil
		}
		h, ip, err := parseHost(addr[at+1:], false)
		if err != nil {
			return URL{}, err
		}
		u.Host, u.IP = strings.TrimRight(h, "."), ip
	}
	if u.IP.IsValid() {
		rawHost := rawHostOf(raw)
		u.NumericHost = u.IP.Is4() && rawHost != "" && rawHost != u.Host
	} else if u.Host != "" {
		u.Domain = RegistrableDomain(u.Host, Registry)
		u.IDN = strings.Contains(u.Host, "xn--")
		u.MixedScript = u.IDN && mixedScript(u.Host)
	}
	return u, nil
}

// rawHostOf returns the host as written in raw (best effort, for telling a
// plain dotted quad from an obfuscated numeric form).
func rawHostOf(raw string) string {
	s := raw
	if i := strings.Index(s, ":"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimLeft(s, "/\\")
	if i := strings.IndexAny(s, "/\\?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && !strings.HasPrefix(s, "[") {
		s = s[:i]
	}
	return strings.ToLower(strings.TrimRight(s, "."))
}

// DomainName returns d as a domain name in one form, lower case without a
// trailing dot, or "" when d cannot be a host name (no dot, empty labels,
// bytes no name has). UTF-8 labels are kept as they are: sender identities
// are compared as written.
func DomainName(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" || len(d) > 253 || !strings.Contains(d, ".") || strings.Contains(d, "..") ||
		strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
		return ""
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r >= 0x80) {
			return ""
		}
	}
	return d
}

// Scope says which rules of the Public Suffix List end a registrable
// domain. The list has two sections: ICANN (what registries sell: com,
// co.uk) and PRIVATE (names whose owners declared that the names under them
// belong to different people: blogspot.com, github.io). Callers need one or
// the other, for the reasons on each value.
type Scope int

const (
	// Registry uses the ICANN section only: foo.blogspot.com belongs to
	// blogspot.com. RFC 7489 §3.2's Organizational Domain (DMARC alignment
	// and policy discovery), as RFC 7489 erratum 6729 reads it and as
	// other DMARC verifiers do; the domain of a URL in the report; and the
	// domains the classifier and the reputation store learn (changing the
	// scope would orphan what they already learned).
	Registry Scope = iota
	// Site uses both sections: foo.blogspot.com is a registrable domain of
	// its own. DNS blocklists list a hosting customer's name, never the
	// shared parent (a listing of blogspot.com would hit every blog), and
	// the nameservers of a tenant are the parent's, so the NS walk stops at
	// the private suffix.
	Site
)

// RegistrableDomain returns the registrable domain of host ("eTLD+1") in
// the given scope of the Public Suffix List, in A-labels (U-labels are
// converted with IDNA). Names the list does not know fall back to its
// default rule "*" (their last label is the suffix). IP literals, single
// labels, public suffixes themselves and names no host can have give "".
// Case and trailing dots are ignored. It is the one place Vigil decides
// where a domain's owner ends.
func RegistrableDomain(host string, scope Scope) string {
	host = strings.ToLower(strings.TrimRight(strings.TrimSpace(host), "."))
	// An address has no registrable domain: a bracketed literal, or a
	// name whose last label is a number (no top-level domain is), which is
	// how the URL Standard tells IPv4 hosts (§3.5 "ends in a number").
	if host == "" || strings.HasPrefix(host, "[") || len(host) > 253 || endsInNumber(host) {
		return ""
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			ascii, err := domainToASCII(host)
			if err != nil {
				return ""
			}
			host = ascii
			break
		}
	}
	if !strings.Contains(host, ".") || strings.HasPrefix(host, ".") || strings.Contains(host, "..") {
		return ""
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return ""
		}
	}
	suffix, _ := PublicSuffix(host, scope)
	if suffix == "" || len(host) <= len(suffix) {
		return ""
	}
	rest := host[:len(host)-len(suffix)-1]
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest + "." + suffix
}

// PublicSuffix returns the longest public suffix of host (ASCII, lower
// case) in the given scope, and whether a rule of the list matched; when
// none did, the PSL default rule "*" gives the last label and false.
func PublicSuffix(host string, scope Scope) (suffix string, listed bool) {
	ps, icann := publicsuffix.PublicSuffix(host)
	if scope == Site {
		// A private rule always has two labels or more; a single label
		// without icann is the default rule.
		return ps, icann || strings.Contains(ps, ".")
	}
	for !icann {
		// A private rule matched (or none): retry one label shorter until
		// an ICANN rule or a single label is left.
		i := strings.IndexByte(ps, '.')
		if i < 0 {
			return ps, false
		}
		ps, icann = publicsuffix.PublicSuffix(ps[i+1:])
	}
	return ps, true
}

// hasListedSuffix reports whether host ends in a suffix the ICANN section
// lists and has a label before it (so "example.co.uk" does; "co.uk",
// "node.js" and "example.invalid" do not): a scheme-less name in text is a
// link only then.
func hasListedSuffix(host string) bool {
	host = strings.ToLower(strings.TrimRight(host, "."))
	s, ok := PublicSuffix(host, Registry)
	return ok && len(host) > len(s)
}

// mixedScript reports a label whose Unicode form mixes the scripts that
// share look-alike letters (UTS #39 §5.1 "mixed-script" restricted to
// Latin, Cyrillic and Greek; Han with kana and the like is normal).
func mixedScript(asciiHost string) bool {
	uni, err := idna.Punycode.ToUnicode(asciiHost)
	if err != nil {
		return false
	}
	for _, label := range strings.Split(uni, ".") {
		var latin, cyrillic, greek int
		for _, r := range label {
			switch {
			case r < 0x80:
				if r >= 'a' && r <= 'z' {
					latin = 1
				}
			case unicode.Is(unicode.Latin, r):
				latin = 1
			case unicode.Is(unicode.Cyrillic, r):
				cyrillic = 1
			case unicode.Is(unicode.Greek, r):
				greek = 1
			}
		}
		if latin+cyrillic+greek > 1 {
			return true
		}
	}
	return false
}
