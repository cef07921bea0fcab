package urlcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

type wptCase struct {
	Input    string  `json:"input"`
	Base     *string `json:"base"`
	Href     string  `json:"href"`
	Hostname string  `json:"hostname"`
	Failure  bool    `json:"failure"`
}

// TestConformanceWPTURL measures agreement with the WHATWG URL test data.
// Only inputs that are absolute URLs are measured (Parse resolves no
// relative references: mail has no base URL). The counts must be the
// READMEs': one case more or less that agrees is a change to review and
// write down (WPT_DIFFS=1 -v lists the differences).
func TestConformanceWPTURL(t *testing.T) {
	dir := sharedTestdata(t, "url-wpt")
	raw, err := os.ReadFile(filepath.Join(dir, "urltestdata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatal(err)
	}
	var total, skipped, agree, hrefOK, hostOK, failOK, failTotal, special, specialAgree int
	var diffs []string
	for _, it := range items {
		var c wptCase
		if json.Unmarshal(it, &c) != nil || c.Input == "" && c.Href == "" && !c.Failure {
			continue // comment string
		}
		total++
		p, err := Parse(c.Input)
		if err == ErrNotAbsolute && c.Base != nil {
			skipped++ // relative reference: needs a base URL
			continue
		}
		isSpecial := p != nil && IsSpecial(p.Scheme) && p.Scheme != "file"
		if isSpecial {
			special++
		}
		ok := false
		if c.Failure {
			failTotal++
			ok = err != nil
			if ok {
				failOK++
			}
		} else if err == nil {
			h := p.String()
			if h == c.Href {
				hrefOK++
			}
			if p.Host == c.Hostname {
				hostOK++
			}
			ok = h == c.Href
		}
		if ok {
			agree++
			if isSpecial {
				specialAgree++
			}
		} else if len(diffs) < 400 {
			got := "<error>"
			if err == nil {
				got = p.String()
			} else {
				got = "error: " + err.Error()
			}
			want := c.Href
			if c.Failure {
				want = "<failure>"
			}
			diffs = append(diffs, c.Input+"\n\twant "+want+"\n\tgot  "+got)
		}
	}
	measured := total - skipped
	t.Logf("WPT urltestdata: %d cases, %d relative (skipped), %d measured: %d agree (%.1f%%); special non-file schemes %d/%d; expected failures detected %d/%d; href %d, hostname %d",
		total, skipped, measured, agree, 100*float64(agree)/float64(measured), specialAgree, special, failOK, failTotal, hrefOK, hostOK)
	if testing.Verbose() && os.Getenv("WPT_DIFFS") != "" {
		for _, d := range diffs {
			t.Log(d)
		}
	}
	for _, c := range []struct {
		claim sharedtest.Claim
		got   int
	}{
		{sharedtest.Claim{Doc: "README.md", Text: "701 / 727 absolute cases (96.4%)", Value: 701}, agree},
		{sharedtest.Claim{Doc: "urlcheck/README.md", Text: "of the 727 absolute ones **701 agree (96.4%)**", Value: 701}, agree},
		{sharedtest.Claim{Doc: "urlcheck/README.md", Text: "all 257 expected failures fail", Value: 257}, failOK},
		{sharedtest.Claim{Doc: "urlcheck/README.md", Text: "208/212 special non-file", Value: 208}, specialAgree},
	} {
		c.claim.Equal(t, float64(c.got))
	}
	if total != 891 || skipped != 164 || failTotal != 257 || special != 212 {
		t.Errorf("%d cases, %d relative, %d expected failures, %d special; the README says 891, 164, 257, 212", total, skipped, failTotal, special)
	}
}

func TestConformanceWPTToASCII(t *testing.T) {
	dir := sharedTestdata(t, "url-wpt")
	raw, err := os.ReadFile(filepath.Join(dir, "toascii.json"))
	if err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatal(err)
	}
	var total, agree int
	for _, it := range items {
		var c struct {
			Input  string  `json:"input"`
			Output *string `json:"output"`
		}
		if json.Unmarshal(it, &c) != nil || c.Input == "" {
			continue
		}
		total++
		h, _, err := parseHost(c.Input, false)
		switch {
		case c.Output == nil && err != nil, c.Output != nil && err == nil && h == *c.Output:
			agree++
		default:
			if os.Getenv("WPT_DIFFS") != "" {
				t.Logf("%q: want %v got %q %v", c.Input, c.Output, h, err)
			}
		}
	}
	t.Logf("WPT toascii: %d/%d agree (%.1f%%)", agree, total, 100*float64(agree)/float64(total))
	sharedtest.Claim{Doc: "urlcheck/README.md", Text: "WHATWG `toascii.json`: 73/87 agree", Value: 73}.Equal(t, float64(agree))
	if total != 87 {
		t.Errorf("%d cases; the README says 87", total)
	}
}
