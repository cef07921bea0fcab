package filters

import (
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"github.com/vigilmail/vigil/urlcheck"
)

// Address is one mailbox of a header field (RFC 5322 §3.4).
type Address struct {
	// Name is the display name with RFC 2047 encoded-words decoded (any
	// charset); "" when there is none.
	Name string
	// Local is the local-part as written.
	Local string
	// Domain is the domain, lower case without a trailing dot; "" when the
	// address has none.
	Domain string
}

// String is the address without its display name: local@domain.
func (a Address) String() string {
	if a.Domain == "" {
		return a.Local
	}
	return a.Local + "@" + a.Domain
}

// Identities is who a message says it is from: its header fields and
// envelope, parsed once (Message.Identities). What authentication proved
// of them is in Facts.Auth; every domain the message names, with its role,
// is Message.Domains.
type Identities struct {
	// From holds the addresses of every From field, in order (RFC 5322
	// §3.6.2: the author).
	From []Address
	// FromFields is the number of From fields; RFC 5322 §3.6 wants one.
	FromFields int
	// FromMalformed reports that some From field did not parse as an
	// address list. Its addresses were then taken from every "@domain" in
	// it: a From that does not parse is no way around DMARC (RFC 7489
	// §6.6.1 lets a receiver evaluate every domain it names).
	FromMalformed bool
	// ReplyTo and Sender are the addresses of those fields (RFC 5322
	// §3.6.2), read the same way.
	ReplyTo []Address
	Sender  []Address
	// To holds the addresses of the To fields (RFC 5322 §3.6.3): who the
	// author says the message is for. The envelope recipients are in
	// Message.Envelope.Rcpts.
	To []Address
	// MailFrom is the envelope sender (RFC 5321 §4.1.1.2); zero for the
	// null reverse-path.
	MailFrom Address
}

// Author is the first From address: the one mail clients show. It is zero
// when there is none.
func (id *Identities) Author() Address {
	if len(id.From) == 0 {
		return Address{}
	}
	return id.From[0]
}

// Identities returns the message's identities, parsed on first use from
// the header and envelope (both are read-only once the pipeline runs).
func (m *Message) Identities() *Identities {
	m.idOnce.Do(func() { m.id = parseIdentities(m) })
	return m.id
}

func parseIdentities(m *Message) *Identities {
	id := &Identities{}
	for _, v := range m.HeaderValues("From") {
		id.FromFields++
		addrs, ok := ParseAddressList(v)
		id.From = append(id.From, addrs...)
		id.FromMalformed = id.FromMalformed || !ok
	}
	for _, v := range m.HeaderValues("Reply-To") {
		addrs, _ := ParseAddressList(v)
		id.ReplyTo = append(id.ReplyTo, addrs...)
	}
	for _, v := range m.HeaderValues("Sender") {
		addrs, _ := ParseAddressList(v)
		id.Sender = append(id.Sender, addrs...)
	}
	for _, v := range m.HeaderValues("To") {
		addrs, _ := ParseAddressList(v)
		id.To = append(id.To, addrs...)
	}
	if mf := m.Envelope.MailFrom; mf != "" {
		id.MailFrom = splitAddress("", mf)
	}
	return id
}

// addressParser decodes display names in every charset go-message knows
// (net/mail alone knows UTF-8, US-ASCII and ISO-8859-1 and fails the whole
// field on any other).
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader}}

// atAddress finds what looks like an address in a field that does not
// parse: a local-part without specials, "@", and a domain.
var atAddress = regexp.MustCompile(`([^\s<>"(),;:@\[\]\\]*)@([A-Za-z0-9._-]+)`)

