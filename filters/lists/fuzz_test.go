package lists

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

// FuzzEntries: whatever a list file holds, reading it never panics, every
// line is an entry or a LineError, and each domain entry read is found
// again by the name it was written as. Names from messages (attacker
// bytes) are looked up too.
func FuzzEntries(f *testing.F) {
	for _, s := range []string{
		"partner.example\n# comment\n\n*.x\nbücher.example # idn\n",
		"203.0.113.0/24\n2001:db8::/32\n::ffff:1.2.3.4\n1.2.3.4/33\n",
		"boss@partner.example\n@bulk.example\nnews.example\na@\n",
		strings.Repeat("a", 70) + ".example\n",
	} {
		f.Add(s, "www.partner.example")
	}
	f.Fuzz(func(t *testing.T, file, name string) {
		for _, kind := range []entryKind{kindDomain, kindAddress, kindIP} {
			s := newSet()
			bad, err := parseEntries(bytes.NewReader([]byte(file)), "f", kind, s)
			if err != nil {
				continue // a line over maxLine
			}
			lines := strings.Split(file, "\n")
			for _, b := range bad {
				if b.Line < 1 || b.Line > len(lines) {
					t.Fatalf("line %d of %d", b.Line, len(lines))
				}
			}
			s.domain(name)
			s.address(filters.Address{Local: name, Domain: name})
			if a, err := netip.ParseAddr(name); err == nil {
				s.ip(a)
			}
			if kind != kindDomain {
				continue
			}
			for _, l := range lines {
				if i := strings.IndexByte(l, '#'); i >= 0 {
					l = l[:i]
				}
				d, err := normalizeDomain(l)
				if err != nil || strings.TrimSpace(l) == "" {
					continue
				}
				if e, ok := s.domain(d); !ok || e != d {
					t.Fatalf("entry %q (%q) read but not found: %q %v", l, d, e, ok)
				}
			}
		}
	})
}
