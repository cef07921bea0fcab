package main

// End-to-end tests: the vigil binary behind a real MTA.
//
// Each folder testdata/e2e/t-NN-name/ is one scenario (as in chasquid's
// test/): scenario.yaml says how the MTA and Vigil are set up, which messages
// are sent on one SMTP connection and what must happen to each; vigil.yaml is
// Vigil's config as a text/template (fields of vigilConfigData); the .eml
// files are the messages. The test starts its own Vigil, DNS stub and MTA
// instance on loopback ports for every scenario and stops them when it ends.
//
// Verdicts are driven through configuration only (thresholds and per-symbol
// scores), never through test-only code paths in Vigil.
//
// Run with: go test -race -run 'TestE2E' ./cmd/vigil/   (as root; ./test.sh
// installs Postfix first). When not root or when the MTA is missing they
// skip with a message, and under CI=true they fail instead
// (sharedtest.Unavailable); -short skips them.
//
// Nothing outside the scenario's scratch directory is changed: each MTA
// runs from its own configuration directory, and ports are bound without
// a window for another process: Vigil listens on port 0 and reports the
// port in its log; an MTA, which must bind its port itself, is started
// again on another port when the one it was given turned out taken.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

// scenario is scenario.yaml.
type scenario struct {
	Description string `yaml:"description"`
	// MTAs the scenario runs on: "postfix", "sendmail". Default: postfix.
	MTAs []string `yaml:"mtas"`
	// MilterDefaultAction is Postfix's milter_default_action (accept,
	// tempfail, reject); for Sendmail it maps to INPUT_MAIL_FILTER's F=
	// flag. Default tempfail.
	MilterDefaultAction string `yaml:"milter_default_action"`
	// Vigil is "running" (default) or "stopped": started, then sent
	// SIGTERM before any mail, so the MTA finds nothing listening.
	Vigil string `yaml:"vigil"`
	// ClientIP is sent with XCLIENT ADDR= where the MTA supports it
	// (Postfix); default 203.0.113.9 (RFC 5737, only ever a claim).
	ClientIP string `yaml:"client_ip"`
	// ClientName is XCLIENT NAME=; default [UNAVAILABLE] (no rDNS name).
	ClientName string `yaml:"client_name"`
	// Helo is the EHLO name after XCLIENT; default mail.sender.test.
	Helo string `yaml:"helo"`
	// Messages are sent in order on one SMTP connection.
	Messages []scenarioMessage `yaml:"messages"`
	// VigilLog are regular expressions Vigil's stderr must match once all
	// messages are sent, each within one log line it names with msg=
	// ("msg=verdict .* action=reject "); $CLIENT_IP is replaced by the
	// client address the MTA reports (XCLIENT's, or 127.0.0.1 without
	// XCLIENT).
	VigilLog []string `yaml:"vigil_log"`
	// VigilLogNot are regular expressions no line of Vigil's stderr may
	// match once all messages are sent (a symbol that must not be in a
	// verdict line), named like vigil_log's.
	VigilLogNot []string `yaml:"vigil_log_not"`
}

type scenarioMessage struct {
	File  string   `yaml:"file"`
	From  string   `yaml:"from"`  // default alice@sender.test
	Rcpts []string `yaml:"rcpts"` // default [inbox@example.test]
	// Reply is a regular expression for the reply that ends the
	// transaction: the end-of-DATA reply, or the first refusal before it.
	Reply string `yaml:"reply"`
	// Stage is where the transaction must end: mail, rcpt, data or
	// eom (end of DATA). Empty: not checked.
	Stage string `yaml:"stage"`
	// Delivered says whether a copy must reach the mailbox.
	Delivered bool `yaml:"delivered"`
	// Headers of the delivered copy (unfolded "Name: value" lines).
	Headers headerExpect `yaml:"headers"`
}

type headerExpect struct {
	// Match: each regular expression must match at least one header line.
	Match []string `yaml:"match"`
	// Absent: no field with any of these names.
	Absent []string `yaml:"absent"`
	// Count: exact number of fields with each name.
	Count map[string]int `yaml:"count"`
	// NotMatch: no header line may match any of these.
	NotMatch []string `yaml:"not_match"`
}

