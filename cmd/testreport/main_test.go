package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pkgA = "github.com/vigilmail/vigil/filters/a"
const pkgB = "github.com/vigilmail/vigil/filters/b"

// stream is a go test -json stream written by hand: in pkgA a passing
// test with a figure guard, a skipped test, a test whose subtest fails;
// in pkgB a test that was running when the binary panicked.
var stream = strings.Join([]string{
	`{"Action":"start","Package":"` + pkgA + `"}`,
	`{"Action":"run","Package":"` + pkgA + `","Test":"TestFigure"}`,
	`{"Action":"output","Package":"` + pkgA + `","Test":"TestFigure","Output":"=== RUN   TestFigure\n"}`,
	`{"Action":"output","Package":"` + pkgA + `","Test":"TestFigure","Output":"    x_test.go:12: figure: README.md \"66.4%\": measured 66.4, README 66.4, floor 65.4\n"}`,
	`{"Action":"output","Package":"` + pkgA + `","Test":"TestFigure","Output":"--- PASS: TestFigure (0.00s)\n"}`,
	`{"Action":"pass","Package":"` + pkgA + `","Test":"TestFigure","Elapsed":0}`,
	`{"Action":"run","Package":"` + pkgA + `","Test":"TestSkip"}`,
	`{"Action":"output","Package":"` + pkgA + `","Test":"TestSkip","Output":"=== RUN   TestSkip\n"}`,
	`{"Action":"output","Package":"` + pkgA + `","Test":"TestSkip","Output":"    x_test.go:20: MISSING: postfix is not installed (under CI=true this fails)\n"}`,
	`{"Action":"output","Package":"` + pkgA + `","Test":"TestSkip","Output":"--- SKIP: TestSkip (0.00s)\n"}`,
	`{"Action":"skip","Package":"` + pkgA + `","Test":"TestSkip","Elapsed":0}`,
	`{"Action":"run","Package":"` + pkgA + `","Test":"TestParent"}`,
	`{"Action":"run","Package":"` + pkgA + `","Test":"TestParent/ok"}`,
	`{"Action":"pass","Package":"` + pkgA + `","Test":"TestParent/ok","Elapsed":0}`,
	`{"Action":"run","Package":"` + pkgA + `","Test":"TestParent/bad"}`,
	`{"Action":"output","Package":"` + pkgA + `","Test":"TestParent/bad","Output":"    x_test.go:31: want 3, got 4\n"}`,
	`{"Action":"output","Package":"` + pkgA + `","Test":"TestParent/bad","Output":"--- FAIL: TestParent/bad (0.00s)\n"}`,
	`{"Action":"fail","Package":"` + pkgA + `","Test":"TestParent/bad","Elapsed":0}`,
	`{"Action":"fail","Package":"` + pkgA + `","Test":"TestParent","Elapsed":0}`,
	`{"Action":"output","Package":"` + pkgA + `","Output":"FAIL\n"}`,
	`{"Action":"output","Package":"` + pkgA + `","Output":"FAIL\t` + pkgA + `\t0.1s\n"}`,
	`{"Action":"fail","Package":"` + pkgA + `","Elapsed":0.1}`,
	`not json: go test's own message`,
	`{"Action":"run","Package":"` + pkgB + `","Test":"TestHang"}`,
	`{"Action":"output","Package":"` + pkgB + `","Test":"TestHang","Output":"panic: test timed out after 1m0s\n"}`,
	`{"Action":"output","Package":"` + pkgB + `","Output":"FAIL\t` + pkgB + `\t60.0s\n"}`,
	`{"Action":"fail","Package":"` + pkgB + `","Elapsed":60}`,
}, "\n") + "\n"

