package arc

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/filters/auth/internal/authtest"
	"github.com/vigilmail/vigil/filters/auth/internal/fakedns"
	"github.com/vigilmail/vigil/filters/sharedtest"
)

// mapPairs walks a YAML mapping node in order. The suite repeats some test
// names inside one mapping, so it cannot be decoded into a Go map.
func mapPairs(n *yaml.Node) [][2]*yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out
}

func field(n *yaml.Node, key string) *yaml.Node {
	for _, p := range mapPairs(n) {
		if p[0].Value == key {
			return p[1]
		}
	}
	return nil
}

// arcDivergences lists suite cases we do not pass, with the reason.
var arcDivergences = map[string]string{
	// The message is signed relaxed/relaxed without c=; dkimpy (the suite's
	// reference) defaults ARC c= to relaxed/relaxed, RFC 6376 §3.5 (which
	// RFC 8617 §4.1.2 inherits) defaults to simple/simple. Mail::DKIM's copy
	// of the suite expects Fail here, as we do.
	"ams_fields_c_na": "absent c= means simple/simple (RFC 6376 §3.5), the suite assumes relaxed/relaxed",
}

// TestConformanceValiMail runs the ValiMail ARC validation suite. Every
// entry with a cv must match it, but for arcDivergences, which must still
// diverge; the entries without cv must not pass; the counts must be the
// READMEs'.
func TestConformanceValiMail(t *testing.T) {
	path := filepath.Join(authtest.TestdataDir(t, "arc-valimail"), "arc-draft-validation-tests.yml")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var total, withCV, passed, unspecified, diverged int
	names := map[string]bool{}
	var failures []string
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			// A YAML error must not end the suite early and quietly.
			t.Fatalf("%s: after %d entries: %v", path, total, err)
		}
		z := fakedns.New()
		if txt := field(&doc, "txt-records"); txt != nil {
			for _, p := range mapPairs(txt) {
				z.AddTXT(p[0].Value, strings.ReplaceAll(p[1].Value, "\n", ""))
			}
		}
		tests := field(&doc, "tests")
		if tests == nil {
			continue
		}
		for _, p := range mapPairs(tests) {
			name := p[0].Value
			total++
			names[name] = true
			msg := field(p[1], "message").Value
			want := strings.ToLower(strings.TrimSpace(field(p[1], "cv").Value))
			if want != "" {
				withCV++
			}
			t.Run(name, func(t *testing.T) {
				m := authtest.ParseMessage([]byte(msg))
				v := Validate(context.Background(), z, m)
				if want == "" {
					// Three cases leave cv unspecified; a broken chain
					// must at least not pass.
					unspecified++
					if v.Result == Pass {
						t.Errorf("unspecified cv, got pass")
					}
					return
				}
				if reason, ok := arcDivergences[name]; ok {
					diverged++
					if string(v.Result) == want {
						t.Errorf("listed as divergent (%s) but now gives the suite's %s: remove it from arcDivergences and update the READMEs", reason, want)
						return
					}
					t.Skipf("known divergence: %s (want %s, got %s)", reason, want, v.Result)
				}
				if string(v.Result) != want {
					failures = append(failures, name+": want "+want+", got "+string(v.Result)+" ("+v.Detail+")")
					t.Errorf("want %s, got %s: %s", want, v.Result, v.Detail)
					return
				}
				passed++
			})
		}
	}
	t.Logf("ValiMail ARC validation suite: %d entries (%d unique names), %d with cv: %d pass, %d known divergence; %d with unspecified cv (not pass), %d failures",
		total, len(names), withCV, passed, diverged, unspecified, len(failures))
	for _, f := range failures {
		t.Log("  FAIL " + f)
	}
	sharedtest.Claim{Doc: "README.md", Text: "171 / 172 entries with `cv`", Value: 171}.Equal(t, float64(passed))
	sharedtest.Claim{Doc: "filters/auth/README.md", Text: "ValiMail ARC validation (175 entries, 171 names) | 171 of 172 with `cv` pass", Value: 171}.Equal(t, float64(passed))
	sharedtest.Claim{Doc: "filters/auth/arc/README.md", Text: "172 have a `cv`: **171 pass**", Value: 171}.Equal(t, float64(passed))
	if total != 175 || len(names) != 171 || withCV != 172 || unspecified != 3 || diverged != len(arcDivergences) {
		t.Errorf("suite shape changed: %d entries, %d names, %d with cv, %d without, %d divergences; the READMEs say 175, 171, 172, 3, %d",
			total, len(names), withCV, unspecified, diverged, len(arcDivergences))
	}
}
