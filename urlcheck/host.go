package urlcheck

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// idnaProfile is UTS #46 ToASCII with the flags the URL Standard §3.3
// "domain to ASCII" sets: CheckHyphens=false, CheckBidi=true,
// CheckJoiners=true, UseSTD3ASCIIRules=false, Transitional_Processing=false,
// VerifyDnsLength=false. Homographs (a Cyrillic "а" in "pаypal") come out as
// punycode, which is what blocklists list.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
	idna.CheckJoiners(true),
	idna.VerifyDNSLength(false),
)

// parseHost is the URL Standard §3.5 host parser. opaque is true for
// non-special schemes, whose hosts are only percent-encoded.
func parseHost(input string, opaque bool) (string, netip.Addr, error) {
	if strings.HasPrefix(input, "[") {
		if !strings.HasSuffix(input, "]") {
			return "", netip.Addr{}, fmt.Errorf("urlcheck: unterminated IPv6 host %q", input)
		}
		ip, err := parseIPv6(input[1 : len(input)-1])
		if err != nil {
			return "", netip.Addr{}, err
		}
		return "[" + serializeIPv6(ip) + "]", ip, nil
	}
	if opaque {
		for i := 0; i < len(input); i++ {
			if isForbiddenHost(input[i]) {
				return "", netip.Addr{}, fmt.Errorf("urlcheck: forbidden host code point %q", input[i])
			}
		}
		return percentEncode(input, inC0), netip.Addr{}, nil
	}
	domain := percentDecode(input)
	if !utf8.ValidString(domain) {
		return "", netip.Addr{}, fmt.Errorf("urlcheck: host %q is not UTF-8 after percent-decoding", input)
	}
	ascii, err := domainToASCII(domain)
	if err != nil {
		return "", netip.Addr{}, err
	}
	for i := 0; i < len(ascii); i++ {
		if isForbiddenDomain(ascii[i]) {
			return "", netip.Addr{}, fmt.Errorf("urlcheck: forbidden domain code point %q in %q", ascii[i], ascii)
		}
	}
	if endsInNumber(ascii) {
		ip, err := parseIPv4(ascii)
		if err != nil {
			return "", netip.Addr{}, err
		}
		return ip.String(), ip, nil
	}
	return ascii, netip.Addr{}, nil
}

func domainToASCII(s string) (string, error) {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	// Fast path (URL Standard "domain to ASCII", beStrict false): pure ASCII
	// without any "xn--" label only needs lower-casing.
	if ascii && !strings.Contains(strings.ToLower(s), "xn--") {
		return strings.ToLower(s), nil
	}
	out, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("urlcheck: idna: %w", err)
	}
	if out == "" {
		return "", fmt.Errorf("urlcheck: empty host after idna")
	}
	return out, nil
}

func isForbiddenHost(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\r', ' ', '#', '/', ':', '<', '>', '?', '@', '[', '\\', ']', '^', '|':
		return true
	}
	return false
}

func isForbiddenDomain(c byte) bool {
	return isForbiddenHost(c) || c <= 0x1f || c == '%' || c == 0x7f
}

// percentDecode decodes %XX sequences; invalid ones stay literal.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }
func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// endsInNumber is the URL Standard "ends in a number" checker: hosts like
// "0x7f.1" or "3232235777" are IPv4 addresses, not domains.
func endsInNumber(s string) bool {
	parts := strings.Split(s, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	if len(last) >= 2 && last[0] == '0' && last[1]|0x20 == 'x' {
		for i := 2; i < len(last); i++ {
			if !isHex(last[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// parseIPv4 is the URL Standard IPv4 parser: one to four parts, each
// decimal, octal (leading 0) or hex (0x); the last part fills the remaining
// bytes, so "http://3232235777/", "http://0xC0.0250.1.1/" and
// "http://192.168.257/" are all addresses a browser will connect to.
func parseIPv4(s string) (netip.Addr, error) {
	parts := strings.Split(s, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return netip.Addr{}, fmt.Errorf("urlcheck: IPv4 host %q has more than four parts", s)
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return netip.Addr{}, fmt.Errorf("urlcheck: invalid IPv4 part %q in %q", p, s)
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, fmt.Errorf("urlcheck: IPv4 part out of range in %q", s)
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, fmt.Errorf("urlcheck: IPv4 address out of range %q", s)
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v += n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
}

func parseIPv4Number(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(p) >= 2 && p[0] == '0' && p[1]|0x20 == 'x':
		p, base = p[2:], 16
		if p == "" {
			return 0, true
		}
	case len(p) >= 2 && p[0] == '0':
		p, base = p[1:], 8
	}
	// Cap the length so a hostile 10k-digit host cannot overflow; anything
	// longer than this is out of range anyway.
	if len(strings.TrimLeft(p, "0")) > 12 {
		for i := 0; i < len(p); i++ {
			if !isHex(p[i]) {
				return 0, false
			}
		}
		return 1 << 40, true
	}
	n, err := strconv.ParseUint(p, base, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

func parseIPv6(s string) (netip.Addr, error) {
	if strings.ContainsAny(s, "%") {
		return netip.Addr{}, fmt.Errorf("urlcheck: IPv6 zone not allowed in %q", s)
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is6() {
		return netip.Addr{}, fmt.Errorf("urlcheck: invalid IPv6 host %q", s)
	}
	return ip, nil
}

// serializeIPv6 is the URL Standard IPv6 serializer: lower-case hex, the
// first longest run of two or more zero pieces compressed, no embedded IPv4.
func serializeIPv6(ip netip.Addr) string {
	a := ip.As16()
	var pieces [8]uint16
	for i := range pieces {
		pieces[i] = uint16(a[2*i])<<8 | uint16(a[2*i+1])
	}
	best, bestLen := -1, 1
	for i := 0; i < 8; {
		if pieces[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && pieces[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	var b strings.Builder
	for i := 0; i < 8; i++ {
		if i == best {
			if i == 0 {
				b.WriteString("::")
			} else {
				b.WriteByte(':')
			}
			i += bestLen - 1
			continue
		}
		b.WriteString(strconv.FormatUint(uint64(pieces[i]), 16))
		if i < 7 {
			b.WriteByte(':')
		}
	}
	return b.String()
}
