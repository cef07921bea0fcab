package follow

import (
	"bytes"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Via says how a hop was reached from the previous one.
type Via string

const (
	ViaStart   Via = ""        // the URL of the message
	ViaHTTP    Via = "http"    // 3xx with Location (RFC 9110 §15.4)
	ViaRefresh Via = "refresh" // <meta http-equiv=refresh> or a Refresh header
	ViaScript  Via = "script"  // a trivial JavaScript location assignment
)

// maxScriptScan bounds the script text searched for location assignments.
const maxScriptScan = 64 << 10

// jsLocation matches the trivial forms of a script redirect with a string
// literal target: location = "...", location.href = '...',
// window.location = "...", document.location.href = "...",
// location.replace("...") and location.assign("..."). Anything computed
// is not followed: we do not run scripts.
var jsLocation = regexp.MustCompile(
	`(?:\b(?:window|document|top|self|parent)\s*\.\s*)?\blocation(?:\s*\.\s*href)?\s*=\s*(?:"([^"\\\n]{1,1000})"|'([^'\\\n]{1,1000})')` +
		`|\blocation\s*\.\s*(?:replace|assign)\s*\(\s*(?:"([^"\\\n]{1,1000})"|'([^'\\\n]{1,1000})')\s*\)`)

// ClientRedirect finds the target of a client-side redirect in an HTML page:
// a <meta http-equiv="refresh"> with a URL, else the first trivial script
// location assignment. The target is returned as written (relative
// references are resolved by the caller); "" when there is none.
func ClientRedirect(page []byte) (target string, via Via) {
	z := html.NewTokenizer(bytes.NewReader(page))
	var script strings.Builder
	inScript := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			if t := scriptTarget(script.String()); t != "" {
				return t, ViaScript
			}
			return "", ViaStart
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if a == atom.Script {
				inScript = true
			}
			if a != atom.Meta || !hasAttr {
				continue
			}
			var equiv, content string
			for more := true; more; {
				var k, v []byte
				k, v, more = z.TagAttr()
				switch strings.ToLower(string(k)) {
				case "http-equiv":
					equiv = string(v)
				case "content":
					content = string(v)
				}
			}
			if strings.EqualFold(strings.TrimSpace(equiv), "refresh") {
				if t := RefreshTarget(content); t != "" {
					return t, ViaRefresh
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if atom.Lookup(name) == atom.Script {
				inScript = false
			}
		case html.TextToken:
			if inScript && script.Len() < maxScriptScan {
				t := z.Text()
				if n := maxScriptScan - script.Len(); len(t) > n {
					t = t[:n]
				}
				script.Write(t)
				script.WriteByte('\n')
			}
		}
	}
}

func scriptTarget(s string) string {
	m := jsLocation.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	for _, g := range m[1:] {
		if g = strings.TrimSpace(g); g != "" {
			return g
		}
	}
	return ""
}

// RefreshTarget returns the URL of a refresh directive ("5; url=/next"),
// parsed as the HTML Living Standard "shared declarative refresh steps"
// do, or "" when it names none (a plain reload).
func RefreshTarget(content string) string {
	s := strings.TrimLeft(content, " \t\n\f\r")
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 && (len(s) == 0 || s[0] != '.') {
		// The time is required; "url=..." alone is not a refresh.
		return ""
	}
	s = strings.TrimLeft(s[i:], " \t\n\f\r")
	if s == "" {
		return ""
	}
	if s[0] != ';' && s[0] != ',' {
		return ""
	}
	s = strings.TrimLeft(s[1:], " \t\n\f\r;,")
	if len(s) >= 3 && strings.EqualFold(s[:3], "url") {
		r := strings.TrimLeft(s[3:], " \t\n\f\r")
		if strings.HasPrefix(r, "=") {
			s = strings.TrimLeft(r[1:], " \t\n\f\r")
		}
	}
	if s != "" && (s[0] == '"' || s[0] == '\'') {
		q := s[0]
		s = s[1:]
		if j := strings.IndexByte(s, q); j >= 0 {
			s = s[:j]
		}
	}
	return strings.TrimSpace(s)
}
