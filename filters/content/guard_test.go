package content

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// TestHeaderGuardTransparent: well-formed mail passes through unchanged,
// whatever the read sizes.
func TestHeaderGuardTransparent(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, boundary := range []string{"", "ALT", "REL", "MIX", "B1"} {
			g := newHeaderGuard(iotest.OneByteReader(bytes.NewReader(raw)), boundary, boundary == "")
			got, err := io.ReadAll(g)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) || g.hit {
				t.Errorf("%s with boundary %q: guard changed the stream (hit=%v)", f, boundary, g.hit)
			}
		}
	}
}

func TestHeaderGuardCuts(t *testing.T) {
	long := strings.Repeat("x", maxHeaderBytes+10)
	in := "preamble\r\n--b\r\nX-Long: " + long + "\r\n\r\nbody\r\n--b--\r\n"
	g := newHeaderGuard(strings.NewReader(in), "b", false)
	got, _ := io.ReadAll(g)
	if !g.hit {
		t.Fatal("oversized header not cut")
	}
	if len(got) != len(in)+4 || !strings.Contains(string(got), "\r\n\r\n") {
		t.Errorf("got %d bytes, want the input plus one injected blank line", len(got))
	}
	// The cut falls inside the header block, before the original blank line.
	cut := strings.Index(string(got), "\r\n\r\n")
	if cut > len("preamble\r\n--b\r\n")+maxHeaderBytes+2 {
		t.Errorf("cut at %d, after the limit", cut)
	}
}