// ParseAddressList is the one place Vigil reads addresses out of a header
// field. ok is false when the field is not an RFC 5322 address-list; the
// addresses are then the one a mail client would show first (in the last
// "<...>", else around the last '@'), carrying the text before '<' as its
// name, and every other local@domain found in the field.
func ParseAddressList(v string) (addrs []Address, ok bool) {
	if !utf8.ValidString(v) {
		// Raw 8-bit text in a display name (common in old and in hostile
		// mail) would fail the whole field; the address is still there.
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if list, err := addressParser.ParseList(v); err == nil {
		for _, a := range list {
			addrs = append(addrs, splitAddress(decodeName(a.Name), a.Address))
		}
		return addrs, true
	}
	name, rest := "", v
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		name, rest = strings.Trim(strings.TrimSpace(v[:i]), `"`), v[i+1:]
		if j := strings.IndexByte(rest, '>'); j >= 0 {
			rest = rest[:j]
		}
	}
	first := splitAddress(decodeName(name), strings.TrimRight(strings.TrimSpace(rest), "> \t"))
	// The domain ends where a domain cannot go on (a quote, a comma, a
	// space): the same characters as atAddress takes.
	if i := strings.IndexFunc(first.Domain, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}); i >= 0 {
		first.Domain = strings.TrimSuffix(first.Domain[:i], ".")
	}
	seen := map[string]bool{}
	if first.Domain != "" {
		addrs = append(addrs, first)
		seen[first.Domain] = true
	}
	for _, mm := range atAddress.FindAllStringSubmatch(v, -1) {
		a := splitAddress("", mm[1]+"@"+mm[2])
		if !seen[a.Domain] {
			seen[a.Domain] = true
			addrs = append(addrs, a)
		}
	}
	return addrs, false
}

// decodeName decodes what RFC 2047 encoded-words net/mail left in a
// display name: those inside a quoted string or glued to other text, which
// RFC 2047 §5 does not allow and senders write anyway.
func decodeName(name string) string {
	if !strings.Contains(name, "=?") {
		return name
	}
	if d, err := addressParser.WordDecoder.DecodeHeader(name); err == nil {
		return d
	}
	return name
}

func splitAddress(name, addr string) Address {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return Address{Name: name, Local: addr}
	}
	return Address{Name: name, Local: addr[:i], Domain: strings.ToLower(strings.TrimSuffix(strings.TrimSpace(addr[i+1:]), "."))}
}

// Role says where a message names a domain.
type Role uint8

const (
	// RoleEnvelope: the MAIL FROM domain (RFC 5321 §4.1.1.2).
	RoleEnvelope Role = iota + 1
	// RoleFrom: an RFC 5322 From address.
	RoleFrom
	// RoleDKIM: the d= of a DKIM signature that passed (RFC 6376 §3.5);
	// failing signatures prove nothing and are left out.
	RoleDKIM
	// RoleHelo: the HELO/EHLO name.
	RoleHelo
	// RoleClientName: the client's verified reverse DNS name.
	RoleClientName
	// RoleReplyTo: a Reply-To address.
	RoleReplyTo
	// RoleSender: the Sender address.
	RoleSender
	// RoleLink: the host of a URL of the body (Facts.Content.URLs).
	RoleLink
	// RoleImage: the host of a remote or css image.
	RoleImage
	// RoleAddress: the registrable domain of an e-mail address in the
	// body (text or mailto: link).
	RoleAddress
	// RoleRedirect: the host of a hop reached by following a link
	// (Facts.Links).
	RoleRedirect
	// RoleNameserver: an NS host of one of the domains above
	// (Facts.Infra).
	RoleNameserver
)

var roleNames = [...]string{"", "envelope", "from", "dkim", "helo", "client_name", "reply_to", "sender",
	"link", "image", "address", "redirect", "nameserver"}

func (r Role) String() string {
	if int(r) < len(roleNames) && r != 0 {
		return roleNames[r]
	}
	return fmt.Sprintf("role%d", r)
}

// Origin reports a domain that says where the message comes from, as the
// SMTP session, the author field and authentication tell: envelope, From,
// DKIM, HELO, client name. (Reply-To says where answers go.)
func (r Role) Origin() bool {
	return r == RoleEnvelope || r == RoleFrom || r == RoleDKIM || r == RoleHelo || r == RoleClientName
}

// Linked reports a domain the message points the reader to (its content
// and where that leads) rather than one that says who sent it.
func (r Role) Linked() bool {
	return r == RoleLink || r == RoleImage || r == RoleAddress || r == RoleRedirect
}

// NamedDomain is one domain the message names, and how.
type NamedDomain struct {
	Role Role
	// Name is the domain as named, lower case without a trailing dot: the
	// host of a URL, the domain of an address, a DKIM d=, an NS host.
	Name string
	// Via says where it was named when the role alone does not: the URL of
	// a link, an image or the start of a redirect chain; for a nameserver,
	// the domain it serves.
	Via string
}

