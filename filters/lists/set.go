package lists

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/idna"

	"github.com/vigilmail/vigil/filters"
)

// entryKind is how a list's entries are written.
type entryKind uint8

const (
	kindDomain  entryKind = iota // a domain: itself and its subdomains
	kindAddress                  // an address, or a domain for every address in it
	kindIP                       // an address or a CIDR prefix
)

// set is the entries of one list, held for lookups that cost a few map
// probes whatever the list's size: a domain and each of its parents
// (DomainAndParents) for domains, one probe per prefix length present
// for addresses. A million entries are a few tens of megabytes; a sorted
// slice would halve that and cost twenty comparisons per probe instead of
// one hash.
type set struct {
	domains map[string]struct{}
	addrs   map[string]struct{}
	// v4 and v6 hold the masked prefixes of each length present, the
	// lengths in v4Lens / v6Lens, longest first.
	v4     map[uint8]map[uint32]struct{}
	v6     map[uint8]map[[16]byte]struct{}
	v4Lens []uint8
	v6Lens []uint8
	n      int
}

func newSet() *set {
	return &set{domains: map[string]struct{}{}, addrs: map[string]struct{}{},
		v4: map[uint8]map[uint32]struct{}{}, v6: map[uint8]map[[16]byte]struct{}{}}
}

// Len is the number of distinct entries.
func (s *set) Len() int { return s.n }

// add parses one entry written for kind and adds it.
func (s *set) add(kind entryKind, entry string) error {
	entry = strings.TrimSpace(entry)
	if entry == "" {
		return errors.New("empty entry")
	}
	if strings.ContainsAny(entry, " \t") {
		return errors.New("one entry per line (it has a space)")
	}
	switch kind {
	case kindIP:
		p, err := parsePrefix(entry)
		if err != nil {
			return err
		}
		s.addPrefix(p)
		return nil
	case kindAddress:
		local, dom, isAddr := strings.Cut(entry, "@")
		if !isAddr || local == "" {
			// "@example.org" or "example.org": every address in the
			// domain and its subdomains.
			d, err := normalizeDomain(strings.TrimPrefix(entry, "@"))
			if err != nil {
				return err
			}
			s.addDomain(d)
			return nil
		}
		d, err := normalizeDomain(dom)
		if err != nil {
			return err
		}
		if strings.ContainsAny(local, "<>()[],;:\\\"") {
			return fmt.Errorf("local part %q has characters an address cannot have unquoted", local)
		}
		n := len(s.addrs)
		s.addrs[strings.ToLower(local)+"@"+d] = struct{}{}
		s.n += len(s.addrs) - n
		return nil
	}
	d, err := normalizeDomain(entry)
	if err != nil {
		return err
	}
	s.addDomain(d)
	return nil
}

func (s *set) addDomain(d string) {
	// One hash per entry: the length says whether it was new.
	n := len(s.domains)
	s.domains[d] = struct{}{}
	s.n += len(s.domains) - n
}

// grow makes room for about n more entries of kind, so that loading a
// large file does not rehash its maps again and again.
func (s *set) grow(kind entryKind, n int) {
	if n <= 0 {
		return
	}
	switch kind {
	case kindDomain:
		s.domains = regrow(s.domains, n)
	case kindAddress:
		s.addrs = regrow(s.addrs, n/2)
		s.domains = regrow(s.domains, n/2)
	}
}

func regrow[K comparable](m map[K]struct{}, n int) map[K]struct{} {
	if len(m) > 0 {
		return m
	}
	return make(map[K]struct{}, n)
}

func (s *set) addPrefix(p netip.Prefix) {
	bits := uint8(p.Bits())
	a := p.Addr()
	if a.Is4() {
		m := s.v4[bits]
		if m == nil {
			m = map[uint32]struct{}{}
			s.v4[bits] = m
			s.v4Lens = insertLen(s.v4Lens, bits)
		}
		n := len(m)
		m[v4Key(a)] = struct{}{}
		s.n += len(m) - n
		return
	}
	m := s.v6[bits]
	if m == nil {
		m = map[[16]byte]struct{}{}
		s.v6[bits] = m
		s.v6Lens = insertLen(s.v6Lens, bits)
	}
	n := len(m)
	m[a.As16()] = struct{}{}
	s.n += len(m) - n
}

// insertLen keeps lens sorted longest first: the most specific entry
// is the one a match names.
func insertLen(lens []uint8, b uint8) []uint8 {
	lens = append(lens, b)
	slices.SortFunc(lens, func(x, y uint8) int { return int(y) - int(x) })
	return lens
}

func v4Key(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// parsePrefix reads an address (a prefix of its full length) or a CIDR
// prefix; host bits set in a prefix are an error, since 192.0.2.1/24
// more often means a typo than 192.0.2.0/24. IPv4-mapped IPv6 is the
// IPv4 address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an address or CIDR prefix")
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, errors.New("a zone has no place in a list")
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("host bits set: write %s", p.Masked())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("not an address or CIDR prefix")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// normalizeDomain is a list entry's domain as lookups see names: lower
// case, no trailing dot, A-labels for internationalized names (RFC 5890).
func normalizeDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if strings.HasPrefix(d, "*.") {
		return "", fmt.Errorf("no wildcards: %s matches its subdomains already", d[2:])
	}
	if !isASCII(d) {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return "", fmt.Errorf("not a domain: %v", err)
		}
		d = a
	}
	if d == "" || len(d) > 253 {
		return "", errors.New("not a domain")
	}
	// RFC 1035 §2.3.4 lengths; letters, digits and hyphens (RFC 952),
	// and the underscore that service names use.
	start := 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("not a domain (%q)", c)
			}
			continue
		}
		label := d[start:i]
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", errors.New("not a domain")
		}
		start = i + 1
	}
	return d, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// lookupName is a name from a message as entries are written: names in
// the message are lower case already (the identity view); U-labels become
// A-labels.
func lookupName(d string) string {
	if isASCII(d) {
		return strings.TrimSuffix(d, ".")
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return ""
	}
	return a
}

// domain returns the entry that matches the name d (d itself or a
// parent).
func (s *set) domain(d string) (string, bool) {
	if len(s.domains) == 0 {
		return "", false
	}
	for p := range filters.DomainAndParents(lookupName(d)) {
		if _, ok := s.domains[p]; ok {
			return p, true
		}
	}
	return "", false
}

// address returns the entry that matches the address a: the address
// itself or its domain (or a parent).
func (s *set) address(a filters.Address) (string, bool) {
	if a.Domain == "" {
		return "", false
	}
	dom := lookupName(a.Domain)
	if len(s.addrs) > 0 {
		k := strings.ToLower(a.Local) + "@" + dom
		if _, ok := s.addrs[k]; ok {
			return k, true
		}
	}
	return s.domain(dom)
}

// ip returns the longest entry that holds the address a.
func (s *set) ip(a netip.Addr) (netip.Prefix, bool) {
	if !a.IsValid() {
		return netip.Prefix{}, false
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		k := v4Key(a)
		for _, b := range s.v4Lens {
			m := k
			if b < 32 {
				m = k &^ (1<<(32-b) - 1)
			}
			if _, ok := s.v4[b][m]; ok {
				return netip.PrefixFrom(a, int(b)).Masked(), true
			}
		}
		return netip.Prefix{}, false
	}
	for _, b := range s.v6Lens {
		p := netip.PrefixFrom(a, int(b)).Masked()
		if _, ok := s.v6[b][p.Addr().As16()]; ok {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
