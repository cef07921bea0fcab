package engine

import (
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/dnsbl"
)

// Symbols is the catalogue of every symbol Vigil can report with these
// blocklists configured: each check's declared symbols (this package links
// every check, so the catalogue is complete here), each check's error
// symbol, the symbols of how a message arrived, and the blocklist families
// expanded with the enabled lists' names. It is what `scores:` and the
// documentation can name.
func Symbols(lists []dnsbl.List) []filters.SymbolSpec {
	var names []string
	for _, l := range lists {
		if l.IsEnabled() {
			names = append(names, l.Name)
		}
	}
	return filters.Catalogue(map[string][]string{dnsbl.Placeholder: names})
}
