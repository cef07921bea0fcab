package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

const kitPage = `<html><body><h1>Account verification required</h1>
<p>Your mailbox storage is full and incoming messages are suspended. Sign in below to verify your account
and restore delivery within 24 hours or the account will be closed permanently.</p>
<form method="post"><input name="u"><input type="password" name="p"><button>Verify</button></form></body></html>`

// TestCheckFollowsLinks: with follow enabled, `vigil check` follows a
// shortener to an executable download, and a phishing page learned from
// reported spam is recognised behind a domain never seen before.
func TestCheckFollowsLinks(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		_, port, _ := net.SplitHostPort(r.Host)
		http.Redirect(w, r, "http://landing.test:"+port+"/invoice.exe", http.StatusFound)
	})
	mux.HandleFunc("/invoice.exe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 512)...))
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, kitPage)
	})
	web := httptest.NewServer(mux)
	defer web.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(web.URL, "http://"))

	zone := ""
	for _, h := range []string{"short.test", "landing.test", "bad1.test", "bad2.test", "bad3.test", "bad4.test"} {
		zone += h + ". 300 IN A 127.0.0.1\n"
	}
	dns := dnstest.NewServer(t, zone)
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
dns: {servers: [%q], timeout: 500ms}
reputation: {path: %s}
blocklists: []
follow: {enabled: true, mode: all, allow_networks: [127.0.0.0/8], allow_ports: [%s]}
`, dns.Addr(), t.TempDir(), port)), 0o644)

	msg := func(id int, url string) string {
		return fmt.Sprintf("From: A <a@sender%d.test>\nDate: Sat, 28 Nov 2026 06:00:00 +0000\nMessage-ID: <%d@sender.test>\nSubject: note %d\n\nPlease see %s thanks %d\n", id, id, id, url, id*977)
	}
	code, out, stderr := runVigil(t, msg(1, "http://short.test:"+port+"/r"), "check", "--json", "--config", cfg)
	if code != 0 || !strings.Contains(out, "FOLLOW_EXECUTABLE") || !strings.Contains(out, "FOLLOW_REDIRECT_DOMAIN") {
		t.Fatalf("shortener to executable: %d\n%s\n%s", code, out, stderr)
	}

	// A second process finds the result in the store: no second fetch.
	code, out, stderr = runVigil(t, msg(2, "http://short.test:"+port+"/r"), "check", "--json", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"cached": true`) || !strings.Contains(out, "FOLLOW_EXECUTABLE") {
		t.Fatalf("persisted follow result not used: %d\n%s\n%s", code, out, stderr)
	}

	dir := t.TempDir()
	var files []string
	for i := 1; i <= 3; i++ {
		p := filepath.Join(dir, fmt.Sprintf("kit%d.eml", i))
		os.WriteFile(p, []byte(msg(10+i, fmt.Sprintf("http://bad%d.test:%s/login", i, port))), 0o644)
		files = append(files, p)
	}
	if code, out, stderr := runVigil(t, "", append([]string{"learn", "--spam", "--json", "--config", cfg}, files...)...); code != 0 {
		t.Fatalf("learn: %d %s %s", code, out, stderr)
	}
	code, out, stderr = runVigil(t, msg(99, "http://bad4.test:"+port+"/login"), "check", "--json", "--config", cfg)
	if code != 0 || !strings.Contains(out, "REP_PAGE_SPAM") {
		t.Fatalf("known kit behind a new domain: %d\n%s\n%s", code, out, stderr)
	}
}
