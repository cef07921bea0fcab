package reputation

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"net/url"
	"strings"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/urlcheck"
)

// The kinds of reputation keys; each selects a symbol family and a score
// cap (Caps).
const (
	// KindIP is the connecting client address.
	KindIP store.Kind = "ip"
	// KindNet is the client's /24 (IPv4) or /64 (IPv6).
	KindNet store.Kind = "net"
	// KindSender is an authenticated sender identity: a DKIM d= that
	// passed, the SPF domain that passed, the From domain when DMARC passed.
	KindSender store.Kind = "sender"
	// KindSenderUnauth is a claimed but unauthenticated identity (From
	// domain, MAIL FROM domain). It is a separate key so that forged mail
	// can neither poison nor borrow the reputation of the real domain.
	KindSenderUnauth store.Kind = "sender_unauth"
	// KindDomain is a registrable domain linked from the message.
	KindDomain store.Kind = "domain"
	// KindNS is the host name of a nameserver of a linked or sender domain.
	KindNS store.Kind = "ns"
	// KindNSIP is an address of such a nameserver.
	KindNSIP store.Kind = "ns_ip"
	// KindURL is a URL without scheme, query and fragment (host and path):
	// it tells apart spam and ham on shared hosts and shorteners, where the
	// domain says nothing.
	KindURL store.Kind = "url"
	// KindContent is one band of the near-duplicate fingerprint of the text.
	KindContent store.Kind = "content"
	// KindImage is the SHA-256 of an inline, attached or data: image.
	KindImage store.Kind = "image"
	// KindImageBand is one band of a picture's perceptual hash
	// (images.Hash.Bands): a picture re-encoded, resized or recompressed
	// shares NearBands of them with the one learned.
	KindImageBand store.Kind = "image_band"
	// KindPage is the text fingerprint of a landing page reached by
	// following a link (Facts.Links): the same phishing kit behind a new
	// domain has the same key.
	KindPage store.Kind = "page"
)

// KindTotal counts every learned report by class (TotalsID): the rates a
// key's counts are read against.
const KindTotal store.Kind = "total"

// TotalsID is the store id of the report totals. It is learned with every
// report (so a moved report moves it too) and never scored.
const TotalsID = string(KindTotal) + ":reports"

// sharedKind reports whether keys of kind k are infrastructure that many
// unrelated domains share: nameservers and their addresses (most domains,
// good and bad, sit on a few DNS hosts), and the client address and its
// network (large senders send for many domains).
func sharedKind(k store.Kind) bool {
	switch k {
	case KindNS, KindNSIP, KindIP, KindNet:
		return true
	}
	return false
}

// TenantsID is the store id counting the distinct registrable domains
// seen behind k in reports (in its Spam field).
func TenantsID(k store.Key) string { return "tenants:" + k.ID() }

// tenantPairID marks that domain was seen behind the key with id keyID.
func tenantPairID(keyID, domain string) string {
	v := keyID + "|" + domain
	if len(v) > maxValueLen {
		sum := sha256.Sum256([]byte(v))
		v = "sha256." + hex.EncodeToString(sum[:])
	}
	return "tenant:" + v
}

// tenantPairs lists, for the shared keys of m, the registrable domains
// behind each in this message: the domains a nameserver (name or address)
// serves, and the authenticated sender domains for the client address and
// network. Claimed identities do not count, so a bot forging many From
// domains cannot make its address look shared.
func tenantPairs(m *filters.Message, keys []store.Key) map[string][]string {
	out := map[string][]string{}
	have := map[string]bool{}
	for _, k := range keys {
		have[k.ID()] = true
	}
	add := func(k store.Key, dom string) {
		if id := k.ID(); have[id] && dom != "" {
			for _, d := range out[id] {
				if d == dom {
					return
				}
			}
			out[id] = append(out[id], dom)
		}
	}
	for _, d := range m.Facts.Infra.Domains {
		dom := urlcheck.DomainName(d.Domain)
		for _, ns := range d.NS {
			if h := urlcheck.DomainName(ns.Name); h != "" {
				add(store.Key{Kind: KindNS, Value: h}, dom)
			}
			for _, a := range ns.Addrs {
				if a.IsValid() {
					add(store.Key{Kind: KindNSIP, Value: a.Unmap().String()}, dom)
				}
			}
		}
	}
	for _, k := range keys {
		if k.Kind != KindSender {
			continue
		}
		for _, c := range keys {
			if c.Kind == KindIP || c.Kind == KindNet {
				add(c, k.Value)
			}
		}
	}
	return out
}

// Kinds lists every kind, in the order symbols are built.
var Kinds = []store.Kind{KindIP, KindNet, KindSender, KindSenderUnauth, KindDomain, KindNS, KindNSIP, KindURL, KindContent, KindImage, KindImageBand, KindPage}

// Learning weights.
const (
	// FullWeight is what one message adds to a key it really carries.
	FullWeight = 1.0
	// UnauthWeight is what it adds to an identity it only claims (From or
	// MAIL FROM domain without SPF/DMARC pass). Those keys are separate from
	// the authenticated ones, and the low weight means a campaign forging
	// a domain needs many reports before the forged name scores.
	UnauthWeight = 0.25
)

// Per-message limits on keys of one kind, so a message stuffed with links
// can neither blow up a read nor smear its reports over hundreds of keys.
const (
	maxDomains = 30
	maxURLs    = 20
	maxNS      = 24
	maxImages  = 10
	// maxPictures bounds the pictures whose bands are keys (16 each).
	maxPictures = 4
	// maxValueLen: longer values are stored as their SHA-256.
	maxValueLen = 200
)

