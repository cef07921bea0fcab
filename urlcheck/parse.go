// Package urlcheck finds URLs in mail text, normalises them the way a
// browser would (WHATWG URL Standard, https://url.spec.whatwg.org/), and
// derives the registrable domain a blocklist or reputation store keys on.
//
// The parser is written for absolute URLs as they appear in mail: relative
// references are not resolved (a message has no base URL worth trusting),
// so Parse fails on them.
package urlcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrNotAbsolute is returned for input without a scheme.
var ErrNotAbsolute = errors.New("urlcheck: not an absolute URL")

// Parsed is a URL split into its WHATWG components, each already normalised
// (percent-encoded, lower-cased host, default port removed).
type Parsed struct {
	Scheme   string // lower case, without ":"
	Username string
	Password string
	// HasHost is false for URLs without an authority (mailto:, data:).
	HasHost bool
	// Host is the serialised host: a domain in ASCII (punycode), a dotted
	// quad, or a bracketed IPv6 address. Trailing dots are kept as in the
	// standard; URL.Host strips them.
	Host string
	// IP is set when the host is an IP address.
	IP   netip.Addr
	Port string // "" when absent or the scheme's default
	// Path is the serialised path ("/" for special schemes without one), or
	// the opaque path of a URL like mailto:user@example.com.
	Path     string
	Opaque   bool
	Query    string // without "?"; HasQuery tells "" from absent
	HasQuery bool
	Fragment string // without "#"
	HasFrag  bool
}

// specialPorts are the special schemes and their default ports (URL
// Standard §4.2 "special scheme").
var specialPorts = map[string]string{
	"ftp": "21", "file": "", "http": "80", "https": "443", "ws": "80", "wss": "443",
}

// IsSpecial reports whether scheme is a WHATWG special scheme.
func IsSpecial(scheme string) bool {
	_, ok := specialPorts[scheme]
	return ok
}

