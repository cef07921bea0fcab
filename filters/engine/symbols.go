package engine

import (
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/lists"
)

// Symbols is the catalogue of every symbol Vigil can report with these
// blocklists and operator lists configured: each check's declared symbols
// (this package links every check, so the catalogue is complete here),
// each check's error symbol, the symbols of how a message arrived, and the
// list families expanded with the lists' names. It is what `scores:` and
// the documentation can name.
func Symbols(blocklists []dnsbl.List, operator ...lists.List) []filters.SymbolSpec {
	var names, own []string
	for _, l := range blocklists {
		if l.IsEnabled() {
			names = append(names, l.Name)
		}
	}
	for _, l := range operator {
		own = append(own, l.Name)
	}
	return filters.Catalogue(map[string][]string{dnsbl.Placeholder: names, lists.Placeholder: own})
}
