package urlcheck

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

// readLinkify parses a linkify-it fixture: "%" lines are comments
// (treated as blank), a non-empty line followed by another is (input,
// expected first link), one followed by a blank line is its own link.
func readLinkify(t *testing.T, path string) [][2]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "%") {
			l = ""
		}
		lines = append(lines, l)
	}
	var out [][2]string
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		if i+1 < len(lines) && lines[i+1] != "" {
			out = append(out, [2]string{lines[i], lines[i+1]})
			i++
			continue
		}
		out = append(out, [2]string{lines[i], lines[i]})
	}
	return out
}

// linkifyKnownDifferences are fixtures where Vigil disagrees on purpose
// (see README "Differences from linkify-it").
var linkifyKnownDifferences = map[string]string{
	"4.4.4.4":                       "bare dotted quad without port or path: in mail text it is usually a version number",
	"//localhost":                   "scheme-less // needs a public suffix",
	"//test.123":                    "scheme-less // needs a public suffix",
	"test.\"foo\".bar@gmail.co.uk!": "quoted local parts are not read; the address found has the same domain",
	"➡.ws/䨹":                        "symbols are not host characters (UTS #46 disallows them in IDNA2008)",
	"http://✪df.ws/123":             "a symbol is no host character: the word is skipped, not re-read as df.ws (browsers go to xn--df-oiy.ws)",
}

// TestConformanceLinkify measures ExtractText against the linkify-it
// fixtures and fails on any disagreement not listed in
// linkifyKnownDifferences, on a listed one that starts to agree, and when
// the counts differ from the READMEs'.
func TestConformanceLinkify(t *testing.T) {
	dir := sharedTestdata(t, "linkify-it")
	links := readLinkify(t, filepath.Join(dir, "links.txt"))
	agree := 0
	for _, c := range links {
		in, want := c[0], c[1]
		// A trailing " % remark" is part of the input; the expected link is
		// the first one found.
		found := ExtractText(in)
		got := ""
		if len(found) > 0 {
			got = found[0].Text
		}
		why, listed := linkifyKnownDifferences[in]
		if got == want {
			agree++
			if listed {
				t.Errorf("links.txt: %q now agrees (%q) but is listed as a known difference (%s): remove it and update the READMEs", in, got, why)
			}
			continue
		}
		if listed {
			t.Logf("known difference: %q: want %q got %q (%s)", in, want, got, why)
			continue
		}
		t.Errorf("links.txt: %q: want %q, got %q", in, want, got)
	}
	notLinks := readLinkify(t, filepath.Join(dir, "not_links.txt"))
	clean := 0
	for _, c := range notLinks {
		found := ExtractText(c[0])
		if len(found) == 0 {
			clean++
			continue
		}
		t.Errorf("not_links.txt: %q: found %q", c[0], found[0].Text)
	}
	t.Logf("linkify-it: links.txt %d/%d agree; not_links.txt %d/%d without a link", agree, len(links), clean, len(notLinks))

	// The baseline a scanner must beat: the kind of regexp filters often use.
	naive := regexp.MustCompile(`(?i)(?:https?|ftp)://\S+|www\.\S+|[\w.+-]+@[\w.-]+\.\w+`)
	nAgree, nClean := 0, 0
	for _, c := range links {
		if naive.FindString(c[0]) == c[1] {
			nAgree++
		}
	}
	for _, c := range notLinks {
		if naive.FindString(c[0]) == "" {
			nClean++
		}
	}
	t.Logf("naive regexp: links.txt %d/%d agree; not_links.txt %d/%d without a link", nAgree, len(links), nClean, len(notLinks))
	if agree <= nAgree || clean < nClean {
		t.Errorf("scanner (%d, %d) does not beat the naive regexp (%d, %d)", agree, clean, nAgree, nClean)
	}
	for _, c := range []struct {
		claim sharedtest.Claim
		got   int
	}{
		{sharedtest.Claim{Doc: "README.md", Text: "111 / 117 links, 21 / 21 non-links", Value: 111}, agree},
		{sharedtest.Claim{Doc: "README.md", Text: "naive regexp: 67 / 117, 16 / 21", Value: 67}, nAgree},
		{sharedtest.Claim{Doc: "urlcheck/README.md", Text: "links.txt **111/117** first links agree", Value: 111}, agree},
		{sharedtest.Claim{Doc: "urlcheck/README.md", Text: "not_links.txt **21/21** yield nothing", Value: 21}, clean},
		{sharedtest.Claim{Doc: "urlcheck/README.md", Text: "scores 67/117 and 16/21", Value: 16}, nClean},
	} {
		c.claim.Equal(t, float64(c.got))
	}
	if len(links) != 117 || len(notLinks) != 21 || len(links)-agree != len(linkifyKnownDifferences) {
		t.Errorf("%d links, %d non-links, %d differences; the READMEs say 117, 21, %d", len(links), len(notLinks), len(links)-agree, len(linkifyKnownDifferences))
	}
}