// vigilConfigData fills the vigil.yaml template (scenarios rarely need it:
// the harness adds milter, log, dns and reputation itself).
type vigilConfigData struct {
	Listen        string // "inet:127.0.0.1:PORT"
	DNS           string // "127.0.0.1:PORT" of the stub resolver
	ReputationDir string
	Dir           string // the scenario's scratch directory
	// ScenarioDir is the scenario's folder (absolute), for files the
	// configuration names (list files).
	ScenarioDir string
}

func (s *scenario) setDefaults() {
	if len(s.MTAs) == 0 {
		s.MTAs = []string{"postfix"}
	}
	if s.MilterDefaultAction == "" {
		s.MilterDefaultAction = "tempfail"
	}
	if s.Vigil == "" {
		s.Vigil = "running"
	}
	if s.ClientIP == "" {
		s.ClientIP = "203.0.113.9"
	}
	if s.ClientName == "" {
		s.ClientName = "[UNAVAILABLE]"
	}
	if s.Helo == "" {
		s.Helo = "mail.sender.test"
	}
	for i := range s.Messages {
		m := &s.Messages[i]
		if m.From == "" {
			m.From = "alice@sender.test"
		}
		if len(m.Rcpts) == 0 {
			m.Rcpts = []string{"inbox@example.test"}
		}
	}
}

func (s *scenario) validate() error {
	if !slices.Contains([]string{"accept", "tempfail", "reject"}, s.MilterDefaultAction) {
		return fmt.Errorf("milter_default_action %q: want accept, tempfail or reject", s.MilterDefaultAction)
	}
	if s.Vigil != "running" && s.Vigil != "stopped" {
		return fmt.Errorf("vigil %q: want running or stopped", s.Vigil)
	}
	if len(s.Messages) == 0 {
		return errors.New("no messages")
	}
	for i, m := range s.Messages {
		if m.File == "" || m.Reply == "" {
			return fmt.Errorf("message %d: file and reply are required", i)
		}
		if m.Stage != "" && !slices.Contains([]string{"mail", "rcpt", "data", "eom"}, m.Stage) {
			return fmt.Errorf("message %d: stage %q: want mail, rcpt, data or eom", i, m.Stage)
		}
		res := append(append([]string{m.Reply}, m.Headers.Match...), m.Headers.NotMatch...)
		for _, re := range res {
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
		}
	}
	for _, re := range append(append([]string(nil), s.VigilLog...), s.VigilLogNot...) {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("vigil_log: %w", err)
		}
		// A pattern matches within one named log line: "(?i)reject"
		// anywhere in the log also matches a debug line or a config echo.
		if !strings.Contains(re, "msg=") || strings.Contains(re, "(?s") {
			return fmt.Errorf("vigil_log %q: name the log line (msg=verdict ...) and match within it (no (?s))", re)
		}
	}
	return nil
}

// loadScenarios reads every testdata/e2e/t-* folder, sorted by name.
func loadScenarios(t *testing.T) map[string]*scenario {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "e2e", "t-*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios under testdata/e2e (err %v)", err)
	}
	out := map[string]*scenario{}
	for _, dir := range dirs {
		raw, err := os.ReadFile(filepath.Join(dir, "scenario.yaml"))
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		var s scenario
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("%s/scenario.yaml: %v", dir, err)
		}
		s.setDefaults()
		if err := s.validate(); err != nil {
			t.Fatalf("%s/scenario.yaml: %v", dir, err)
		}
		out[dir] = &s
	}
	return out
}

