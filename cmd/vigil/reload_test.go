package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// TestReloadRefusesOrNamesEveryKey: SIGHUP with an empty, comment-only or
// cut-off file keeps the running configuration (before, an empty file was
// taken as "the defaults": thresholds, lists and DNS servers reverted); a
// good file is applied key by key, the log names what was applied and what
// waits for a restart, and a new admin token replaces the old one (before,
// the old token kept working).
func TestReloadRefusesOrNamesEveryKey(t *testing.T) {
	dir := t.TempDir()
	// Port 0 for both listeners; the addresses bound are read from the
	// log. Reloads keep these specs, so the sockets stay.
	const listen, adminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfgPath := filepath.Join(dir, "vigil.yaml")
	dnsSrv := dnstest.NewServer(t, "")
	base := fmt.Sprintf("milter: {listen: \"inet:%s\"}\nreputation: {path: %s}\ndns: {servers: [%q]}\nblocklists: []\n", listen, dir, dnsSrv.Addr())
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(base + "scores: {MISSING_MESSAGE_ID: 20}\nadmin: {listen: \"" + adminListen + "\", token: the-first-token-0001}\n")
	vigil := startServe(t, cfgPath, "", 1<<20)
	cmd, logs, addr, adminAddr := vigil.cmd, vigil.logs, vigil.addr, vigil.adminAddr(t)
	flush := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+adminAddr+"/dns/flush", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sighup := func(want string, n int) {
		t.Helper()
		cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, want, func() bool { return strings.Count(logs.String(), want) >= n })
	}
	if act := milterVerdict(t, addr); act.SMTPCode != 550 {
		t.Fatalf("start: %d, want 550", act.SMTPCode)
	}

	for i, bad := range []string{"", "# nothing but a comment\n", base[:len(base)/2]} {
		write(bad)
		sighup("reload refused", i+1)
		if act := milterVerdict(t, addr); act.SMTPCode != 550 {
			t.Fatalf("after refused reload of %q: %d, want the running config's 550", bad, act.SMTPCode)
		}
	}

	// A good file: thresholds change, the token changes, a listener
	// address cannot change without a restart and is named as kept.
	// Another listen spec, which a reload must not bind.
	write(strings.Replace(base, listen, "127.0.0.2:0", 1) + "scores: {MISSING_MESSAGE_ID: 1}\nadmin: {listen: \"" + adminListen + "\", token: the-second-token-02}\n")
	sighup("configuration reloaded", 1)
	if act := milterVerdict(t, addr); act.SMTPCode == 550 {
		t.Fatalf("after reload: still rejected; the new score was not applied")
	}
	line := lastLine(logs.String(), "configuration reloaded")
	for _, key := range []string{"admin.token", "scores.MISSING_MESSAGE_ID"} {
		if !strings.Contains(line, key) {
			t.Errorf("reload log does not name applied key %s: %s", key, line)
		}
	}
	if kept := lastLine(logs.String(), "change only on restart"); !strings.Contains(kept, "milter.listen") {
		t.Errorf("reload log does not name milter.listen as kept: %q", kept)
	}
	if strings.Contains(logs.String(), "the-second-token") {
		t.Error("the log shows the token")
	}
	if code := flush("the-first-token-0001"); code != 401 {
		t.Errorf("old admin token after reload: %d, want 401", code)
	}
	if code := flush("the-second-token-02"); code != 200 {
		t.Errorf("new admin token after reload: %d, want 200", code)
	}
}

func lastLine(log, substr string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], substr) {
			return lines[i]
		}
	}
	return ""
}

// TestListFileReload: a running daemon reads a changed list file without
// a restart or SIGHUP, and a changed file with a bad line keeps the list
// it has, logging the file and line.
func TestListFileReload(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "blocked.txt")
	writeList := func(body string) {
		t.Helper()
		// A new file renamed over the old one, as deploy tools write.
		if err := os.WriteFile(list+".tmp", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(list+".tmp", list); err != nil {
			t.Fatal(err)
		}
	}
	writeList("# blocked senders\nother.example\n")
	dnsSrv := dnstest.NewServer(t, "")
	cfgPath := filepath.Join(dir, "vigil.yaml")
	cfg := fmt.Sprintf(`milter: {listen: "inet:127.0.0.1:0"}
reputation: {path: %s}
dns: {servers: [%q]}
blocklists: []
lists:
  - {name: BLOCKED_SENDERS, match: env_from_domain, file: %q, action: deny}
`, dir, dnsSrv.Addr(), list)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	vigil := startServe(t, cfgPath, "", 1<<20)
	// milterVerdict sends from a@sender.example.
	if act := milterVerdict(t, vigil.addr); act.SMTPCode == 550 {
		t.Fatalf("sender.example refused before it was listed")
	}
	writeList("# blocked senders\nother.example\nsender.example\n")
	waitFor(t, "the changed list to be read", func() bool { return strings.Contains(vigil.logs.String(), "list file reloaded") })
	act := milterVerdict(t, vigil.addr)
	if act.SMTPCode != 550 || !strings.Contains(act.SMTPReply, "BLOCKED_SENDERS") {
		t.Fatalf("after the list changed: %d %q, want 550 BLOCKED_SENDERS", act.SMTPCode, act.SMTPReply)
	}

	// A broken file (sender.example gone, a bad line added): refused, the
	// list kept, the line named.
	writeList("other.example\nthis is not a domain\n")
	want := "at=" + list + ":2"
	waitFor(t, "the bad line to be logged", func() bool { return strings.Contains(vigil.logs.String(), want) })
	if line := lastLine(vigil.logs.String(), want); !strings.Contains(line, "keeping the list as it was") {
		t.Errorf("log line %q", line)
	}
	if act := milterVerdict(t, vigil.addr); act.SMTPCode != 550 {
		t.Fatalf("after a broken file: %d, want the kept list's 550", act.SMTPCode)
	}
}
