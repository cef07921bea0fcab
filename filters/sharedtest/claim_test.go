package sharedtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// recorder is a reporter that keeps what a Claim said.
type recorder struct{ logs, errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestClaim(t *testing.T) {
	// The root README's first sentence, wrapped differently on purpose.
	inDoc := Claim{Doc: "README.md", Text: "Vigil is an inbound\n   mail filter daemon", Value: 66.4}
	tests := []struct {
		name    string
		run     func(r *recorder)
		wantErr string // "" = passes
		wantLog string
	}{
		{"floor met", func(r *recorder) { inDoc.AtLeast(r, 65.5, 1) }, "", "measured 65.5, README 66.4, floor 65.4"},
		{"floor met exactly", func(r *recorder) { inDoc.AtLeast(r, 65.4, 1) }, "", "floor 65.4"},
		{"two points down fails", func(r *recorder) { inDoc.AtLeast(r, 64.4, 1) }, "measured 64.4, outside the guard (floor 65.4)", ""},
		{"ceiling met", func(r *recorder) { inDoc.AtMost(r, 67, 1) }, "", "ceiling 67.4"},
		{"ceiling exceeded", func(r *recorder) { inDoc.AtMost(r, 68, 1) }, "outside the guard (ceiling 67.4)", ""},
		{"equal", func(r *recorder) { Claim{"README.md", "Vigil", 198}.Equal(r, 198) }, "", "measured 198, README 198, exact"},
		{"one more passes is a change", func(r *recorder) { Claim{"README.md", "Vigil", 198}.Equal(r, 199) }, "measured 199", ""},
		{"README no longer says it", func(r *recorder) { Claim{"README.md", "no such figure 12.3%", 12.3}.AtLeast(r, 99, 1) }, `README.md no longer says "no such figure 12.3%"`, ""},
		{"missing README", func(r *recorder) { Claim{"nope/README.md", "x", 1}.Equal(r, 1) }, "nope/README.md", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			tt.run(r)
			if len(r.logs) != 1 || !strings.HasPrefix(r.logs[0], "figure: ") {
				t.Fatalf("want one figure: line, got %q", r.logs)
			}
			if tt.wantLog != "" && !strings.Contains(r.logs[0], tt.wantLog) {
				t.Errorf("log %q does not contain %q", r.logs[0], tt.wantLog)
			}
			errs := strings.Join(r.errs, "\n")
			switch {
			case tt.wantErr == "" && len(r.errs) > 0:
				t.Errorf("unexpected failure: %s", errs)
			case tt.wantErr != "" && !strings.Contains(errs, tt.wantErr):
				t.Errorf("failure %q does not contain %q", errs, tt.wantErr)
			}
		})
	}
}

func TestCI(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "TRUE": true, "": false, "false": false, "0": false} {
		t.Setenv("CI", v)
		if CI() != want {
			t.Errorf("CI=%q: CI() = %v, want %v", v, CI(), want)
		}
	}
}

// TestUnavailable runs TestUnavailableHelper in a child process with and
// without CI=true: a missing dependency fails the test under CI and skips
// it elsewhere.
func TestUnavailable(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestUnavailableHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "SHAREDTEST_UNAVAILABLE_HELPER=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		switch {
		case ci != "" && (err == nil || !strings.Contains(string(out), "--- FAIL: TestUnavailableHelper") ||
			!strings.Contains(string(out), "MISSING under CI=true (a failure, not a skip): postfix is not installed")):
			t.Errorf("CI=true: want a failure naming what is missing, got %v:\n%s", err, out)
		case ci == "" && (err != nil || !strings.Contains(string(out), "--- SKIP: TestUnavailableHelper") ||
			!strings.Contains(string(out), "MISSING: postfix is not installed")):
			t.Errorf("CI unset: want a skip naming what is missing, got %v:\n%s", err, out)
		}
	}
}

// TestUnavailableHelper is the child of TestUnavailable; alone it does
// nothing.
func TestUnavailableHelper(t *testing.T) {
	if os.Getenv("SHAREDTEST_UNAVAILABLE_HELPER") == "" {
		return
	}
	Unavailable(t, "postfix is not installed")
	t.Error("Unavailable returned")
}
