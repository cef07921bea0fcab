package phishing

import (
	"strings"

	"golang.org/x/net/idna"

	"github.com/vigilmail/vigil/urlcheck"
)

// protected is a domain whose look-alikes are looked for: a brand's, or
// one of the operator's own.
type protected struct {
	domain string // registrable domain, A-labels
	label  string // its first label ("paypal" of paypal.com)
	skel   string // fold(label) with hyphens removed
	brand  *brandSet
}

// domainLabel is the part of a registrable domain before its public
// suffix, in Unicode when it is an IDN ("pаypal" of xn--pypal-4ve.com).
func domainLabel(reg string) string {
	suffix, _ := urlcheck.PublicSuffix(reg, urlcheck.Registry)
	label := strings.TrimSuffix(strings.TrimSuffix(reg, suffix), ".")
	if strings.Contains(label, "xn--") {
		if u, err := idna.Punycode.ToUnicode(label); err == nil {
			label = u
		}
	}
	return label
}

// lookalikeOf returns the protected domain that reg (a registrable
// domain that is not one of them) imitates, and how:
//   - "homograph": the same skeleton (UTS #39) as the protected name,
//     Unicode look-alikes and IDNA included ("pаypal.com", "paypa1.com");
//   - "typo": one letter added, dropped or swapped with its neighbour,
//     or replaced by one that looks like it (rn/m, vv/w, l/i), in a name
//     of six letters or more ("paypall.com", "micosoft.com");
//   - "hyphenated": the name with hyphens or digits added
//     ("pay-pal.com").
func lookalikeOf(reg string, prot []protected) (*protected, string) {
	return protIndex{list: prot}.lookalike(reg)
}

// protIndex finds protected domains by skeleton and length: those of
// the maps (the configured ones, indexed once) and those of list (a
// message's recipients' domains, a few).
type protIndex struct {
	bySkel map[string][]*protected
	byLen  map[int][]*protected
	list   []protected
}

func (ix protIndex) withSkel(skel string) []*protected {
	out := ix.bySkel[skel]
	for i := range ix.list {
		if ix.list[i].skel == skel {
			out = append(out[:len(out):len(out)], &ix.list[i])
		}
	}
	return out
}

func (ix protIndex) withLen(n int) []*protected {
	out := ix.byLen[n]
	for i := range ix.list {
		if len(ix.list[i].skel) == n {
			out = append(out[:len(out):len(out)], &ix.list[i])
		}
	}
	return out
}

func (ix protIndex) lookalike(reg string) (*protected, string) {
	label := domainLabel(reg)
	if label == "" {
		return nil, ""
	}
	skel := strings.ReplaceAll(fold(label), "-", "")
	for _, p := range ix.withSkel(skel) {
		if reg != p.domain && len(p.label) >= 4 && label != p.label {
			return p, "homograph"
		}
	}
	for n := len(skel) - 1; n <= len(skel)+1; n++ {
		for _, p := range ix.withLen(n) {
			if reg != p.domain && len(p.skel) >= 6 && typo(skel, p.skel) {
				return p, "typo"
			}
		}
	}
	if bare := strings.Trim(skel, "0123456789"); bare != skel {
		for _, p := range ix.withSkel(bare) {
			if reg != p.domain && len(p.skel) >= 5 {
				return p, "hyphenated"
			}
		}
	}
	return nil, ""
}

// typo reports a and b (folded names) one edit apart, where the edit is
// what a reader does not notice: a letter added or dropped, two
// neighbours swapped, or a letter replaced by a similar one. An unlike
// replacement ("cooking" for "booking") is a different word, not a typo.
func typo(a, b string) bool {
	if a == b {
		return false
	}
	la, lb := len(a), len(b)
	switch {
	case la == lb:
		var diff []int
		for i := 0; i < la; i++ {
			if a[i] != b[i] {
				diff = append(diff, i)
				if len(diff) > 2 {
					return false
				}
			}
		}
		if len(diff) == 2 {
			i, j := diff[0], diff[1]
			return j == i+1 && a[i] == b[j] && a[j] == b[i]
		}
		return len(diff) == 1 && similar(a[diff[0]], b[diff[0]])
	case la == lb+1:
		return oneInsert(b, a)
	case lb == la+1:
		return oneInsert(a, b)
	}
	return false
}

// oneInsert reports long as short with one byte inserted.
func oneInsert(short, long string) bool {
	i := 0
	for i < len(short) && short[i] == long[i] {
		i++
	}
	return short[i:] == long[i+1:]
}

// similar letters pass for each other at a glance (the skeleton already
// maps 0/o, 1/l, rn/m).
func similar(x, y byte) bool {
	for _, p := range []string{"il", "ij", "lj", "uv", "nm", "ce", "gq", "hn"} {
		if (x == p[0] && y == p[1]) || (x == p[1] && y == p[0]) {
			return true
		}
	}
	return false
}

// brandInHost returns the brand whose name a host carries while its
// registrable domain is not the brand's: a label or a hyphen-separated
// part of one equal to a name of the brand ("microsoft-uk.example",
// "paypal.com.secure.example"), or, for names of six letters and more
// that are not ordinary words, contained in a label
// ("support-trustwallet.example", "appliveloclube.example").
func (c *Check) brandInHost(host, reg string) (*brandSet, string) {
	if host == "" || reg == "" {
		return nil, ""
	}
	// The public suffix is not searched (".com", ".com.br").
	suffix, _ := urlcheck.PublicSuffix(reg, urlcheck.Registry)
	for _, l := range strings.Split(strings.TrimSuffix(host, "."+suffix), ".") {
		if strings.HasPrefix(l, "xn--") {
			if u, err := idna.Punycode.ToUnicode(l); err == nil {
				l = u
			}
		}
		f := fold(l)
		parts := strings.FieldsFunc(f, func(r rune) bool { return r == '-' || r == '_' || r >= '0' && r <= '9' })
		for _, p := range parts {
			for _, a := range c.byJoined[p] {
				if !a.brand.owns(reg) {
					return a.brand, l
				}
			}
		}
		// Inside a longer label only a long name counts, and as written
		// (the skeleton makes "stearns" of "steams"): a short one is
		// part of other words ("revolut" of "revolution", "gmail" of
		// "enigmail").
		plain := strings.ReplaceAll(strings.ToLower(l), "-", "")
		for _, a := range c.inHost {
			if strings.Contains(plain, a.plain) && !a.brand.owns(reg) {
				return a.brand, l
			}
		}
	}
	return nil, ""
}
