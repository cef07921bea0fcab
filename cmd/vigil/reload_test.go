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
