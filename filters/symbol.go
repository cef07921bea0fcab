package filters

import (
	"sort"
)

// Symbol is one piece of evidence a check reports. Checks propose a default
// Score; the policy may override it per symbol name.
type Symbol struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Detail string  `json:"detail,omitempty"`
	// Force is the least action this symbol demands regardless of the score
	// (for example DMARC p=reject honoured as reject, or a required check
	// that failed closed demanding tempfail). Empty means none.
	Force Action `json:"-"`
	// Hard keeps Force even under policy.dry_run. Only for what Vigil could
	// not check at all (a header block larger than it keeps): a dry run
	// delivers what Vigil judged, never what it did not read.
	Hard bool `json:"-"`
}

// sortSymbols orders symbols by name, then detail, so the same evidence
// always yields the same verdict and header whatever finished first.
func sortSymbols(s []Symbol) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Name != s[j].Name {
			return s[i].Name < s[j].Name
		}
		return s[i].Detail < s[j].Detail
	})
}
