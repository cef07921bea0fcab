package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

// postfixInstance is a private Postfix started for one scenario: its own
// config, queue and data directories, one smtpd on a loopback port, virtual
// maildir delivery as uid 65534 to DIR/mail/inbox/.
type postfixInstance struct {
	root, confDir, addr string
}

func (p *postfixInstance) smtpAddr() string { return p.addr }
func (p *postfixInstance) xclient() bool    { return true }
func (p *postfixInstance) log() string      { return readTail(filepath.Join(p.root, "maillog")) }
func (p *postfixInstance) delivered(token string) ([]byte, bool) {
	return scanDir(filepath.Join(p.root, "mail", "inbox", "new"), token)
}

// postfixMainCf is the instance's main.cf. Each setting is there for a
// reason found by running Postfix 3.7 here.
const postfixMainCf = `compatibility_level = 3.6
queue_directory = {{ROOT}}/queue
data_directory = {{ROOT}}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
smtpd_banner = $myhostname ESMTP {{BANNER}}
mydomain = example.test
myorigin = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# No DNS from Postfix: the client name comes from XCLIENT, nothing is relayed.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
# Postfix would add a missing Message-ID or Date for local clients; the tests
# send such messages on purpose.
local_header_rewrite_clients =
always_add_missing_headers = no
# The test poses as any client (XCLIENT ADDR=...) from loopback; after that
# the client is no longer in mynetworks.
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_recipient_restrictions = permit_auth_destination, reject
smtpd_relay_restrictions = permit_auth_destination, reject
# trial.test: a second recipient domain, for settings per recipient domain.
virtual_mailbox_domains = example.test, trial.test
virtual_mailbox_base = {{ROOT}}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
alias_maps =
alias_database =
# No syslog here: without a log file a failed start is silent.
maillog_file = {{ROOT}}/maillog
maillog_file_prefixes = {{ROOT}}
milter_protocol = 6
{{DEPLOY}}
# The scenario's own settings.
smtpd_milters = {{MILTER}}
milter_default_action = {{DEFAULT_ACTION}}
milter_connect_timeout = 5s
`

