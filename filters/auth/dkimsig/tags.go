// Package dkimsig is the DKIM signature machinery the authentication checks
// share: tag lists (RFC 6376 §3.2), header and body canonicalisation
// (§3.4), header selection (§5.4.2), key records (§3.6.1) and the
// verification of one signature header. The "dkim" check verifies with
// go-msgauth; the "arc" check (RFC 8617), which reuses DKIM's signature
// algorithm with other header names, verifies with this package.
package dkimsig

import (
	"errors"
	"fmt"
	"strings"
)

// Tags is a parsed tag-list: tag names as written (case-sensitive,
// RFC 6376 §3.2), values with surrounding whitespace removed.
type Tags map[string]string

// ErrTags is wrapped by every tag-list syntax error.
var ErrTags = errors.New("dkimsig: malformed tag-list")

// ParseTags parses tag-list = tag-spec *( ";" tag-spec ) [ ";" ]
// (RFC 6376 §3.2). A duplicated tag is an error ("Tags with duplicate names
// MUST NOT occur within a single tag-list"). Empty tag-specs (";;") are
// tolerated, as DKIM verifiers commonly do; see ParseTagsStrict.
func ParseTags(s string) (Tags, error) { return parseTags(s, false) }

// ParseTagsStrict is ParseTags without tolerance: an empty tag-spec is an
// error except after the final ";" (RFC 8617 ARC headers are held to it).
func ParseTagsStrict(s string) (Tags, error) { return parseTags(s, true) }

func parseTags(s string, strict bool) (Tags, error) {
	t := Tags{}
	specs := strings.Split(s, ";")
	for i, spec := range specs {
		if strings.Trim(spec, " \t\r\n") == "" {
			if strict && i != len(specs)-1 {
				return nil, fmt.Errorf("%w: empty tag-spec", ErrTags)
			}
			continue
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q has no '='", ErrTags, strings.TrimSpace(spec))
		}
		name = strings.TrimSpace(name)
		if !validTagName(name) {
			return nil, fmt.Errorf("%w: bad tag name %q", ErrTags, name)
		}
		if _, dup := t[name]; dup {
			return nil, fmt.Errorf("%w: duplicate tag %q", ErrTags, name)
		}
		t[name] = strings.Trim(value, " \t\r\n")
	}
	return t, nil
}

// tag-name = ALPHA *ALNUMPUNC; ALNUMPUNC = ALPHA / DIGIT / "_"
func validTagName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alpha := (c|0x20) >= 'a' && (c|0x20) <= 'z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '_')) {
			return false
		}
	}
	return true
}

// StripFWS removes all whitespace, for values such as b=, bh=, p= and d=
// in which folding whitespace is ignored.
func StripFWS(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}
