package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/cmd/vigil/admin"
)

// TestHelp: --help prints usage to standard output and exits 0, for the
// program and for every command, and nothing else.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, stderr := runVigil(t, "", args...)
		if code != exitOK || stderr != "" || !strings.HasPrefix(out, "usage: vigil <command>") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
		for _, c := range commands {
			if !c.hidden && !strings.Contains(out, "  "+c.name+" ") {
				t.Errorf("%v: usage lacks %s:\n%s", args, c.name, out)
			}
		}
	}
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			code, out, stderr := runVigil(t, "", args...)
			if code != exitOK || stderr != "" {
				t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
			}
			if !strings.HasPrefix(out, "usage: vigil "+c.name) || strings.Contains(out, "help requested") {
				t.Errorf("%v: not the command's usage:\n%s", args, out)
			}
			c.flagSet().VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, "--"+f.Name) {
					t.Errorf("%v: --help lacks --%s:\n%s", args, f.Name, out)
				}
			})
		}
	}
}

// TestUsageErrors: a bad flag is exit 2, the error once, then the synopsis.
func TestUsageErrors(t *testing.T) {
	code, out, stderr := runVigil(t, "", "check", "--bogus")
	if code != exitUsage || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if strings.Count(stderr, "-bogus") != 1 || !strings.Contains(stderr, "usage: vigil check [--client-name NAME] [--config FILE]") ||
		!strings.Contains(stderr, "[--rcpt ADDR]... [FILE|-]") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if code, _, stderr := runVigil(t, "", "frobnicate"); code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %s", code, stderr)
	}
	if code, _, _ := runVigil(t, ""); code != exitUsage {
		t.Errorf("no command: exit %d", code)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, stderr := runVigil(t, "", args...)
		if code != exitOK || stderr != "" {
			t.Fatalf("%v: exit %d %s", args, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.HasPrefix(lines[0], "vigil ") || len(lines[0]) <= len("vigil ") {
			t.Errorf("%v: first line %q", args, lines[0])
		}
		if !strings.Contains(out, "\nrevision: ") || !strings.Contains(out, "\ngo: go1.") {
			t.Errorf("%v: no revision or Go version:\n%s", args, out)
		}
	}
	old := version
	defer func() { version = old }()
	version = "1.2.3"
	if _, out, _ := runVigil(t, "", "version"); !strings.HasPrefix(out, "vigil 1.2.3\n") {
		t.Errorf("a stamped version is not printed: %q", out)
	}
}

// TestFlushDNSHuman: flush-dns says what happened in words; --json gives
// the daemon's answer as it is.
func TestFlushDNSHuman(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.New("sekret-sekret-sekret", admin.Limits{MaxBody: 1 << 20, MaxConcurrent: 1}, func() admin.Hooks {
		return admin.Hooks{FlushDNS: func() int { return 42 }}
	}, slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("admin: {listen: %q, token: sekret-sekret-sekret}\n", ln.Addr())), 0o644)

	code, out, stderr := runVigil(t, "", "flush-dns", "--config", cfg)
	if code != exitOK || out != fmt.Sprintf("DNS cache flushed: 42 cached answers dropped (daemon at %s)\n", ln.Addr()) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, _ = runVigil(t, "", "flush-dns", "--json", "--config", cfg)
	if code != exitOK || !strings.Contains(out, `"flushed":42`) {
		t.Errorf("--json: exit %d, %q", code, out)
	}
	os.WriteFile(cfg, []byte(fmt.Sprintf("admin: {listen: %q, token: wrong-wrong-wrong-token}\n", ln.Addr())), 0o644)
	if code, _, stderr := runVigil(t, "", "flush-dns", "--config", cfg); code != exitFailure || !strings.Contains(stderr, "401") {
		t.Errorf("wrong token: exit %d, %s", code, stderr)
	}
}
