package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/sharedtest"
)

// TestE2EPackage installs the Debian package the way an operator does and
// runs it: build it with deploy/debian/build.sh, dpkg -i, check what it
// installed, run vigil doctor and vigil serve as the user vigil with
// /etc/vigil/vigil.yaml, send a message through a real Postfix to it, then
// dpkg --purge and check that nothing is left but the system user, which
// Debian practice keeps.
//
// It changes the machine (a package, a system user), so it runs only as
// root with dpkg, and never when a vigil package is already installed.
// VIGIL_TEST_NO_PACKAGE=1 skips it.
func TestE2EPackage(t *testing.T) {
	e2eEnv(t)
	if os.Getenv("VIGIL_TEST_NO_PACKAGE") != "" {
		t.Skip("VIGIL_TEST_NO_PACKAGE is set")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "setpriv", "man"} {
		if _, err := exec.LookPath(tool); err != nil {
			sharedtest.Unavailable(t, "package test: %s is not installed", tool)
		}
	}
	postfixFind(t)
	build, ok := findUp("deploy/debian/build.sh")
	if !ok {
		t.Fatal("deploy/debian/build.sh not found")
	}
	// Two runs on one machine would install and purge the same package
	// under each other: take a machine-wide lock.
	unlock := lockPackageTest(t)
	defer unlock()
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", "vigil").CombinedOutput(); err == nil && strings.Contains(string(out), "installed") {
		t.Skipf("a vigil package is installed on this machine (%s): not touching it", out)
	}

	// Build.
	dist := scratchDir(t, "vigil-dist-")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", build)
	cmd.Env = append(os.Environ(), "VIGIL_DIST="+dist)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, stderrOf(err))
	}
	deb := strings.TrimSpace(string(out))
	m := regexp.MustCompile(`/vigil_([0-9][A-Za-z0-9.+~]*)_([a-z0-9]+)\.deb$`).FindStringSubmatch(deb)
	if m == nil {
		t.Fatalf("build.sh printed %q, want DIST/vigil_<version>_<arch>.deb", deb)
	}
	version := m[1]
	t.Logf("built %s", deb)

	before := vigilPaths(t)
	mustRun(t, "dpkg", "-i", deb)
	purged := false
	t.Cleanup(func() {
		if !purged {
			if out, err := exec.Command("dpkg", "--purge", "vigil").CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge vigil: %v\n%s", err, out)
			}
		}
	})

	t.Run("installed", func(t *testing.T) {
		if got := mustRun(t, "/usr/bin/vigil", "version"); !strings.HasPrefix(got, "vigil "+version+"\n") {
			t.Errorf("vigil version: %q, want %s", got, version)
		}
		if got := mustRun(t, "dpkg-query", "--showformat=${Conffiles}", "--show", "vigil"); !strings.Contains(got, "/etc/vigil/vigil.yaml") {
			t.Errorf("/etc/vigil/vigil.yaml is not a conffile: %q", got)
		}
		for _, page := range []string{"vigil", "vigil.yaml"} {
			if got := mustRun(t, "man", "-w", page); !strings.HasPrefix(got, "/usr/share/man/") {
				t.Errorf("man -w %s: %q", page, got)
			}
		}
		for _, p := range []string{"/lib/systemd/system/vigil.service", "/usr/share/bash-completion/completions/vigil",
			"/usr/share/doc/vigil/copyright", "/usr/share/doc/vigil/examples/postfix-main.cf"} {
			if _, err := os.Stat(p); err != nil {
				t.Error(err)
			}
		}
		if unit, _ := os.ReadFile("/lib/systemd/system/vigil.service"); !bytes.Contains(unit, []byte("ExecStart=/usr/bin/vigil serve --config /etc/vigil/vigil.yaml")) {
			t.Errorf("the unit does not start the installed binary:\n%s", unit)
		}
		wantOwner(t, "/var/lib/vigil", "vigil", "vigil", 0o750)
		wantOwner(t, "/etc/vigil/vigil.yaml", "root", "vigil", 0o640)
		if got := mustRun(t, "getent", "passwd", "vigil"); !strings.HasSuffix(strings.TrimSpace(got), ":/var/lib/vigil:/usr/sbin/nologin") {
			t.Errorf("user vigil: %q", got)
		}
	})

	// What an operator does next: point dns.servers at the local resolver
	// (here a loopback server answering the default lists' test points)
	// and put the milter where Postfix will look.
	dns := dnstest.NewServer(t, listTestPoints(t))
	// Port 0: vigil binds a free port itself and logs it (startVigilCmd
	// reads it from the "vigil serving" line).
	conf := editConffile(t, map[string]string{
		`^  servers: \[\]`:                  fmt.Sprintf(`  servers: [%q]`, dns.Addr()),
		`^  listen: "inet:127.0.0.1:11340"`: `  listen: "inet:127.0.0.1:0"`,
	})

	asVigil := func(args ...string) *exec.Cmd {
		return exec.Command("setpriv", append([]string{"--reuid=vigil", "--regid=vigil", "--init-groups", "/usr/bin/vigil"}, args...)...)
	}
	t.Run("doctor", func(t *testing.T) {
		cmd := asVigil("doctor", "--config", "/etc/vigil/vigil.yaml")
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		t.Logf("vigil doctor:\n%s", out)
		if err != nil {
			t.Errorf("vigil doctor as vigil: %v", err)
		}
		for _, want := range []string{`(?m)^dry run:\s+true$`, `(?m)^link following:\s+false$`, `(?m)^0 failed`} {
			if !regexp.MustCompile(want).Match(out) {
				t.Errorf("doctor output does not match %s", want)
			}
		}
	})

	t.Run("serve and a message through Postfix", func(t *testing.T) {
		cmd := asVigil("serve", "--config", "/etc/vigil/vigil.yaml")
		cmd.Dir = "/"
		v, err := startVigilCmd(t, cmd, "", conf)
		if err != nil {
			t.Fatalf("vigil serve as vigil: %v\n%s", err, v.stderr.String())
		}
		root := scratchDir(t, "vigil-pkg-postfix-")
		pf := startPostfix(t, root, "inet:"+v.addr, "tempfail")
		token := newToken()
		msg := "X-E2E-Token: " + token + "\nFrom: Sender <sender@sender.example>\nTo: inbox@example.test\n" +
			"Date: Sat, 28 Nov 2026 06:00:00 +0000\nMessage-ID: <" + token + "@sender.example>\nSubject: package test\n\nHello.\n"
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := sendSMTP(ctx, pf.smtpAddr(), "e2e.test", &xclientArgs{Addr: "192.0.2.10", Name: "mail.sender.example"}, "mail.sender.example",
			[]smtpMessage{{From: "sender@sender.example", Rcpts: []string{"inbox@example.test"}, Data: []byte(msg)}})
		if err != nil {
			t.Fatalf("SMTP: %v", err)
		}
		if !strings.HasPrefix(res[0].Reply, "250") {
			t.Fatalf("Postfix answered %q at %s\nmaillog:\n%s", res[0].Reply, res[0].Stage, pf.log())
		}
		var got []byte
		for deadline := time.Now().Add(30 * time.Second); got == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			got, _ = pf.delivered(token)
		}
		if got == nil {
			t.Fatalf("not delivered within 30s\nmaillog:\n%s", pf.log())
		}
		for _, h := range []string{"X-Spam-Status:", "X-Spam-Score:", "Authentication-Results:"} {
			if !bytes.Contains(got, []byte("\n"+h)) && !bytes.HasPrefix(got, []byte(h)) {
				t.Errorf("delivered without %s:\n%s", h, got)
			}
		}
		if clean, err := v.stop(15 * time.Second); !clean || err != nil {
			t.Errorf("vigil serve did not stop cleanly on SIGTERM: %v", err)
		}
		if !strings.Contains(v.stderr.String(), "dry_run=true") {
			t.Errorf("the daemon's log does not show the packaged dry run:\n%s", v.stderr.String())
		}
		// It wrote its store where the package said, as its own user.
		wantOwner(t, "/var/lib/vigil/reputation.db", "vigil", "vigil", 0o600)
	})

	files := strings.Fields(mustRun(t, "dpkg-query", "-L", "vigil"))
	mustRun(t, "dpkg", "--purge", "vigil")
	purged = true
	t.Run("purged", func(t *testing.T) {
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && !fi.IsDir() {
				t.Errorf("%s is still there after purge", f)
			}
		}
		for _, p := range []string{"/etc/vigil", "/var/lib/vigil"} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s is still there after purge (%v)", p, err)
			}
		}
		after := vigilPaths(t)
		for p := range after {
			if !before[p] {
				t.Errorf("left after purge: %s", p)
			}
		}
		// Debian keeps system users on purge: files they owned elsewhere
		// must not pass to the next user given the uid.
		if _, err := exec.Command("getent", "passwd", "vigil").Output(); err != nil {
			t.Errorf("the system user is gone: %v", err)
		}
	})
}