func TestFilterAndSummary(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	var live, stderr bytes.Buffer
	if code := run([]string{"-events", events}, strings.NewReader(stream), &live, &stderr); code != 1 {
		t.Fatalf("filter mode exit %d, want 1 (a test failed); stderr %s", code, stderr.String())
	}
	for _, want := range []string{
		"--- SKIP: filters/a TestSkip: MISSING: postfix is not installed (under CI=true this fails)",
		"--- FAIL: filters/a TestParent/bad\n    x_test.go:31: want 3, got 4",
		"not json: go test's own message",
		"--- FAIL: filters/b TestHang\npanic: test timed out after 1m0s\n    (the test binary exited while this test ran)",
	} {
		if !strings.Contains(live.String(), want) {
			t.Errorf("live output lacks %q:\n%s", want, live.String())
		}
	}
	kept, err := os.ReadFile(events)
	if err != nil || string(kept) != stream {
		t.Fatalf("events file is not the stream as read (%v)", err)
	}

	steps := filepath.Join(dir, "steps.jsonl")
	for _, s := range [][]string{
		{"-step", "gofmt", "-events", steps},
		{"-step", "install redis-server", "-status", "skip", "-reason", "not root", "-events", steps},
	} {
		if code := run(s, nil, &live, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", s, code, stderr.String())
		}
	}
	var sum bytes.Buffer
	if code := run([]string{"-summary", steps, events}, nil, &sum, &stderr); code != 1 {
		t.Fatalf("summary exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(sum.String()), "\n")
	last := lines[len(lines)-1]
	// Passed: gofmt, TestFigure, TestParent/ok. Failed: TestParent/bad,
	// TestParent, TestHang. Skipped: the install step and TestSkip.
	want := "3 passed, 3 failed, 2 skipped: test.sh install redis-server, filters/a TestSkip"
	if last != want {
		t.Errorf("summary line\n got %q\nwant %q\nwhole summary:\n%s", last, want, sum.String())
	}
	for _, w := range []string{
		"Figures the READMEs state, as measured in this run (1):\n  filters/a TestFigure: README.md \"66.4%\": measured 66.4, README 66.4, floor 65.4",
		"test.sh install redis-server: not root",
		"filters/a TestParent/bad: want 3, got 4",
		"filters/b TestHang: panic: test timed out after 1m0s",
	} {
		if !strings.Contains(sum.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, sum.String())
		}
	}
}

func TestPackageFailures(t *testing.T) {
	tests := []struct {
		name, stream, want string
	}{
		{"build failure", `{"Action":"build-output","ImportPath":"x [x.test]","Output":"x.go:3: undefined: y\n"}
{"Action":"build-fail","ImportPath":"x [x.test]"}
{"Action":"start","Package":"` + pkgA + `"}
{"Action":"output","Package":"` + pkgA + `","Output":"FAIL\t` + pkgA + ` [build failed]\n"}
{"Action":"fail","Package":"` + pkgA + `","Elapsed":0,"FailedBuild":"x [x.test]"}
`, "0 passed, 1 failed, 0 skipped"},
		{"stream cut short", `{"Action":"run","Package":"` + pkgA + `","Test":"TestX"}
`, "0 passed, 1 failed, 0 skipped"},
		{"all pass", `{"Action":"run","Package":"` + pkgA + `","Test":"TestX"}
{"Action":"pass","Package":"` + pkgA + `","Test":"TestX"}
{"Action":"output","Package":"` + pkgA + `","Output":"ok  \t` + pkgA + `\t0.1s\n"}
{"Action":"pass","Package":"` + pkgA + `"}
`, "1 passed, 0 failed, 0 skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "e.jsonl")
			if err := os.WriteFile(path, []byte(tt.stream), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, stderr bytes.Buffer
			code := run([]string{"-summary", path}, nil, &out, &stderr)
			if !strings.HasSuffix(strings.TrimSpace(out.String()), tt.want) {
				t.Errorf("summary %q does not end with %q", out.String(), tt.want)
			}
			if wantCode := map[bool]int{true: 0, false: 1}[strings.Contains(tt.want, " 0 failed")]; code != wantCode {
				t.Errorf("exit %d, want %d", code, wantCode)
			}
		})
	}
}

func TestStepStatus(t *testing.T) {
	var out, stderr bytes.Buffer
	if code := run([]string{"-step", "x", "-status", "maybe", "-events", filepath.Join(t.TempDir(), "s")}, nil, &out, &stderr); code != 2 {
		t.Errorf("bad -status: exit %d, want 2", code)
	}
}
