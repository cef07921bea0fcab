package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

// sendmailInstance is a private Sendmail 8.17 daemon started for one
// scenario from an unpacked (never installed) Debian sendmail-bin, in its
// own mount and UTS namespaces: a private /etc/hosts and /etc/resolv.conf
// (nameserver 127.0.0.1) so that Sendmail's own host name lookups never
// leave loopback, and the host name mx.example.test (an unqualified name
// makes Sendmail sleep 60s at start).
type sendmailInstance struct {
	root, addr string
	out        *lockedBuffer
}

func (s *sendmailInstance) smtpAddr() string { return s.addr }

// Sendmail has no XCLIENT: the client address is the real one, 127.0.0.1.
func (s *sendmailInstance) xclient() bool { return false }
func (s *sendmailInstance) delivered(token string) ([]byte, bool) {
	return scanDir(filepath.Join(s.root, "mail"), token)
}

func (s *sendmailInstance) log() string {
	return "sendmail output:\n" + s.out.String() +
		"\nSMTP transcript (-X):\n" + readTail(filepath.Join(s.root, "transcript"))
}

// sendmailFind returns the unpacked Sendmail tree; when it or a tool the
// test needs is missing, or mount namespaces cannot be made, it skips the
// test, or fails it under CI.
func sendmailFind(t *testing.T) string {
	t.Helper()
	root := os.Getenv("VIGIL_SENDMAIL_ROOT")
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			sharedtest.Unavailable(t, "e2e: no VIGIL_SENDMAIL_ROOT and no cache dir: %v", err)
		}
		root = filepath.Join(cache, "vigil-e2e", "sendmail")
	}
	for _, f := range []string{"usr/libexec/sendmail/sendmail", "usr/share/sendmail/cf/m4/cf.m4"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			sharedtest.Unavailable(t, "e2e: no unpacked Sendmail at %s (./test.sh unpacks sendmail-bin, sendmail-base, sendmail-cf there; or set VIGIL_SENDMAIL_ROOT): %v", root, err)
		}
	}
	for _, tool := range []string{"m4", "unshare", "mount", "hostname"} {
		if _, err := exec.LookPath(tool); err != nil {
			sharedtest.Unavailable(t, "e2e: Sendmail test needs %s: %v", tool, err)
		}
	}
	// Sendmail gets a private /etc/hosts in its own mount namespace.
	if out, err := exec.Command("unshare", "--mount", "--uts", "--propagation", "private", "true").CombinedOutput(); err != nil {
		sharedtest.Unavailable(t, "e2e: cannot give Sendmail a private /etc/hosts (unshare --mount --uts: %v: %s)", err, bytes.TrimSpace(out))
	}
	return root
}

// sendmailMc is the test's .mc; {{...}} are replaced.
const sendmailMc = "divert(-1)\n" +
	"divert(0)dnl\n" +
	"include(`{{SM}}/usr/share/sendmail/cf/m4/cf.m4')dnl\n" +
	"VERSIONID(`vigil e2e')dnl\n" +
	"OSTYPE(`linux')dnl\n" +
	"define(`confDOMAIN_NAME', `mx.example.test')dnl\n" +
	"define(`confSMTP_LOGIN_MSG', `$j ESMTP {{BANNER}}')dnl\n" +
	"define(`confSERVICE_SWITCH_FILE', `{{ROOT}}/service.switch')dnl\n" +
	"FEATURE(`nocanonify')dnl\n" +
	"define(`confDONT_PROBE_INTERFACES', `True')dnl\n" +
	"FEATURE(`no_default_msa')dnl\n" +
	"define(`confTO_IDENT', `0')dnl\n" +
	"define(`QUEUE_DIR', `{{ROOT}}/queue')dnl\n" +
	"define(`confPID_FILE', `{{ROOT}}/sendmail.pid')dnl\n" +
	"define(`confDELIVERY_MODE', `interactive')dnl\n" +
	"undefine(`ALIAS_FILE')dnl\n" +
	"define(`confCW_FILE', `{{ROOT}}/local-host-names')dnl\n" +
	"define(`confSTATUS_FILE', `')dnl\n" +
	"define(`confHOST_STATUS_DIRECTORY', `')dnl\n" +
	"define(`LOCAL_MAILER_PATH', `{{ROOT}}/deliver.sh')dnl\n" +
	"define(`LOCAL_MAILER_ARGS', `deliver.sh $u')dnl\n" +
	"FEATURE(`accept_unresolvable_domains')dnl\n" +
	"FEATURE(`accept_unqualified_senders')dnl\n" +
	"LOCAL_DOMAIN(`example.test')dnl\n" +
	"DAEMON_OPTIONS(`Port={{PORT}}, Addr=127.0.0.1, Name=MTA')dnl\n" +
	"{{DEPLOY}}\n" +
	"dnl No passwd lookup (w) and no aliasing (5) for the test's mailbox.\n" +
	"MODIFY_MAILER_FLAGS(`LOCAL', `-w5')dnl\n" +
	"MAILER(`local')dnl\n" +
	"MAILER(`smtp')dnl\n"

// sendmailDeploy is used when deploy/sendmail/vigil.mc is not found.
const sendmailDeploy = "INPUT_MAIL_FILTER(`vigil', `S=inet:11340@127.0.0.1, F=T, T=S:10s;R:30s;E:5m')dnl\n" +
	"define(`confMILTER_MACROS_CONNECT', `j, _, {daemon_name}, {if_name}, {if_addr}, {client_addr}, {client_name}')dnl\n" +
	"define(`confMILTER_MACROS_EOM', `{msg_id}, i')dnl\n"

