package follow

import (
	"strings"
	"unicode"

	"github.com/vigilmail/vigil/urlcheck"
)

// brandLabels maps a brand word as it appears in link text or a display
// name to the registrable-domain labels (the part before the public
// suffix) that legitimately serve its login pages.
var brandLabels = map[string][]string{
	"paypal":     {"paypal"},
	"microsoft":  {"microsoft", "microsoftonline", "live", "office", "outlook", "sharepoint", "onedrive", "azure"},
	"office":     {"microsoft", "microsoftonline", "live", "office", "office365", "outlook", "sharepoint"},
	"office365":  {"microsoft", "microsoftonline", "live", "office", "office365", "outlook", "sharepoint"},
	"outlook":    {"microsoft", "microsoftonline", "live", "office", "outlook"},
	"onedrive":   {"microsoft", "microsoftonline", "live", "onedrive", "sharepoint"},
	"sharepoint": {"microsoft", "microsoftonline", "sharepoint"},
	"apple":      {"apple", "icloud"},
	"icloud":     {"apple", "icloud"},
	"amazon":     {"amazon"},
	"google":     {"google", "gmail", "youtube"},
	"gmail":      {"google", "gmail"},
	"netflix":    {"netflix"},
	"dhl":        {"dhl"},
	"fedex":      {"fedex"},
	"ups":        {"ups"},
	"usps":       {"usps"},
	"docusign":   {"docusign"},
	"dropbox":    {"dropbox"},
	"adobe":      {"adobe"},
	"facebook":   {"facebook", "meta"},
	"instagram":  {"instagram", "facebook", "meta"},
	"linkedin":   {"linkedin"},
	"chase":      {"chase"},
	"hsbc":       {"hsbc"},
	"barclays":   {"barclays"},
	"santander":  {"santander"},
	"coinbase":   {"coinbase"},
	"binance":    {"binance"},
	"metamask":   {"metamask"},
	"steam":      {"steampowered", "steamcommunity"},
	"spotify":    {"spotify"},
	"ebay":       {"ebay"},
	"yahoo":      {"yahoo"},
	"wetransfer": {"wetransfer"},
	"zoom":       {"zoom"},
	"webmail":    nil, // generic: any domain may host webmail, never a mismatch
}

// BrandMismatch reports whether text (the link text, or a sender display
// name) names a domain or a known brand that pageDomain, the registrable
// domain of a page, does not belong to. brand is what text named. Text that
// names nothing gives no mismatch: we cannot tell what the reader expected.
func BrandMismatch(text, pageDomain string) (brand string, mismatch bool) {
	pageDomain = strings.ToLower(pageDomain)
	if pageDomain == "" || strings.TrimSpace(text) == "" {
		return "", false
	}
	label := pageDomain
	if suffix, _ := urlcheck.PublicSuffix(pageDomain, urlcheck.Registry); suffix != "" && len(pageDomain) > len(suffix) {
		label = pageDomain[:len(pageDomain)-len(suffix)-1]
	}
	// A domain written in the text is the strongest claim.
	var named []string
	for _, f := range urlcheck.ExtractTextLimit(text, 8) {
		if f.URL.Domain != "" {
			named = append(named, f.URL.Domain)
		}
	}
	if len(named) > 0 {
		for _, d := range named {
			if d == pageDomain {
				return d, false
			}
		}
		return named[0], true
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		labels, ok := brandLabels[w]
		if !ok {
			continue
		}
		if labels == nil {
			return "", false
		}
		for _, l := range labels {
			if label == l {
				return w, false
			}
		}
		return w, true
	}
	return "", false
}