// listTestPoints is a zone in which every enabled default list answers its
// RFC 5782 §5 test points as a healthy list does, plus the root NS set the
// doctor's source-port probe asks for.
func listTestPoints(t *testing.T) string {
	t.Helper()
	zone := ". 300 IN NS a.root-servers.net.\n"
	for _, l := range dnsbl.DefaultLists() {
		if !l.IsEnabled() {
			continue
		}
		var name string
		switch l.Check {
		case dnsbl.KindDomain, dnsbl.KindNSName:
			point := "test"
			if l.TestPoint != "" {
				point = l.TestPoint
			}
			n, err := dnsrep.DomainQueryName(point, l.Zone)
			if err != nil {
				t.Fatal(err)
			}
			name = n
		default:
			point := netip.MustParseAddr("127.0.0.2")
			if l.TestPoint != "" {
				point = netip.MustParseAddr(l.TestPoint)
			}
			name = dnsrep.IPQueryName(point, l.Zone)
		}
		// A listed test point answers with one of the list's codes.
		code := "127.0.0.2"
		if len(l.Returns) > 0 {
			codes := slices.Sorted(maps.Keys(l.Returns))
			code, _, _ = strings.Cut(codes[0], "/")
		}
		zone += fmt.Sprintf("%s 300 IN A %s\n", name, code)
	}
	return zone
}