// Percent-encode sets, URL Standard §1.3.
func inC0(c byte) bool { return c < 0x20 || c > 0x7e }
func inFragment(c byte) bool {
	return inC0(c) || c == ' ' || c == '"' || c == '<' || c == '>' || c == '`'
}
func inQuery(c byte) bool { return inC0(c) || c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' }
func inSpecialQuery(c byte) bool {
	return inQuery(c) || c == '\''
}
func inPath(c byte) bool {
	return inQuery(c) || c == '?' || c == '^' || c == '`' || c == '{' || c == '}'
}
func inUserinfo(c byte) bool {
	return inPath(c) || c == '/' || c == ':' || c == ';' || c == '=' || c == '@' || (c >= '[' && c <= ']') || c == '|'
}

func percentEncode(s string, set func(byte) bool) string {
	need := false
	for i := 0; i < len(s); i++ {
		if set(s[i]) {
			need = true
			break
		}
	}
	if !need {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if set(c) {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Parse parses an absolute URL following the WHATWG basic URL parser with no
// base URL. It fails where a browser would fail.
func Parse(input string) (*Parsed, error) {
	// §4.4 basic URL parser: strip leading and trailing C0 control or space,
	// then remove all ASCII tab or newline.
	input = strings.TrimFunc(input, func(r rune) bool { return r <= 0x20 })
	if strings.ContainsAny(input, "\t\n\r") {
		input = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(input)
	}
	if !utf8.ValidString(input) {
		input = strings.ToValidUTF8(input, "\uFFFD")
	}
	// Scheme state.
	i := 0
	for i < len(input) && (isAlpha(input[i]) || (i > 0 && (isDigit(input[i]) || input[i] == '+' || input[i] == '-' || input[i] == '.'))) {
		i++
	}
	if i == 0 || i >= len(input) || input[i] != ':' {
		return nil, ErrNotAbsolute
	}
	p := &Parsed{Scheme: strings.ToLower(input[:i])}
	rest := input[i+1:]
	special := IsSpecial(p.Scheme)

	if special {
		if p.Scheme == "file" {
			return parseFile(p, rest)
		}
		// Special authority ignore slashes state: any run of / and \.
		rest = strings.TrimLeft(rest, "/\\")
		return parseAuthority(p, rest, true)
	}
	if strings.HasPrefix(rest, "//") {
		return parseAuthority(p, rest[2:], false)
	}
	if strings.HasPrefix(rest, "/") {
		path, q, f, hq, hf := splitTail(rest, false)
		p.Path = normalizePath(path, false)
		setTail(p, q, f, hq, hf)
		if strings.HasPrefix(p.Path, "//") {
			// §4.5 URL serializer would otherwise emit an authority.
			p.Path = "/." + p.Path
		}
		return p, nil
	}
	// Opaque path state.
	path, q, f, hq, hf := splitTail(rest, false)
	p.Opaque = true
	if !hq && !hf {
		path = strings.TrimRight(path, " ")
	} else if strings.HasSuffix(path, " ") {
		// Trailing space before ? or # is kept but encoded so it survives
		// serialisation (URL Standard, opaque path state).
		path = path[:len(path)-1] + "%20"
	}
	p.Path = percentEncode(path, inC0)
	setTail(p, q, f, hq, hf)
	return p, nil
}

func setTail(p *Parsed, q, f string, hq, hf bool) {
	if hq {
		p.HasQuery = true
		if IsSpecial(p.Scheme) {
			p.Query = percentEncode(q, inSpecialQuery)
		} else {
			p.Query = percentEncode(q, inQuery)
		}
	}
	if hf {
		p.HasFrag = true
		p.Fragment = percentEncode(f, inFragment)
	}
}

// splitTail splits s into path, query and fragment.
func splitTail(s string, _ bool) (path, query, frag string, hasQ, hasF bool) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		frag, hasF = s[i+1:], true
		s = s[:i]
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		query, hasQ = s[i+1:], true
		s = s[:i]
	}
	return s, query, frag, hasQ, hasF
}

func parseAuthority(p *Parsed, rest string, special bool) (*Parsed, error) {
	end := len(rest)
	for j := 0; j < len(rest); j++ {
		c := rest[j]
		if c == '/' || c == '?' || c == '#' || (special && c == '\\') {
			end = j
			break
		}
	}
	auth, tail := rest[:end], rest[end:]
	// Authority state: the userinfo ends at the LAST "@", so
	// http://good.example@evil.example/ names evil.example.
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		ui := auth[:at]
		auth = auth[at+1:]
		user, pass, _ := strings.Cut(ui, ":")
		p.Username = percentEncode(user, inUserinfo)
		p.Password = percentEncode(pass, inUserinfo)
		if auth == "" {
			return nil, fmt.Errorf("urlcheck: empty host after userinfo")
		}
	}
	hostStr, port, sawColon := auth, "", false
	// The port starts at the first ":" outside brackets (host state).
	inBr := false
	for j := 0; j < len(auth); j++ {
		switch auth[j] {
		case '[':
			inBr = true
		case ']':
			inBr = false
		case ':':
			if !inBr {
				hostStr, port, sawColon = auth[:j], auth[j+1:], true
				j = len(auth)
			}
		}
	}
	if hostStr == "" {
		if special || sawColon || p.Username != "" || p.Password != "" {
			return nil, fmt.Errorf("urlcheck: empty host")
		}
	}
	p.HasHost = true
	if hostStr != "" {
		h, ip, err := parseHost(hostStr, !special)
		if err != nil {
			return nil, err
		}
		p.Host, p.IP = h, ip
	}
	if port != "" {
		for j := 0; j < len(port); j++ {
			if !isDigit(port[j]) {
				return nil, fmt.Errorf("urlcheck: invalid port %q", port)
			}
		}
		n, err := strconv.ParseUint(strings.TrimLeft(port, "0")+"0", 10, 32)
		if err != nil || n/10 > 65535 {
			return nil, fmt.Errorf("urlcheck: port out of range %q", port)
		}
		port = strconv.FormatUint(n/10, 10)
		if def, ok := specialPorts[p.Scheme]; ok && def == port {
			port = ""
		}
		p.Port = port
	}
	path, q, f, hq, hf := splitTail(tail, special)
	if special {
		path = strings.ReplaceAll(path, "\\", "/")
	}
	p.Path = normalizePath(path, special)
	setTail(p, q, f, hq, hf)
	return p, nil
}

func parseFile(p *Parsed, rest string) (*Parsed, error) {
	rest = strings.ReplaceAll(rest, "\\", "/")
	p.HasHost = true
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		end := len(rest)
		for j := 0; j < len(rest); j++ {
			if rest[j] == '/' || rest[j] == '?' || rest[j] == '#' {
				end = j
				break
			}
		}
		hostStr, tail := rest[:end], rest[end:]
		if len(hostStr) == 2 && isAlpha(hostStr[0]) && (hostStr[1] == ':' || hostStr[1] == '|') {
			// Windows drive letter quirk: file://C:/x is a path.
			tail = "/" + hostStr + tail
			hostStr = ""
		}
		if hostStr != "" {
			h, ip, err := parseHost(hostStr, false)
			if err != nil {
				return nil, err
			}
			if h != "localhost" {
				p.Host, p.IP = h, ip
			}
		}
		rest = tail
	}
	path, q, f, hq, hf := splitTail(rest, true)
	p.Path = normalizePath(path, true)
	setTail(p, q, f, hq, hf)
	return p, nil
}

// normalizePath applies the path state: split on "/", resolve "." and ".."
// segments (also their %2e spellings) and percent-encode.
func normalizePath(path string, special bool) string {
	if path == "" {
		if special {
			return "/"
		}
		return ""
	}
	if path[0] == '/' {
		path = path[1:]
	}
	segs := strings.Split(path, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch strings.ToLower(s) {
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		case ".", "%2e":
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, percentEncode(s, inPath))
		}
	}
	return "/" + strings.Join(out, "/")
}

// String serialises the URL (URL Standard §4.5).
func (p *Parsed) String() string {
	var b strings.Builder
	b.WriteString(p.Scheme)
	b.WriteByte(':')
	if p.HasHost {
		b.WriteString("//")
		if p.Username != "" || p.Password != "" {
			b.WriteString(p.Username)
			if p.Password != "" {
				b.WriteByte(':')
				b.WriteString(p.Password)
			}
			b.WriteByte('@')
		}
		b.WriteString(p.Host)
		if p.Port != "" {
			b.WriteByte(':')
			b.WriteString(p.Port)
		}
	}
	b.WriteString(p.Path)
	if p.HasQuery {
		b.WriteByte('?')
		b.WriteString(p.Query)
	}
	if p.HasFrag {
		b.WriteByte('#')
		b.WriteString(p.Fragment)
	}
	return b.String()
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