// postfixMasterCf: Debian's master.cf without chroot (the private queue
// directory has none of the files a chroot needs) and with smtpd on the
// test's port only.
const postfixMasterCf = `{{LISTEN}} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// postfixFind returns the postfix command: $VIGIL_POSTFIX when set (a
// path; test.sh and the CI trial use it to point the tests at a missing
// binary), else postfix in PATH or /usr/sbin. Missing, it skips the test,
// or fails it under CI.
func postfixFind(t *testing.T) string {
	t.Helper()
	if pf := os.Getenv("VIGIL_POSTFIX"); pf != "" {
		if _, err := exec.LookPath(pf); err != nil {
			sharedtest.Unavailable(t, "e2e: VIGIL_POSTFIX=%s: %v", pf, err)
		}
		return pf
	}
	for _, pf := range []string{"postfix", "/usr/sbin/postfix"} {
		if path, err := exec.LookPath(pf); err == nil {
			return path
		}
	}
	sharedtest.Unavailable(t, "e2e: postfix is not installed (Debian package postfix; ./test.sh installs it)")
	return ""
}

// stopPostfixMaster stops the instance under root the way "postfix stop"
// does, by SIGTERM to its master (which stops its children), without the
// postfix-script around it, and waits for the master to exit; SIGKILL after
// timeout.
func stopPostfixMaster(root string, timeout time.Duration) error {
	raw, err := os.ReadFile(filepath.Join(root, "queue", "pid", "master.pid"))
	if err != nil {
		return nil // never started
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("bad master.pid %q", raw)
	}
	// The pid file outlives the master: check that pid is still a
	// Postfix master before signalling it.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "master") {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil // already gone
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return fmt.Errorf("master %d did not exit %s after SIGTERM; killed", pid, timeout)
}

// reapStalePostfixes stops and removes the instances that earlier test
// processes left behind when they died before their cleanup ran (killed by
// a timeout, say): scratch dirs whose owner.pid names a process that is
// gone.
func reapStalePostfixes(t *testing.T) {
	roots, _ := filepath.Glob(filepath.Join(os.TempDir(), "vigil-e2e-*"))
	for _, root := range roots {
		raw, err := os.ReadFile(filepath.Join(root, "owner.pid"))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || owner <= 0 || owner == os.Getpid() || syscall.Kill(owner, 0) == nil {
			continue
		}
		if err := stopPostfixMaster(root, 10*time.Second); err != nil {
			t.Logf("stale instance %s: %v", root, err)
		}
		_ = os.RemoveAll(root)
		t.Logf("removed a stale Postfix instance left by process %d: %s", owner, root)
	}
}

// startPostfix starts a private Postfix whose smtpd_milters is milter
// ("inet:127.0.0.1:PORT") and stops it when the test ends.
//
// It runs "postfix -c DIR start" with the instance's own configuration
// directory, and touches nothing outside root. alternate_config_directories
// in /etc/postfix/main.cf is not needed: a non-default directory is allowed
// when listed there *or* when the command runs as the super-user
// (postdrop(1), MAIL_CONFIG), and these tests run as root; so the system
// main.cf is never edited. The master passes MAIL_CONFIG on to every
// daemon it starts, so none of them reads /etc/postfix/main.cf either.
func startPostfix(t *testing.T, root, milter, defaultAction string) *postfixInstance {
	t.Helper()
	postfix := postfixFind(t)
	reapStalePostfixes(t)
	p := &postfixInstance{root: root, confDir: filepath.Join(root, "etc")}
	for _, d := range []string{p.confDir, filepath.Join(root, "queue"), filepath.Join(root, "data"), filepath.Join(root, "mail")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The queue manager and the virtual agent need these owners.
	for d, owner := range map[string]string{"data": "postfix", "mail": "65534:65534"} {
		if out, err := exec.Command("chown", owner, filepath.Join(root, d)).CombinedOutput(); err != nil {
			t.Fatalf("chown %s %s: %v\n%s", owner, d, err, out)
		}
	}
	// The shipped snippet is part of the config, so the test also proves
	// that what deploy/ tells users to add works with a real Postfix.
	deploy := "# (deploy/postfix/main.cf not found)"
	if path, ok := findUp("deploy/postfix/main.cf"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The settings the scenario sets itself are commented out, so
		// that Postfix does not warn about overriding them.
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			key, _, _ := strings.Cut(l, "=")
			switch strings.TrimSpace(key) {
			case "smtpd_milters", "milter_default_action", "milter_connect_timeout":
				l = "# (set below by the test) " + l
			}
			lines = append(lines, l)
		}
		deploy = "# " + path + "\n" + strings.Join(lines, "\n")
	}
	// The banner carries a token, so the test knows it speaks to this
	// instance and not to whatever else holds the port.
	banner := "vigil-e2e-" + newToken()
	main := strings.NewReplacer("{{ROOT}}", root, "{{MILTER}}", milter, "{{DEFAULT_ACTION}}", defaultAction,
		"{{DEPLOY}}", deploy, "{{BANNER}}", banner).Replace(postfixMainCf)
	if err := os.WriteFile(filepath.Join(p.confDir, "main.cf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	// Who owns this instance: a later run stops it if this test process
	// died without its cleanup (killed by a timeout, say).
	if err := os.WriteFile(filepath.Join(root, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(timeout time.Duration, args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return exec.CommandContext(ctx, postfix, append([]string{"-c", p.confDir}, args...)...).CombinedOutput()
	}
	t.Cleanup(func() {
		if err := stopPostfixMaster(root, 15*time.Second); err != nil {
			t.Logf("postfix -c %s: %v", p.confDir, err)
		}
	})
	started := time.Now()
	p.addr = startWithPortRetry(t, "postfix", banner, func(addr string) (bool, <-chan struct{}, error) {
		master := strings.ReplaceAll(postfixMasterCf, "{{LISTEN}}", addr)
		if err := os.WriteFile(filepath.Join(p.confDir, "master.cf"), []byte(master), 0o644); err != nil {
			t.Fatal(err)
		}
		logBefore := len(p.log())
		out, err := run(60*time.Second, "start")
		if err == nil {
			return false, nil, nil
		}
		// The master exits at start when it cannot bind its listener.
		since := p.log()
		if len(since) >= logBefore {
			since = since[logBefore:]
		}
		if strings.Contains(since, "Address already in use") {
			return true, nil, nil
		}
		return false, nil, fmt.Errorf("postfix -c %s start: %v\n%s\nmaillog:\n%s", p.confDir, err, out, p.log())
	}, func() { _ = stopPostfixMaster(root, 15*time.Second) })
	t.Logf("postfix started on %s in %s", p.addr, time.Since(started).Round(time.Millisecond))
	return p
}

// TestE2EPostfix runs every scenario for Postfix against the real vigil
// binary.
func TestE2EPostfix(t *testing.T) {
	e2eEnv(t)
	postfixFind(t)
	runScenarios(t, "postfix", func(t *testing.T, root, milterAddr, defaultAction string) mta {
		return startPostfix(t, root, "inet:"+milterAddr, defaultAction)
	})
}