// editConffile changes lines of /etc/vigil/vigil.yaml (each regexp must
// match exactly one line) and returns the new file.
func editConffile(t *testing.T, edits map[string]string) string {
	t.Helper()
	const path = "/etc/vigil/vigil.yaml"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for re, repl := range edits {
		rx := regexp.MustCompile(re)
		n := 0
		for i, l := range lines {
			if rx.MatchString(l) {
				lines[i] = rx.ReplaceAllString(l, repl)
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s: %q matches %d lines, want 1", path, re, n)
		}
	}
	out := strings.Join(lines, "\n")
	if err := os.WriteFile(path, []byte(out), 0o640); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderrOf(err))
	}
	return string(out)
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func wantOwner(t *testing.T, path, user, group string, mode os.FileMode) {
	t.Helper()
	got := strings.TrimSpace(mustRun(t, "stat", "-c", "%U %G %a", path))
	if want := fmt.Sprintf("%s %s %o", user, group, mode); got != want {
		t.Errorf("%s: owner, group, mode %q, want %q", path, got, want)
	}
}

// vigilPaths lists the files and directories whose name says vigil in the
// places a package writes to.
func vigilPaths(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, dir := range []string{"/etc", "/lib/systemd", "/usr/lib/systemd", "/usr/bin", "/usr/sbin", "/usr/share", "/var/lib", "/var/cache", "/var/log", "/run"} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable or vanished: not ours
			}
			if strings.Contains(d.Name(), "vigil") {
				out[p] = true
			}
			return nil
		})
	}
	return out
}

// lockPackageTest takes an exclusive lock shared by every checkout on this
// machine.
func lockPackageTest(t *testing.T) func() {
	t.Helper()
	f, err := os.OpenFile("/run/lock/vigil-package-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
}
