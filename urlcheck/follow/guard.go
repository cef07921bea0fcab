package follow

import (
	"fmt"
	"net/netip"
)

// ForbiddenError says why an address or port may not be connected to.
type ForbiddenError struct {
	Addr   netip.Addr
	Port   uint16
	Reason string
}

func (e *ForbiddenError) Error() string {
	if !e.Addr.IsValid() {
		return fmt.Sprintf("follow: port %d forbidden: %s", e.Port, e.Reason)
	}
	return fmt.Sprintf("follow: address %s forbidden: %s", e.Addr, e.Reason)
}

// Guard decides which addresses and ports the follower may connect to. The
// zero Guard refuses every special-purpose address and allows ports 80 and
// 443 only.
type Guard struct {
	// Allow exempts these networks from the special-purpose checks. A
	// prefix matches the address in the form it was given: allowing
	// 127.0.0.0/8 does not allow ::ffff:127.0.0.1, whose embedded IPv4
	// address is vetted against the special ranges only (mapped and
	// translated forms are how filters are evaded).
	Allow []netip.Prefix
	// Ports are the TCP ports allowed; empty means 80 and 443.
	Ports []uint16
}

type specialRange struct {
	prefix netip.Prefix
	reason string
}

// special4 are the IPv4 ranges never connected to: the IANA IPv4
// Special-Purpose Address Registry (RFC 6890 and updates) plus multicast
// and the reserved class E, i.e. everything that is not ordinary global
// unicast.
var special4 = mustRanges(
	"0.0.0.0/8", "this network (RFC 791, RFC 6890)",
	"10.0.0.0/8", "private (RFC 1918)",
	"100.64.0.0/10", "shared address space, CGNAT (RFC 6598)",
	"127.0.0.0/8", "loopback (RFC 1122 §3.2.1.3)",
	"169.254.0.0/16", "link-local (RFC 3927)",
	"172.16.0.0/12", "private (RFC 1918)",
	"192.0.0.0/24", "IETF protocol assignments (RFC 6890)",
	"192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)",
	"192.31.196.0/24", "AS112-v4 (RFC 7535)",
	"192.52.193.0/24", "AMT (RFC 7450)",
	"192.88.99.0/24", "6to4 relay anycast (RFC 7526)",
	"192.168.0.0/16", "private (RFC 1918)",
	"192.175.48.0/24", "direct delegation AS112 (RFC 7534)",
	"198.18.0.0/15", "benchmarking (RFC 2544)",
	"198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)",
	"203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)",
	"224.0.0.0/4", "multicast (RFC 5771)",
	"240.0.0.0/4", "reserved, limited broadcast (RFC 1112, RFC 919)",
)

// special6 are IPv6 ranges refused inside global unicast 2000::/3 (the IANA
// IPv6 Special-Purpose Address Registry). Everything outside 2000::/3 is
// refused anyway, except the forms that embed an IPv4 address, which are
// vetted by that address.
var special6 = mustRanges(
	"2001::/23", "IETF protocol assignments, Teredo (RFC 2928, RFC 4380)",
	"2001:db8::/32", "documentation (RFC 3849)",
	"3fff::/20", "documentation (RFC 9637)",
	"5f00::/16", "SRv6 SIDs (RFC 9602)",
)

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64WKP       = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052 §2.1
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056
	v4Compat       = netip.MustParsePrefix("::/96")          // RFC 4291 §2.5.5.1
	discard6       = netip.MustParsePrefix("100::/64")       // RFC 6666
	ula            = netip.MustParsePrefix("fc00::/7")       // RFC 4193
	linkLocal6     = netip.MustParsePrefix("fe80::/10")      // RFC 4291 §2.5.6
	siteLocal6     = netip.MustParsePrefix("fec0::/10")      // RFC 3879
	multicast6     = netip.MustParsePrefix("ff00::/8")       // RFC 4291 §2.7
)

func mustRanges(pairs ...string) []specialRange {
	out := make([]specialRange, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, specialRange{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// CheckAddr returns nil when a may be connected to, else a
// *ForbiddenError naming the range it falls in.
func (g *Guard) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return &ForbiddenError{Addr: a, Reason: "invalid address"}
	}
	if a.Zone() != "" {
		// A scoped address names an interface of this host.
		return &ForbiddenError{Addr: a, Reason: "scoped address"}
	}
	for _, p := range g.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	if reason := specialReason(a); reason != "" {
		return &ForbiddenError{Addr: a, Reason: reason}
	}
	return nil
}

// specialReason returns why a is not ordinary global unicast, or "".
func specialReason(a netip.Addr) string {
	if a.Is4() {
		for _, r := range special4 {
			if r.prefix.Contains(a) {
				return r.reason
			}
		}
		return ""
	}
	if a.Is4In6() {
		// RFC 4291 §2.5.5.2: ::ffff:a.b.c.d is the IPv4 host a.b.c.d.
		if r := specialReason(a.Unmap()); r != "" {
			return "IPv4-mapped " + r
		}
		return ""
	}
	switch {
	case a.IsUnspecified():
		return "unspecified (RFC 4291 §2.5.2)"
	case a.IsLoopback():
		return "loopback (RFC 4291 §2.5.3)"
	case v4Compat.Contains(a):
		return "IPv4-compatible, deprecated (RFC 4291 §2.5.5.1)"
	case nat64WKP.Contains(a):
		// RFC 6052 §3.1: the well-known prefix must not embed
		// non-global IPv4 addresses.
		b := a.As16()
		if r := specialReason(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return "NAT64 " + r
		}
		return ""
	case nat64Local.Contains(a):
		return "local-use NAT64 (RFC 8215)"
	case discard6.Contains(a):
		return "discard-only (RFC 6666)"
	case ula.Contains(a):
		return "unique local (RFC 4193)"
	case linkLocal6.Contains(a):
		return "link-local (RFC 4291 §2.5.6)"
	case siteLocal6.Contains(a):
		return "site-local, deprecated (RFC 3879)"
	case multicast6.Contains(a):
		return "multicast (RFC 4291 §2.7)"
	case sixToFour.Contains(a):
		// RFC 3056 §2: 2002:V4ADDR::/48.
		b := a.As16()
		if r := specialReason(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return "6to4 " + r
		}
		return ""
	case !globalUnicast6.Contains(a):
		return "not global unicast (RFC 4291 §2.4)"
	}
	for _, r := range special6 {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// CheckPort returns nil when port is allowed.
func (g *Guard) CheckPort(port uint16) error {
	ports := g.Ports
	if len(ports) == 0 {
		ports = []uint16{80, 443}
	}
	for _, p := range ports {
		if p == port {
			return nil
		}
	}
	return &ForbiddenError{Port: port, Reason: "port not allowed"}
}