var (
	milterSocketRx = regexp.MustCompile(`S=inet:\d+@127\.0\.0\.1`)
	milterFlagsRx  = regexp.MustCompile(`F=[A-Z]*,`)
	// Header templates Sendmail adds when a message lacks them; removed so
	// that Vigil sees the message as the client sent it (as with Postfix,
	// whose milter sees headers before cleanup adds any).
	sendmailAddedHeaderRx = regexp.MustCompile(`(?m)^H\?[DM]\?(Resent-)?(Date|Message-Id):.*\n`)
)

// startSendmail starts Sendmail with its milter at milterAddr
// ("127.0.0.1:PORT"); defaultAction maps to INPUT_MAIL_FILTER's F= flag
// (tempfail T, reject R, accept none).
func startSendmail(t *testing.T, root, milterAddr, defaultAction string) *sendmailInstance {
	t.Helper()
	sm := sendmailFind(t)
	s := &sendmailInstance{root: root, out: &lockedBuffer{}}
	queue, mail := filepath.Join(root, "queue"), filepath.Join(root, "mail")
	if err := os.Mkdir(queue, 0o700); err != nil {
		t.Fatal(err)
	}
	// The local mailer runs as Sendmail's default user, not root.
	if err := os.Mkdir(mail, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(mail, 0o1777); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"hosts":            "127.0.0.1 mx.example.test mx localhost\n::1 mx.example.test mx localhost\n",
		"resolv.conf":      "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
		"service.switch":   "hosts files\naliases files\n",
		"local-host-names": "example.test\n",
		// One file per delivered message, named after the recipient.
		"deliver.sh": "#!/bin/sh\nf=\"" + mail + "/$1.$$.$(date +%s%N)\"\ncat > \"$f.tmp\" && mv \"$f.tmp\" \"$f\"\n",
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if name == "deliver.sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}

	// The shipped snippet, pointed at this scenario's Vigil and with the
	// scenario's default action, so the test proves deploy/ works.
	deploy := sendmailDeploy
	if path, ok := findUp("deploy/sendmail/vigil.mc"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		deploy = string(b)
	}
	_, milterPort, _ := strings.Cut(milterAddr, ":")
	deploy = milterSocketRx.ReplaceAllString(deploy, "S=inet:"+milterPort+"@127.0.0.1")
	flag := map[string]string{"tempfail": "T", "reject": "R", "accept": ""}[defaultAction]
	deploy = milterFlagsRx.ReplaceAllString(deploy, "F="+flag+",")
	if !strings.Contains(deploy, "S=inet:"+milterPort+"@127.0.0.1") {
		t.Fatalf("deploy/sendmail/vigil.mc: no INPUT_MAIL_FILTER with S=inet:PORT@127.0.0.1 to point at the test's Vigil:\n%s", deploy)
	}
	// The greeting carries a token, so the test knows it speaks to this
	// instance and not to whatever else holds the port.
	banner := "vigil-e2e-" + newToken()
	var cmd *exec.Cmd
	var exited chan struct{}
	stop := func() {
		if cmd == nil {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		cmd = nil
	}
	t.Cleanup(stop)
	s.addr = startWithPortRetry(t, "sendmail", banner, func(addr string) (bool, <-chan struct{}, error) {
		_, port, _ := net.SplitHostPort(addr)
		mc := strings.NewReplacer("{{SM}}", sm, "{{ROOT}}", root, "{{PORT}}", port, "{{DEPLOY}}", deploy, "{{BANNER}}", banner).Replace(sendmailMc)
		if err := os.WriteFile(filepath.Join(root, "test.mc"), []byte(mc), 0o644); err != nil {
			return false, nil, err
		}
		cf, err := exec.Command("m4", filepath.Join(root, "test.mc")).Output()
		if err != nil {
			return false, nil, fmt.Errorf("m4 test.mc: %v\n%s", err, mc)
		}
		cf = sendmailAddedHeaderRx.ReplaceAll(cf, nil)
		cfPath := filepath.Join(root, "test.cf")
		if err := os.WriteFile(cfPath, cf, 0o644); err != nil {
			return false, nil, err
		}
		script := fmt.Sprintf("mount --bind %[1]s/hosts /etc/hosts && mount --bind %[1]s/resolv.conf /etc/resolv.conf && hostname mx.example.test && "+
			"exec %[2]s/usr/libexec/sendmail/sendmail -C %[3]s -bD -q30m -X %[1]s/transcript", root, sm, cfPath)
		cmd = exec.Command("unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script)
		cmd.Stdout, cmd.Stderr = s.out, s.out
		if err := cmd.Start(); err != nil {
			return false, nil, err
		}
		exited = make(chan struct{})
		go func(c *exec.Cmd, done chan struct{}) {
			_ = c.Wait()
			close(done)
		}(cmd, exited)
		return false, exited, nil
	}, stop)
	return s
}

// TestE2ESendmail runs the scenarios that list sendmail against the real
// vigil binary behind Sendmail.
func TestE2ESendmail(t *testing.T) {
	e2eEnv(t)
	sendmailFind(t)
	runScenarios(t, "sendmail", func(t *testing.T, root, milterAddr, defaultAction string) mta {
		return startSendmail(t, root, milterAddr, defaultAction)
	})
}
