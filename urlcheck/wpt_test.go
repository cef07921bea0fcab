package urlcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

type wptCase struct {
	Input    string  `json:"input"`
	Base     *string `json:"base"`
	Href     string  `json:"href"`
	Hostname string  `json:"hostname"`
	Failure  bool    `json:"failure"`
}

// TestWPTURL measures agreement with the WHATWG URL test data. Only inputs
// that are absolute URLs are measured (Parse resolves no relative
// references: mail has no base URL). It logs the numbers and fails when
// agreement drops below the level this parser reached when it was written.
func TestWPTURL(t *testing.T) {
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
	if float64(agree)/float64(measured) < wptFloor {
		t.Errorf("agreement %.3f fell below %.3f", float64(agree)/float64(measured), wptFloor)
	}
}

// wptFloor is the agreement this parser reached; a change that lowers it
// is a regression.
const wptFloor = 0.96

func TestWPTToASCII(t *testing.T) {
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
	if float64(agree)/float64(total) < toASCIIFloor {
		t.Errorf("agreement fell below %.3f", toASCIIFloor)
	}
}

const toASCIIFloor = 0.83
