package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
// reason found by running Postfix 3.7 here (see shared/RECIPES.md).
const postfixMainCf = `compatibility_level = 3.6
queue_directory = {{ROOT}}/queue
data_directory = {{ROOT}}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
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
virtual_mailbox_domains = example.test
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

// postfixFind returns the postfix and postconf commands, or skips.
func postfixFind(t *testing.T) (postfix, postconf string) {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/"} {
		pf, err1 := exec.LookPath(dir + "postfix")
		pc, err2 := exec.LookPath(dir + "postconf")
		if err1 == nil && err2 == nil {
			if _, err := os.Stat("/etc/postfix/main.cf"); err != nil {
				t.Skipf("e2e: postfix is installed but /etc/postfix/main.cf is missing: %v", err)
			}
			return pf, pc
		}
	}
	t.Skip("e2e: postfix is not installed (Debian package postfix; ./test.sh installs it)")
	return "", ""
}

// alternateConfigMu serialises edits of the default main.cf.
var alternateConfigMu sync.Mutex

// registerConfigDir adds dir to alternate_config_directories of the
// default /etc/postfix/main.cf (postfix -c DIR refuses any other dir) and
// removes it when the test ends. Entries left by a killed earlier run whose
// directory is gone are dropped on the way.
func registerConfigDir(t *testing.T, postconf, dir string) {
	t.Helper()
	edit := func(change func([]string) []string) {
		alternateConfigMu.Lock()
		defer alternateConfigMu.Unlock()
		out, err := exec.Command(postconf, "-h", "alternate_config_directories").Output()
		if err != nil {
			t.Fatalf("postconf -h alternate_config_directories: %v", err)
		}
		var dirs []string
		for _, d := range strings.FieldsFunc(string(out), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
			if !strings.Contains(d, "vigil-e2e-") {
				dirs = append(dirs, d) // not ours
				continue
			}
			if _, err := os.Stat(d); err != nil {
				continue // left by a run that removed its dir but not the entry
			}
			if reapStalePostfix(t, filepath.Dir(d)) {
				continue
			}
			dirs = append(dirs, d)
		}
		dirs = change(dirs)
		if out, err := exec.Command(postconf, "-e", "alternate_config_directories = "+strings.Join(dirs, ", ")).CombinedOutput(); err != nil {
			t.Fatalf("postconf -e alternate_config_directories: %v\n%s", err, out)
		}
	}
	edit(func(dirs []string) []string { return append(dirs, dir) })
	t.Cleanup(func() {
		edit(func(dirs []string) []string {
			return slices.DeleteFunc(dirs, func(d string) bool { return d == dir })
		})
	})
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

// reapStalePostfix stops and removes an instance left behind by a test
// process that died before its cleanup ran (root/owner.pid names a process
// that is gone). It reports whether root was reaped.
func reapStalePostfix(t *testing.T, root string) bool {
	raw, err := os.ReadFile(filepath.Join(root, "owner.pid"))
	if err != nil {
		return false
	}
	owner, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || owner <= 0 || owner == os.Getpid() || syscall.Kill(owner, 0) == nil {
		return false
	}
	if err := stopPostfixMaster(root, 10*time.Second); err != nil {
		t.Logf("stale instance %s: %v", root, err)
	}
	_ = os.RemoveAll(root)
	t.Logf("removed a stale Postfix instance left by process %d: %s", owner, root)
	return true
}

// startPostfix starts a private Postfix whose smtpd_milters is milter
// ("inet:127.0.0.1:PORT") and stops it when the test ends.
func startPostfix(t *testing.T, root, milter, defaultAction string) *postfixInstance {
	t.Helper()
	postfix, postconf := postfixFind(t)
	p := &postfixInstance{
		root:    root,
		confDir: filepath.Join(root, "etc"),
		addr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
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
	main := strings.NewReplacer("{{ROOT}}", root, "{{MILTER}}", milter, "{{DEFAULT_ACTION}}", defaultAction,
		"{{DEPLOY}}", deploy).Replace(postfixMainCf)
	master := strings.ReplaceAll(postfixMasterCf, "{{LISTEN}}", p.addr)
	if err := os.WriteFile(filepath.Join(p.confDir, "main.cf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.confDir, "master.cf"), []byte(master), 0o644); err != nil {
		t.Fatal(err)
	}
	// Who owns this instance: a later run stops it if this test process
	// died without its cleanup (killed by a timeout, say).
	if err := os.WriteFile(filepath.Join(root, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	registerConfigDir(t, postconf, p.confDir)

	run := func(timeout time.Duration, args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return exec.CommandContext(ctx, postfix, append([]string{"-c", p.confDir}, args...)...).CombinedOutput()
	}
	started := time.Now()
	if out, err := run(60*time.Second, "start"); err != nil {
		t.Fatalf("postfix -c %s start: %v\n%s\nmaillog:\n%s", p.confDir, err, out, p.log())
	}
	t.Cleanup(func() {
		if err := stopPostfixMaster(root, 15*time.Second); err != nil {
			t.Logf("postfix -c %s: %v", p.confDir, err)
		}
	})
	if err := waitListening(p.addr, 30*time.Second, nil); err != nil {
		t.Fatalf("postfix smtpd: %v\nmaillog:\n%s", err, p.log())
	}
	t.Logf("postfix started in %s", time.Since(started).Round(time.Millisecond))
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
