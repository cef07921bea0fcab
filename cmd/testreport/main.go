// Command testreport turns the JSON event streams of `go test -json` into
// the log a reader of a CI run needs, and ends the run with one summary
// line. test.sh uses it; it is not part of Vigil.
//
//	go test -json ./... | testreport -events race.jsonl
//	testreport -step gofmt -status fail -reason "2 files" -events steps.jsonl
//	testreport -summary steps.jsonl race.jsonl corpus.jsonl
//
// Filter mode (the default) reads a stream on stdin, keeps it in -events,
// and prints what matters as it happens: each package's result line, the
// whole output of every failed test and the reason of every skipped test.
// The "figure:" lines of the figure guards (filters/sharedtest.Claim) are
// kept for the summary.
// It exits 1 when a test or a package failed.
//
// Step mode appends one event for a step of the run that is not a Go test
// (an install, gofmt, go vet), so that the summary covers the whole run.
//
// Summary mode reads the kept streams and prints the figures, the skipped
// and the failed tests, and last the line
//
//	N passed, N failed, N skipped: <skipped tests>
//
// counting every test and subtest (and each step) once. It exits 1 when
// anything failed.
//
// go test -json's own summary tools (gotestsum) print a different line
// and cannot merge the steps, hence this small parser.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time        time.Time `json:",omitempty"`
	Action      string
	Package     string  `json:",omitempty"`
	Test        string  `json:",omitempty"`
	Elapsed     float64 `json:",omitempty"`
	Output      string  `json:",omitempty"`
	ImportPath  string  `json:",omitempty"`
	FailedBuild string  `json:",omitempty"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	events := fs.String("events", "", "file the events are appended to")
	summary := fs.Bool("summary", false, "print the summary of the event files given as arguments")
	step := fs.String("step", "", "record a step of the run that is not a Go test")
	status := fs.String("status", "pass", "the step's result: pass, fail or skip")
	reason := fs.String("reason", "", "why the step failed or was skipped")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *summary:
		r := newReport()
		for _, path := range fs.Args() {
			if err := r.readFile(path); err != nil {
				fmt.Fprintf(stderr, "testreport: %v\n", err)
				return 2
			}
		}
		if r.printSummary(stdout) {
			return 0
		}
		return 1
	case *step != "":
		if *events == "" {
			fmt.Fprintln(stderr, "testreport: -step needs -events")
			return 2
		}
		if err := recordStep(*events, *step, *status, *reason); err != nil {
			fmt.Fprintf(stderr, "testreport: %v\n", err)
			return 2
		}
		return 0
	default:
		var keep io.Writer = io.Discard
		if *events != "" {
			f, err := os.OpenFile(*events, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				fmt.Fprintf(stderr, "testreport: %v\n", err)
				return 2
			}
			defer f.Close()
			keep = f
		}
		r := newReport()
		r.live = stdout
		if err := r.read(stdin, keep); err != nil {
			fmt.Fprintf(stderr, "testreport: %v\n", err)
			return 2
		}
		r.finish()
		if r.failed() {
			return 1
		}
		return 0
	}
}

// stepPackage is the Package of the events recordStep writes.
const stepPackage = "test.sh"

// recordStep appends a pass, fail or skip event for a step that is not a
// Go test; the reason becomes its output, as a test's log would.
func recordStep(path, name, status, reason string) error {
	if status != "pass" && status != "fail" && status != "skip" {
		return fmt.Errorf("-status %q: want pass, fail or skip", status)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	now := time.Now()
	evs := []event{{Time: now, Action: "run", Package: stepPackage, Test: name}}
	for _, l := range strings.Split(strings.TrimSpace(reason), "\n") {
		if l != "" {
			evs = append(evs, event{Time: now, Action: "output", Package: stepPackage, Test: name, Output: "    " + l + "\n"})
		}
	}
	evs = append(evs, event{Time: now, Action: status, Package: stepPackage, Test: name})
	for _, ev := range evs {
		if err := enc.Encode(ev); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// testKey names a test within the run.
type testKey struct{ pkg, test string }

// testState is what has been seen of one test.
type testState struct {
	output []string
	done   string // pass, fail, skip; "" while running
}

// result is a test that ended, in the order it ended.
type result struct {
	key    testKey
	action string
	reason string // skip: the skip message; fail: the first error line
}

// report accumulates the events of one or more streams.
type report struct {
	live     io.Writer // filter mode: where to print as events arrive
	tests    map[testKey]*testState
	pkgOut   map[string][]string // package-level output
	results  []result
	figures  []string
	pkgFails []string // packages that failed with no failed test (build, panic, timeout)
	pkgDone  map[string]bool
	badLines int
}

func newReport() *report {
	return &report{tests: map[testKey]*testState{}, pkgOut: map[string][]string{}, pkgDone: map[string]bool{}}
}

func (r *report) printf(format string, args ...any) {
	if r.live != nil {
		fmt.Fprintf(r.live, format, args...)
	}
}

func (r *report) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := r.read(f, io.Discard); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.finish()
	return nil
}

// read consumes a stream, copying every line to keep. Lines that are not
// JSON (go test's own messages on a merged stderr) are printed as they
// are.
func (r *report) read(in io.Reader, keep io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if _, err := keep.Write(append(line, '\n')); err != nil {
			return err
		}
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			r.badLines++
			r.printf("%s\n", line)
			continue
		}
		r.add(ev)
	}
	return sc.Err()
}

func (r *report) add(ev event) {
	switch ev.Action {
	case "build-output":
		r.printf("%s", ev.Output)
		return
	case "build-fail":
		return // the package's fail event follows, with FailedBuild set
	}
	if ev.Test == "" {
		r.addPackage(ev)
		return
	}
	k := testKey{ev.Package, ev.Test}
	st := r.tests[k]
	if st == nil {
		st = &testState{}
		r.tests[k] = st
	}
	switch ev.Action {
	case "output":
		st.output = append(st.output, ev.Output)
		// Figures are listed once, in the summary.
		if m := figureRx.FindStringSubmatch(ev.Output); m != nil {
			r.figures = append(r.figures, fmt.Sprintf("%s %s: %s", short(ev.Package), ev.Test, m[1]))
		}
	case "pass", "fail", "skip":
		if st.done != "" {
			return
		}
		r.end(k, st, ev.Action)
	}
}

// figureRx finds the line a figure guard logs (t.Logf prefixes file:line).
var figureRx = regexp.MustCompile(`^\s*(?:\S+\.go:\d+: )?figure: (.*?)\s*$`)

func (r *report) end(k testKey, st *testState, action string) {
	st.done = action
	res := result{key: k, action: action}
	switch action {
	case "skip":
		res.reason = skipReason(st.output)
		r.printf("--- SKIP: %s %s: %s\n", short(k.pkg), k.test, res.reason)
	case "fail":
		res.reason = failReason(st.output)
		r.printf("--- FAIL: %s %s\n", short(k.pkg), k.test)
		for _, l := range st.output {
			if strings.HasPrefix(l, "=== RUN") || strings.HasPrefix(l, "=== PAUSE") || strings.HasPrefix(l, "=== CONT") {
				continue
			}
			r.printf("%s", l)
		}
	}
	r.results = append(r.results, res)
}

func (r *report) addPackage(ev event) {
	switch ev.Action {
	case "output":
		r.pkgOut[ev.Package] = append(r.pkgOut[ev.Package], ev.Output)
	case "pass", "skip":
		r.closePackage(ev.Package, "the test binary exited while this test ran")
		for _, l := range r.pkgOut[ev.Package] {
			if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "?") {
				r.printf("%s", l)
			}
		}
		delete(r.pkgOut, ev.Package)
	case "fail":
		failedTests := r.closePackage(ev.Package, "the test binary exited while this test ran")
		out := r.pkgOut[ev.Package]
		if failedTests == 0 {
			// Nothing else says why: a build failure, a panic outside a
			// test, a timeout, a TestMain that failed.
			why := "package failed"
			if ev.FailedBuild != "" {
				why = "build failed (" + ev.FailedBuild + ")"
			}
			r.pkgFails = append(r.pkgFails, short(ev.Package)+": "+why)
			for _, l := range out {
				r.printf("%s", l)
			}
		} else {
			for _, l := range out {
				if strings.HasPrefix(l, "FAIL") {
					r.printf("%s", l)
				}
			}
		}
		delete(r.pkgOut, ev.Package)
	}
}

// closePackage ends the tests of pkg that never ended (the binary died in
// them: a panic, a timeout, os.Exit) as failures, and returns how many of
// its tests failed.
func (r *report) closePackage(pkg, why string) int {
	r.pkgDone[pkg] = true
	var open []testKey
	for k, st := range r.tests {
		if k.pkg == pkg && st.done == "" {
			open = append(open, k)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].test < open[j].test })
	for _, k := range open {
		st := r.tests[k]
		st.output = append(st.output, "    ("+why+")\n")
		r.end(k, st, "fail")
	}
	n := 0
	for _, res := range r.results {
		if res.key.pkg == pkg && res.action == "fail" {
			n++
		}
	}
	return n
}

// finish ends what a truncated stream left open: tests of packages whose
// end never came (go test itself was killed).
func (r *report) finish() {
	pkgs := map[string]bool{}
	for k, st := range r.tests {
		if st.done == "" && !r.pkgDone[k.pkg] {
			pkgs[k.pkg] = true
		}
	}
	var names []string
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		r.closePackage(p, "the stream ended while this test ran")
	}
}

func (r *report) failed() bool {
	if len(r.pkgFails) > 0 {
		return true
	}
	for _, res := range r.results {
		if res.action == "fail" {
			return true
		}
	}
	return false
}

// printSummary prints figures, skips and failures, then the summary line,
// and reports whether the run passed.
func (r *report) printSummary(w io.Writer) bool {
	var passed, failed, skipped []result
	for _, res := range r.results {
		switch res.action {
		case "pass":
			passed = append(passed, res)
		case "fail":
			failed = append(failed, res)
		case "skip":
			skipped = append(skipped, res)
		}
	}
	if len(r.figures) > 0 {
		fmt.Fprintf(w, "\nFigures the READMEs state, as measured in this run (%d):\n", len(r.figures))
		for _, f := range r.figures {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\nSkipped (%d):\n", len(skipped))
		for _, s := range skipped {
			fmt.Fprintf(w, "  %s %s: %s\n", short(s.key.pkg), s.key.test, s.reason)
		}
	}
	if len(failed)+len(r.pkgFails) > 0 {
		fmt.Fprintf(w, "\nFailed (%d):\n", len(failed)+len(r.pkgFails))
		for _, p := range r.pkgFails {
			fmt.Fprintf(w, "  %s\n", p)
		}
		for _, f := range failed {
			fmt.Fprintf(w, "  %s %s: %s\n", short(f.key.pkg), f.key.test, f.reason)
		}
	}
	var names []string
	for _, s := range skipped {
		names = append(names, short(s.key.pkg)+" "+s.key.test)
	}
	line := fmt.Sprintf("%d passed, %d failed, %d skipped", len(passed), len(failed)+len(r.pkgFails), len(skipped))
	if len(names) > 0 {
		line += ": " + strings.Join(names, ", ")
	}
	fmt.Fprintf(w, "\n%s\n", line)
	return len(failed)+len(r.pkgFails) == 0
}

// skipReason is the message a skipped test gave: its last log line before
// the "--- SKIP" line, without the file:line prefix.
func skipReason(output []string) string {
	return lastLogLine(output, "--- SKIP")
}

// failReason is the first error a failed test logged, or the first line
// it printed otherwise (a panic).
func failReason(output []string) string {
	first := ""
	for _, l := range output {
		if m := logLineRx.FindStringSubmatch(l); m != nil && !figureRx.MatchString(l) {
			return m[1]
		}
		if t := strings.TrimSpace(l); first == "" && t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- ") {
			first = t
		}
	}
	if first == "" {
		return "(no message of its own: see its subtests)"
	}
	return first
}

var logLineRx = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*?)\s*$`)

func lastLogLine(output []string, marker string) string {
	reason := ""
	for _, l := range output {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, marker) {
			continue
		}
		if m := logLineRx.FindStringSubmatch(l); m != nil {
			reason = m[1]
		} else {
			reason = t
		}
	}
	if reason == "" {
		return "(no reason given)"
	}
	return reason
}

// short is a package path without the module prefix.
func short(pkg string) string {
	if i := strings.Index(pkg, "/vigil/"); i >= 0 {
		return pkg[i+len("/vigil/"):]
	}
	if strings.HasSuffix(pkg, "/vigil") {
		return "."
	}
	return pkg
}