// TestE2EScenariosParse keeps the scenario files valid even where the MTA
// tests themselves skip.
func TestE2EScenariosParse(t *testing.T) {
	for dir, s := range loadScenarios(t) {
		for _, m := range s.Messages {
			if _, err := os.Stat(filepath.Join(dir, m.File)); err != nil {
				t.Errorf("%s: %v", dir, err)
			}
		}
		if _, err := template.ParseFiles(filepath.Join(dir, "vigil.yaml")); err != nil && s.Vigil == "running" {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

// mta is a private MTA instance started for one scenario.
type mta interface {
	// smtpAddr is the loopback host:port the MTA listens on.
	smtpAddr() string
	// xclient reports whether the MTA accepts XCLIENT from the test.
	xclient() bool
	// delivered returns the delivered message that contains token.
	delivered(token string) ([]byte, bool)
	// log is the MTA's log so far, for failure reports.
	log() string
}

// e2eEnv is what every MTA test needs before it starts: root, the go
// tool to build Vigil, not -short.
func e2eEnv(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped with -short")
	}
	if os.Geteuid() != 0 {
		sharedtest.Unavailable(t, "e2e: needs root to start a private MTA instance (run ./test.sh as root)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		sharedtest.Unavailable(t, "e2e: the go tool is not in PATH, cannot build vigil")
	}
}

// scratchDir is a 0755 temp dir (the MTA's unprivileged users must enter
// it; t.TempDir's parent is 0700), removed at the end.
func scratchDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("VIGIL_E2E_KEEP") != "" {
			t.Logf("kept %s", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			time.Sleep(500 * time.Millisecond) // a daemon may still be writing; once more
			_ = os.RemoveAll(dir)
		}
	})
	return dir
}

// buildVigil builds this package into a scratch dir (with -race when the
// tests run with -race, so Vigil's own races fail the e2e test).
func buildVigil(t testing.TB) string {
	t.Helper()
	dir := scratchDir(t, "vigil-bin-")
	bin := filepath.Join(dir, "vigil")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, ".")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// freePort returns a loopback port nothing listens on right now. Another
// process may take it before it is bound again: use it only for servers
// that must bind their port themselves (Postfix, Sendmail), and start them
// again on a new port when it was taken (startWithPortRetry). Vigil and
// the test's own servers listen on port 0 instead.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startWithPortRetry starts an MTA that binds its SMTP port itself and
// returns its address. start(addr) starts it on addr, a loopback port that
// was free a moment ago; it reports retry when the MTA said the port was
// taken, and may return a channel closed when the MTA's process exits.
// The instance must then greet with banner in its 220 line, so the test
// knows it talks to this instance: a greeting without it means another
// process won the port, and so does silence from an MTA that is still
// running (Sendmail retries a taken port quietly). Then stop() stops it
// and it is started again on another port, up to five times.
func startWithPortRetry(t *testing.T, what, banner string, start func(addr string) (retry bool, exited <-chan struct{}, err error), stop func()) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", pickPort(t))
		retry, exited, err := start(addr)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		why := "it reported the port taken"
		if !retry {
			greeting, err := waitGreeting(addr, 20*time.Second, exited)
			switch {
			case err == nil && strings.Contains(greeting, banner):
				return addr
			case err == nil:
				why = fmt.Sprintf("another server answered there: %q", greeting)
			default:
				select {
				case <-exited:
					t.Fatalf("%s: %v", what, err)
				default:
				}
				why = err.Error()
			}
		}
		stop()
		if attempt == 5 {
			t.Fatalf("%s: no port after %d attempts; last on %s: %s", what, attempt, addr, why)
		}
		t.Logf("%s on %s: %s; starting it again on another port", what, addr, why)
	}
}

// pickPort is freePort; TestStartWithPortRetry replaces it to hand out a
// port another server holds.
var pickPort = freePort