// Keys returns the reputation keys of m with their learning weights, in a
// stable order without duplicates. It reads the identities (envelope and
// From) and the Facts written by the auth, dmarc, content and nameservers checks;
// missing Facts simply yield fewer keys.
func Keys(m *filters.Message) []store.Key {
	var ks keySet
	ks.seen = map[string]bool{}

	if ip := m.Envelope.ClientIP.Unmap(); publicAddr(ip) {
		ks.add(KindIP, ip.String(), FullWeight)
		bits := 24
		if ip.Is6() {
			bits = 64
		}
		if p, err := ip.Prefix(bits); err == nil {
			ks.add(KindNet, p.String(), FullWeight)
		}
	}

	// Authenticated identities (RFC 6376 §6.1 d= of a passing signature,
	// RFC 7208 §2.3/2.4 checked domain on pass, RFC 7489 §3.1 From domain
	// when DMARC passed).
	auth := m.Facts.Auth
	authed := map[string]bool{}
	for _, d := range auth.DKIM {
		if d.Result == filters.DKIMPass {
			if dom := urlcheck.DomainName(d.Domain); dom != "" {
				ks.add(KindSender, dom, FullWeight)
				authed[dom] = true
			}
		}
	}
	if auth.SPF.Result == filters.SPFPass {
		if dom := urlcheck.DomainName(auth.SPF.Domain); dom != "" {
			ks.add(KindSender, dom, FullWeight)
			authed[dom] = true
		}
	}
	id := m.Identities()
	from := urlcheck.DomainName(id.Author().Domain)
	if auth.DMARC.Result == filters.DMARCPass {
		dom := urlcheck.DomainName(auth.DMARC.Domain)
		if dom == "" {
			dom = from
		}
		if dom != "" {
			ks.add(KindSender, dom, FullWeight)
			authed[dom] = true
		}
	}
	// Claimed identities that nothing authenticated.
	mailFrom := urlcheck.DomainName(id.MailFrom.Domain)
	for _, dom := range []string{from, mailFrom} {
		if dom != "" && !authed[dom] {
			ks.add(KindSenderUnauth, dom, UnauthWeight)
		}
	}

	c := m.Facts.Content
	n := 0
	// Domains linked directly, then where followed links led.
	for _, d := range append(append([]string(nil), c.Domains...), m.Facts.HopDomains()...) {
		if n >= maxDomains {
			break
		}
		if dom := urlcheck.DomainName(d); dom != "" && ks.add(KindDomain, dom, FullWeight) {
			n++
		}
	}
	n = 0
	for _, u := range c.URLs {
		if n >= maxURLs {
			break
		}
		if v := urlKey(u.URL); v != "" && ks.add(KindURL, v, FullWeight) {
			n++
		}
	}

	names, addrs := 0, 0
	for _, d := range m.Facts.Infra.Domains {
		for _, ns := range d.NS {
			if names < maxNS {
				if h := urlcheck.DomainName(ns.Name); h != "" && ks.add(KindNS, h, FullWeight) {
					names++
				}
			}
			for _, a := range ns.Addrs {
				if addrs < maxNS && a.IsValid() && ks.add(KindNSIP, a.Unmap().String(), FullWeight) {
					addrs++
				}
			}
		}
	}

	for _, band := range filters.Derived(m, "reputation.fingerprint", func() []string { return Fingerprint(c.Text) }) {
		ks.add(KindContent, band, FullWeight)
	}

	for _, p := range Pictures(m) {
		if p.Exact.Value != "" {
			ks.add(p.Exact.Kind, p.Exact.Value, p.Exact.Weight)
		}
		for _, b := range p.Bands {
			ks.add(b.Kind, b.Value, b.Weight)
		}
	}
	// Landing pages of followed links: the text hash of the fingerprint.
	n = 0
	for _, ch := range m.Facts.Links {
		if n >= maxURLs {
			break
		}
		h := strings.ToLower(ch.Fingerprint.Hash)
		if h != "" && isHex(h) && ks.add(KindPage, h, FullWeight) {
			n++
		}
	}
	return ks.keys
}

type keySet struct {
	keys []store.Key
	seen map[string]bool
}

func (ks *keySet) add(kind store.Kind, value string, w float64) bool {
	if len(value) > maxValueLen {
		sum := sha256.Sum256([]byte(value))
		value = "sha256." + hex.EncodeToString(sum[:])
	}
	k := store.Key{Kind: kind, Value: value, Weight: w}
	if ks.seen[k.ID()] {
		return false
	}
	ks.seen[k.ID()] = true
	ks.keys = append(ks.keys, k)
	return true
}

// publicAddr: loopback, private and link-local clients are our own relays
// or local submission; their reputation says nothing about senders.
func publicAddr(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsLinkLocalUnicast() &&
		!ip.IsUnspecified() && !ip.IsMulticast()
}

// urlKey is host+path of u without scheme, userinfo, port, query and
// fragment; "" for URLs without a path (the domain key covers those) or
// that do not parse.
func urlKey(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return ""
	}
	host := urlcheck.DomainName(u.Hostname())
	if host == "" {
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			host = a.String()
		} else {
			return ""
		}
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if path == "" {
		return ""
	}
	return host + path
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
