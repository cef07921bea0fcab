package config

import (
	"fmt"

	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/lists"
)

// knownSymbols is every symbol name `scores:` can set with this
// configuration: the catalogue of the checks (engine links them all), each
// check's error symbol, the blocklist families expanded with the names
// of every configured list, enabled or not (an override for a list switched
// off for now is not a mistake), and the operator's lists.
func (c *Config) knownSymbols() map[string]bool {
	known := map[string]bool{}
	for _, s := range engine.Symbols(c.allBlocklists(), c.Lists...) {
		known[s.Name] = true
	}
	return known
}

// allBlocklists are the configured blocklists, each as if enabled.
func (c *Config) allBlocklists() []dnsbl.List {
	all := make([]dnsbl.List, len(c.Blocklists))
	on := true
	for i, l := range c.Blocklists {
		l.Enabled = &on
		all[i] = l
	}
	return all
}

// symbolOwner says who reports the symbol name besides the operator's
// lists: a check, a blocklist or the message's arrival; ok is false when
// nothing does (the name is free for a list).
func (c *Config) symbolOwner(name string) (owner string, ok bool) {
	for _, s := range engine.Symbols(c.allBlocklists()) {
		if s.Name != name || s.Check == lists.Name {
			continue
		}
		switch s.Check {
		case "":
			return "the message's arrival", true
		case "dnsbl":
			return "a blocklist (blocklists:)", true
		}
		return "check " + s.Check, true
	}
	return "", false
}

// unknownScore says why a scores: name is refused, "" when it is known.
func unknownScore(name string, known map[string]bool) string {
	switch {
	case !validSymbol(name):
		return "symbol names are upper-case letters, digits and _"
	case !known[name]:
		why := "no check reports this symbol"
		if near := nearestSymbol(name, known); near != "" {
			why += fmt.Sprintf(" (did you mean %s?)", near)
		}
		return why
	}
	return ""
}

// nearestSymbol is the known name closest to name by edit distance, when it
// is close enough to be a typing slip (a third of the name, at least 2
// edits); "" otherwise. Ties go to the alphabetically first name, so the
// suggestion is stable.
func nearestSymbol(name string, known map[string]bool) string {
	best, bestD := "", max(2, len(name)/3)+1
	for k := range known {
		if d := editDistance(name, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two ASCII names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