// waitGreeting connects to addr until it accepts, and returns the first
// line the server sends; a process that exits ends the wait early.
func waitGreeting(addr string, timeout time.Duration, exited <-chan struct{}) (string, error) {
	if err := waitListening(addr, timeout, exited); err != nil {
		return "", err
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no greeting from %s: %w", addr, err)
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	return strings.TrimSpace(line), nil
}

// waitListening dials addr until it answers or the deadline passes; a dead
// process (exited closed) ends the wait early.
func waitListening(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vigilProc is a running vigil serve.
type vigilProc struct {
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	exited  chan struct{}
	waitErr error
	addr    string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// vigilBaseConfig are the sections the harness adds to every scenario's
// vigil.yaml (which holds only what drives the verdict: actions, scores,
// policy). Optional sections are dropped, with a log line, while the vigil
// binary under test rejects them as unknown keys: the daemon grows its
// config with its checks, and the harness must keep working meanwhile.
// Without a dns: section a DNS-using Vigil would read /etc/resolv.conf, so
// once Vigil knows dns: the stub resolver is always configured.
func vigilBaseConfig(d vigilConfigData) []configSection {
	return []configSection{
		{key: "milter", text: fmt.Sprintf("milter: {listen: %q, shutdown_timeout: 10s}\n", d.Listen)},
		{key: "log", text: "log: {level: debug}\n", optional: true},
		// Never optional: without them Vigil would use /etc/resolv.conf
		// (not loopback here) and /var/lib/vigil.
		{key: "dns", text: fmt.Sprintf("dns: {servers: [%q], timeout: 2s}\n", d.DNS)},
		{key: "reputation", text: fmt.Sprintf("reputation: {path: %q}\n", d.ReputationDir)},
	}
}

type configSection struct {
	key, text string
	optional  bool
}

var unknownKeyRx = regexp.MustCompile(`(?m)\b([a-z_]+)(\.[a-z_.]+)?: unknown key`)

// startVigil writes the config (the scenario's vigil.yaml template plus the
// base sections) and starts vigil serve; it is stopped (SIGTERM, then
// SIGKILL) when the test ends.
func startVigil(t testing.TB, bin, scenarioDir, work, dnsAddr string) *vigilProc {
	t.Helper()
	absScenario, err := filepath.Abs(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	data := vigilConfigData{
		DNS:           dnsAddr,
		ReputationDir: filepath.Join(work, "reputation"),
		Dir:           work,
		ScenarioDir:   absScenario,
	}
	for _, d := range []string{data.ReputationDir, filepath.Join(work, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := template.ParseFiles(filepath.Join(scenarioDir, "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]bool{}
	// Port 0: Vigil binds a free port itself and logs it (launchVigil).
	data.Listen = "inet:127.0.0.1:0"
	for attempt := 0; ; attempt++ {
		var cfg bytes.Buffer
		if err := tmpl.Execute(&cfg, data); err != nil {
			t.Fatal(err)
		}
		cfg.WriteString("\n# added by the e2e harness\n")
		for _, sec := range vigilBaseConfig(data) {
			if !dropped[sec.key] {
				cfg.WriteString(sec.text)
			}
		}
		v, err := launchVigil(t, bin, work, cfg.String(), "")
		if err == nil {
			return v
		}
		// A section this build of vigil does not know yet: drop it, retry.
		m := unknownKeyRx.FindStringSubmatch(v.stderr.String())
		if m != nil && attempt < 5 {
			for _, sec := range vigilBaseConfig(data) {
				if sec.key == m[1] && sec.optional && !dropped[sec.key] {
					t.Logf("vigil does not know the config key %s: yet; running without it", m[1])
					dropped[sec.key] = true
					break
				}
			}
			if dropped[m[1]] {
				continue
			}
		}
		t.Fatalf("vigil serve: %v\nconfig:\n%s\nstderr:\n%s", err, cfg.String(), v.stderr.String())
	}
}

// launchVigil starts vigil serve with cfg and waits until it listens: on
// addr, or with addr "" (port 0 in cfg's milter.listen) on the address its
// "vigil serving" log line reports, which becomes v.addr. On error the
// returned process has exited (its stderr is still there).
func launchVigil(t testing.TB, bin, work, cfg, addr string) (*vigilProc, error) {
	t.Helper()
	cfgPath := filepath.Join(work, "vigil.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Dir = work
	return startVigilCmd(t, cmd, addr, cfg)
}

// startVigilCmd starts a prepared `vigil serve` command, waits until it
// listens on addr (with addr "", port 0 in its milter.listen, on the
// address its "vigil serving" log line reports, which becomes v.addr), and
// stops it at the end of the test.
func startVigilCmd(t testing.TB, cmd *exec.Cmd, addr, cfg string) (*vigilProc, error) {
	t.Helper()
	v := &vigilProc{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{}), addr: addr}
	v.cmd.Stdout = v.stderr
	v.cmd.Stderr = v.stderr
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		v.waitErr = v.cmd.Wait()
		close(v.exited)
	}()
	if v.addr == "" {
		a, err := waitLogAddr(v.stderr.String, "vigil serving", 20*time.Second, v.exited)
		if err != nil {
			v.stop(5 * time.Second)
			return v, err
		}
		v.addr = a
	}
	if err := waitListening(v.addr, 20*time.Second, v.exited); err != nil {
		v.stop(5 * time.Second)
		return v, err
	}
	t.Cleanup(func() {
		v.stop(10 * time.Second)
		if t.Failed() {
			t.Logf("vigil config:\n%s", cfg)
			t.Logf("vigil stderr:\n%s", v.stderr.String())
		}
		if raceEnabled && strings.Contains(v.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("vigil reported a data race:\n%s", v.stderr.String())
		}
	})
	return v, nil
}

// waitLogAddr waits until logs() has the line of vigil serve whose message
// is msg ("vigil serving", "admin listener") and returns its addr, the
// address actually bound; a process that exits ends the wait early.
func waitLogAddr(logs func() string, msg string, timeout time.Duration, exited <-chan struct{}) (string, error) {
	q := regexp.QuoteMeta(msg)
	rx := regexp.MustCompile(`(?m)(?:msg="` + q + `"[^\n]*? addr=(\S+)|"msg":"` + q + `"[^\n]*?"addr":"([^"]+)")`)
	deadline := time.Now().Add(timeout)
	for {
		if m := rx.FindStringSubmatch(logs()); m != nil {
			return m[1] + m[2], nil
		}
		select {
		case <-exited:
			return "", fmt.Errorf("vigil exited before logging %q", msg)
		default:
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no %q log line with addr= after %s", msg, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits; SIGKILL after timeout. It reports whether
// vigil exited by itself, and how.
func (v *vigilProc) stop(timeout time.Duration) (clean bool, err error) {
	select {
	case <-v.exited:
		return true, v.waitErr
	default:
	}
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
		return true, v.waitErr
	case <-time.After(timeout):
		_ = v.cmd.Process.Kill()
		<-v.exited
		return false, fmt.Errorf("vigil did not exit %s after SIGTERM", timeout)
	}
}

// newToken is a unique marker put in each message to find its delivered copy.
func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// headerLines returns the unfolded header lines ("Name: value") of a message.
func headerLines(msg []byte) []string {
	msg = bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
	head, _, _ := bytes.Cut(msg, []byte("\n\n"))
	var lines []string
	for _, l := range strings.Split(string(head), "\n") {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(lines) > 0 {
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

func fieldName(line string) string {
	name, _, _ := strings.Cut(line, ":")
	return strings.ToLower(strings.TrimSpace(name))
}

// checkHeaders compares a delivered message with the expectations and
// returns one line per mismatch.
func checkHeaders(msg []byte, want headerExpect) []string {
	lines := headerLines(msg)
	var problems []string
	for _, re := range want.Match {
		rx := regexp.MustCompile(re)
		if !slices.ContainsFunc(lines, rx.MatchString) {
			problems = append(problems, fmt.Sprintf("no header line matches %q", re))
		}
	}
	for _, re := range want.NotMatch {
		rx := regexp.MustCompile(re)
		for _, l := range lines {
			if rx.MatchString(l) {
				problems = append(problems, fmt.Sprintf("header line %q matches forbidden %q", l, re))
			}
		}
	}
	count := func(name string) int {
		n := 0
		for _, l := range lines {
			if fieldName(l) == strings.ToLower(name) {
				n++
			}
		}
		return n
	}
	for _, name := range want.Absent {
		if n := count(name); n != 0 {
			problems = append(problems, fmt.Sprintf("%d %s field(s), want none", n, name))
		}
	}
	for name, n := range want.Count {
		if got := count(name); got != n {
			problems = append(problems, fmt.Sprintf("%d %s field(s), want %d", got, name, n))
		}
	}
	return problems
}

// runScenario runs one scenario against a started MTA whose milter points
// at vigilAddr; v is nil when the scenario has Vigil stopped.
func runScenario(t *testing.T, dir string, s *scenario, m mta, v *vigilProc) {
	t.Helper()
	clientIP := "127.0.0.1"
	var xclient *xclientArgs
	if m.xclient() {
		xclient = &xclientArgs{Addr: s.ClientIP, Name: s.ClientName}
		clientIP = s.ClientIP
	}
	var msgs []smtpMessage
	tokens := make([]string, len(s.Messages))
	for i, sm := range s.Messages {
		raw, err := os.ReadFile(filepath.Join(dir, sm.File))
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = newToken()
		// The token goes first so that it can be found in the delivered
		// copy; it is no header Vigil scores.
		data := append([]byte("X-E2E-Token: "+tokens[i]+"\n"), raw...)
		msgs = append(msgs, smtpMessage{From: sm.From, Rcpts: sm.Rcpts, Data: data})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results, err := sendSMTP(ctx, m.smtpAddr(), "e2e.test", xclient, s.Helo, msgs)
	if err != nil {
		t.Fatalf("SMTP session: %v", err)
	}
	for i, sm := range s.Messages {
		r := results[i]
		t.Logf("message %d (%s): %s reply %q", i+1, sm.File, r.Stage, r.Reply)
		if !regexp.MustCompile(sm.Reply).MatchString(r.Reply) {
			t.Errorf("message %d (%s): reply at %s %q does not match %q", i+1, sm.File, r.Stage, r.Reply, sm.Reply)
		}
		if sm.Stage != "" && r.Stage != sm.Stage {
			t.Errorf("message %d (%s): transaction ended at %s, want %s (reply %q)", i+1, sm.File, r.Stage, sm.Stage, r.Reply)
		}
	}
	// Deliveries are asynchronous (queue manager, then the delivery
	// agent): wait for each expected copy, bounded.
	for i, sm := range s.Messages {
		if !sm.Delivered {
			continue
		}
		var got []byte
		deadline := time.Now().Add(30 * time.Second)
		for {
			msg, ok := m.delivered(tokens[i])
			if ok {
				got = msg
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got == nil {
			t.Errorf("message %d (%s): not delivered within 30s", i+1, sm.File)
			continue
		}
		if problems := checkHeaders(got, sm.Headers); len(problems) > 0 {
			t.Errorf("message %d (%s) delivered with wrong headers:\n  %s\ndelivered header:\n%s", i+1, sm.File,
				strings.Join(problems, "\n  "), strings.Join(headerLines(got), "\n"))
		}
	}
	// Copies that must not arrive: by now every accepted message above has
	// been delivered, and a refused one was never queued.
	for i, sm := range s.Messages {
		if sm.Delivered {
			continue
		}
		if _, ok := m.delivered(tokens[i]); ok {
			t.Errorf("message %d (%s): delivered, want it refused", i+1, sm.File)
		}
	}
	if v != nil {
		// The verdict log line is written after the reply; give it a moment.
		for _, re := range s.VigilLog {
			re = strings.ReplaceAll(re, "$CLIENT_IP", regexp.QuoteMeta(clientIP))
			rx := regexp.MustCompile(re)
			deadline := time.Now().Add(5 * time.Second)
			for !rx.MatchString(v.stderr.String()) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if !rx.MatchString(v.stderr.String()) {
				t.Errorf("vigil's log does not match %q", re)
			}
		}
		for _, re := range s.VigilLogNot {
			re = strings.ReplaceAll(re, "$CLIENT_IP", regexp.QuoteMeta(clientIP))
			if m := regexp.MustCompile(re).FindString(v.stderr.String()); m != "" {
				t.Errorf("vigil's log matches %q, which it must not: %s", re, m)
			}
		}
	}
	if t.Failed() {
		t.Logf("MTA log:\n%s", m.log())
	}
}

// readTail returns the file's content (all of it: test logs are small).
func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

// scanDir returns the first regular file under dir whose content contains
// token.
func scanDir(dir, token string) ([]byte, bool) {
	var found []byte
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != nil {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(token)) {
			found = b
		}
		return nil
	})
	return found, found != nil
}

// findUp looks for rel in the current directory and its parents (the
// package runs in cmd/vigil; deploy/ is at the repository root).
func findUp(rel string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// runScenarios runs every scenario that lists mtaName, each with its own
// DNS stub, Vigil and MTA instance (started by start with Vigil's
// "127.0.0.1:PORT").
func runScenarios(t *testing.T, mtaName string, start func(t *testing.T, root, milterAddr, defaultAction string) mta) {
	scenarios := loadScenarios(t)
	bin := buildVigil(t)
	dirs := make([]string, 0, len(scenarios))
	for dir := range scenarios {
		dirs = append(dirs, dir)
	}
	slices.Sort(dirs)
	for _, dir := range dirs {
		s := scenarios[dir]
		if !slices.Contains(s.MTAs, mtaName) {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Log(s.Description)
			root := scratchDir(t, "vigil-e2e-")
			dnsAddr := startDNSStub(t, filepath.Join(dir, "zone"))
			v := startVigil(t, bin, dir, root, dnsAddr)
			milterAddr := v.addr
			if s.Vigil == "stopped" {
				clean, err := v.stop(15 * time.Second)
				if !clean || err != nil {
					t.Errorf("vigil on SIGTERM: exited by itself %v, status %v; want a clean exit", clean, err)
				}
				v = nil
			}
			m := start(t, root, milterAddr, s.MilterDefaultAction)
			runScenario(t, dir, s, m, v)
		})
	}
}