// Registrable is the registrable domain of Name in the given scope of the
// Public Suffix List ("" for public suffixes and names without one).
func (d NamedDomain) Registrable(s urlcheck.Scope) string {
	return urlcheck.RegistrableDomain(d.Name, s)
}

// Domains returns every domain the message names, in a stable order:
// sender identities (envelope, From, DKIM, HELO, client name, Reply-To,
// Sender), then what the body points to (links in message order, then
// images and addresses in name order), redirect hops, and the nameservers
// behind them all. A domain named in several ways appears once per role
// and place. Do not modify the result.
//
// It reads the facts of the stages before the caller's: DKIM and content
// (stage auth), links (stage links), nameservers (stage policy). In a
// pipeline it is computed once per stage and shared by the stage's checks;
// the part before the nameservers, final from the policy stage on, is
// computed once per message.
func (m *Message) Domains() []NamedDomain {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase > 0 && m.domainsPhase == m.phase {
		return m.domains
	}
	// What the message itself names is final once its links were
	// followed (the links stage); the stages after it only add
	// nameservers, so they share that part.
	final := m.phase > int(StageLinks)+1
	base := m.named
	if !final || !m.namedDone {
		base = m.collectDomains()
	}
	if final {
		m.named, m.namedDone = base, true
	}
	ds := append(base[:len(base):len(base)], m.nameserverDomains()...)
	if m.phase > 0 {
		m.domains, m.domainsPhase = ds, m.phase
	}
	return ds
}

func (m *Message) collectDomains() []NamedDomain {
	id := m.Identities()
	var out []NamedDomain
	add := func(r Role, name, via string) {
		if n := urlcheck.DomainName(name); n != "" && !isAddress(n) {
			out = append(out, NamedDomain{Role: r, Name: n, Via: via})
		}
	}
	add(RoleEnvelope, id.MailFrom.Domain, "")
	for _, a := range id.From {
		add(RoleFrom, a.Domain, "")
	}
	for _, d := range m.Facts.Auth.DKIM {
		if d.Result == DKIMPass {
			add(RoleDKIM, d.Domain, "")
		}
	}
	add(RoleHelo, m.Envelope.Helo, "")
	add(RoleClientName, m.Envelope.ClientName, "")
	for _, a := range id.ReplyTo {
		add(RoleReplyTo, a.Domain, "")
	}
	for _, a := range id.Sender {
		add(RoleSender, a.Domain, "")
	}
	c := &m.Facts.Content
	linked := map[string]bool{}
	for _, u := range c.URLs {
		add(RoleLink, u.Host, u.URL)
		linked[u.Domain] = true
	}
	images := map[string]string{}
	for _, img := range c.Images {
		if img.Host == "" {
			continue
		}
		if d := urlcheck.RegistrableDomain(img.Host, urlcheck.Registry); d != "" && images[d] == "" {
			images[d] = img.Host
		}
	}
	// Content.Domains are the registrable domains of links, images and
	// addresses; what is not a link's is an image's or an address's.
	for _, d := range c.Domains {
		switch {
		case linked[d]:
		case images[d] != "":
			add(RoleImage, images[d], "")
		default:
			add(RoleAddress, d, "")
		}
	}
	for _, ch := range m.Facts.Links {
		for _, h := range ch.Hops {
			add(RoleRedirect, h.Host, ch.URL)
		}
	}
	return out
}

// nameserverDomains are the NS hosts of Facts.Infra, in its order.
func (m *Message) nameserverDomains() []NamedDomain {
	var out []NamedDomain
	for _, d := range m.Facts.Infra.Domains {
		for _, ns := range d.NS {
			if n := urlcheck.DomainName(ns.Name); n != "" && !isAddress(n) {
				out = append(out, NamedDomain{Role: RoleNameserver, Name: n, Via: d.Domain})
			}
		}
	}
	return out
}

// isAddress reports a name that is an IPv4 address rather than a domain:
// its last label is a number, which no top-level domain is. (IPv6 literals
// never pass urlcheck.DomainName.)
func isAddress(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	return last != "" && strings.Trim(last, "0123456789") == ""
}
