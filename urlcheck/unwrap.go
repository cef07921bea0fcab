package urlcheck

import (
	"net/url"
	"strings"
)

const (
	maxUnwrapDepth = 3
	maxUnwrapHops  = 8
)

// Unwrap returns the URLs a redirect wrapper carries in its query, in order,
// so that both hops are checked: Outlook safelinks (url=), Google
// (/url?q=), Facebook (l.php?u=), Proofpoint URL Defense (v2 u= with its
// -/_ encoding, v3 /__URL__;), and any other parameter whose value is an
// absolute http(s) URL (open redirects and click trackers work the same
// way). Nested wrappers are followed to a depth of 3; at most 8 URLs are
// returned. The wrapper itself is not included.
func Unwrap(u URL) []URL {
	var out []URL
	seen := map[string]bool{u.String: true}
	var walk func(s string, depth int)
	walk = func(s string, depth int) {
		if depth > maxUnwrapDepth {
			return
		}
		for _, t := range innerTargets(s) {
			if len(out) >= maxUnwrapHops {
				return
			}
			n, err := Normalize(t)
			if err != nil || n.Host == "" || seen[n.String] {
				continue
			}
			if dotless(n) {
				// No reader reaches a one-label host ("https://simplysale"
				// cut by a line wrap): not a target.
				continue
			}
			seen[n.String] = true
			out = append(out, n)
			walk(n.String, depth+1)
		}
	}
	walk(u.String, 1)
	return out
}

// innerTargets lists candidate target URLs inside the serialised URL s.
func innerTargets(s string) []string {
	p, err := Parse(s)
	if err != nil || !p.HasHost {
		return nil
	}
	var out []string
	host := strings.TrimRight(p.Host, ".")
	// Proofpoint URL Defense v3: https://urldefense.com/v3/__<url>__;<sig>
	if host == "urldefense.com" && strings.HasPrefix(p.Path, "/v3/__") {
		rest := strings.TrimPrefix(s[strings.Index(s, "/v3/__"):], "/v3/__")
		if i := strings.Index(rest, "__;"); i >= 0 {
			out = append(out, rest[:i])
		}
	}
	if !p.HasQuery {
		return out
	}
	proofpointV2 := host == "urldefense.proofpoint.com" && strings.HasPrefix(p.Path, "/v2/")
	for _, kv := range strings.Split(p.Query, "&") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		if proofpointV2 && k == "u" {
			// v2 encodes "%" as "-" and "/" as "_" before percent-encoding.
			v = strings.NewReplacer("-", "%", "_", "/").Replace(v)
		}
		v = unescapeValue(v)
		if strings.Contains(v[:min(len(v), 12)], "%3") {
			v = unescapeValue(v) // encoded twice, as trackers often do
		}
		lv := strings.ToLower(v[:min(len(v), 8)])
		if strings.HasPrefix(lv, "http://") || strings.HasPrefix(lv, "https://") {
			out = append(out, v)
		}
	}
	return out
}

func unescapeValue(v string) string {
	if u, err := url.QueryUnescape(v); err == nil {
		return u
	}
	return percentDecode(strings.ReplaceAll(v, "+", " "))
}

// dotless reports a URL whose host is one label and no IP address: no
// public name, and what a line break inside a host leaves of it.
func dotless(u URL) bool {
	return u.Host != "" && !u.IP.IsValid() && !strings.Contains(strings.TrimSuffix(u.Host, "."), ".")
}
