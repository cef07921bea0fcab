package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// dashboardZone is the DNS the dashboard test's messages meet: the sender
// domain publishes SPF and DMARC (so its identity is authenticated), the
// link's domain has a nameserver, and the test list E2E_BL lists the
// client address (and its RFC 5782 test point, so its probe passes).
const dashboardZone = `
sender-e2e.test. 300 IN TXT "v=spf1 ip4:203.0.113.9 -all"
_dmarc.sender-e2e.test. 300 IN TXT "v=DMARC1; p=none"
shady-e2e.test. 300 IN NS ns1.shady-host.test.
ns1.shady-host.test. 300 IN A 127.0.0.77
9.113.0.203.bl.e2e.test. 300 IN A 127.0.0.2
2.0.0.127.bl.e2e.test. 300 IN A 127.0.0.2
`

var queuedAs = regexp.MustCompile(`queued as ([0-9A-Za-z]+)`)

// TestE2EDashboard drives the dashboard in a real browser (Debian's
// chromium, headless) against vigil serve behind a real Postfix: log in,
// send a message through Postfix, find it in the history with its
// symbols, mark it spam, and see the learned reputation in the verdict of
// the next message from the same sender. Screenshots of every step are
// saved as test artefacts (artifactDir).
func TestE2EDashboard(t *testing.T) {
	e2eEnv(t)
	postfixFind(t)
	b := startBrowser(t)
	dns := dnstest.NewServer(t, dashboardZone)
	work := scratchDir(t, "vigil-dashboard-")
	token := "dashboard-" + newToken()
	cfgPath := filepath.Join(work, "vigil.yaml")
	cfg := fmt.Sprintf(`milter: {listen: "inet:127.0.0.1:0"}
admin: {listen: "127.0.0.1:0", token: %q}
dns: {servers: [%q], timeout: 2s}
blocklists:
  - {name: E2E_BL, zone: bl.e2e.test, check: ip, score: 2.5}
reputation: {path: %q, min_evidence: 1}
history: {node: e2e-node}
log: {level: debug}
`, token, dns.Addr(), filepath.Join(work, "reputation"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	v := startServe(t, cfgPath, "", 20000)
	admin := v.adminAddr(t)
	pf := startPostfix(t, filepath.Join(work, "postfix"), "inet:"+v.addr, "tempfail")
	base := "http://" + admin

	// send passes one message through Postfix and returns its queue id.
	send := func(n int) string {
		t.Helper()
		msg := fmt.Sprintf("From: Deals <deals@sender-e2e.test>\r\nTo: alice@example.test\r\nSubject: Watches at %d%% off\r\n"+
			"Date: Sat, 28 Nov 2026 10:0%d:00 +0000\r\nMessage-ID: <deal-%d-%s@sender-e2e.test>\r\n\r\n"+
			"Today only: http://shady-e2e.test/offer?n=%d\r\nOffer number %d.\r\n", 40+n, n, n, token, n, n*7919)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := sendSMTP(ctx, pf.smtpAddr(), "e2e.test", &xclientArgs{Addr: "203.0.113.9", Name: "mail.sender-e2e.test"}, "mail.sender-e2e.test",
			[]smtpMessage{{From: "deals@sender-e2e.test", Rcpts: []string{"alice@example.test"}, Data: []byte(msg)}})
		if err != nil {
			t.Fatalf("SMTP: %v\npostfix log:\n%s", err, pf.log())
		}
		m := queuedAs.FindStringSubmatch(res[0].Reply)
		if res[0].Stage != "eom" || m == nil {
			t.Fatalf("message %d: %s %s, want it queued\npostfix log:\n%s", n, res[0].Stage, res[0].Reply, pf.log())
		}
		return m[1]
	}
	// openEntry finds the message with queue id qid in the history (it is
	// written within a second) and opens it.
	openEntry := func(qid, shot string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b.run("search the history", chromedp.Navigate(base+"/history?queue_id="+qid), chromedp.WaitVisible(chromedp.ID("history")))
			rows := b.count("#history a.qid")
			if rows == 1 {
				break
			}
			if time.Now().After(deadline) {
				b.screenshot("failed-history-" + qid)
				t.Fatalf("queue id %s: %d rows in the history after 20 s\nvigil log:\n%s", qid, rows, v.logs.String())
			}
			time.Sleep(300 * time.Millisecond)
		}
		b.screenshot(shot + "-history")
		b.run("open "+qid, chromedp.Click(chromedp.CSS("#history a.qid")), chromedp.WaitVisible(chromedp.ID("symbols")))
	}
	score := func() float64 {
		t.Helper()
		s := strings.TrimPrefix(strings.TrimSpace(b.text(".score")), "score ")
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("score %q: %v", s, err)
		}
		return f
	}

	// Log in: the pages need the session the token buys.
	b.run("open the dashboard", chromedp.Navigate(base+"/history"), chromedp.WaitVisible(chromedp.ID("login")))
	b.screenshot("01-login")
	b.run("log in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("total")))
	cookies := get(b, "read cookies", func(ctx context.Context, tg *chromedp.Target) (*network.GetCookiesResult, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
		return &r, err
	})
	script := get(b, "document.cookie", chromedp.Evaluate[string](`document.cookie`))
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "vigil_session" {
			session = c
		}
		if strings.Contains(c.Value, token) {
			t.Errorf("cookie %s holds the token", c.Name)
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie %+v, want HttpOnly and SameSite=Strict", session)
	}
	if script != "" {
		t.Errorf("a page script can read cookies: %q", script)
	}

	// A message through Postfix shows in the history with its symbols.
	first := send(1)
	openEntry(first, "02")
	syms := b.text("#symbols")
	for _, want := range []string{"E2E_BL", "203.0.113.9", "SPF_PASS", "DMARC_PASS", "DKIM_NONE"} {
		if !strings.Contains(syms, want) {
			t.Errorf("entry %s: symbols lack %s:\n%s", first, want, syms)
		}
	}
	if strings.Contains(syms, "REP_") {
		t.Fatalf("the first message already scores learned reputation:\n%s", syms)
	}
	if auth := b.text("#auth"); !strings.Contains(auth, "sender-e2e.test") {
		t.Errorf("authentication table: %s", auth)
	}
	if links := b.text("#urls"); !strings.Contains(links, "http://shady-e2e.test/offer?n=1") || !strings.Contains(b.text("#infra"), "ns1.shady-host.test") {
		t.Errorf("links %q, or no nameserver behind shady-e2e.test", links)
	}
	before := score()
	b.screenshot("03-entry")

	// Mark it spam: the result shows at once, and the entry is marked.
	b.run("mark spam", chromedp.Click(chromedp.ID("mark-spam")), chromedp.WaitVisible(chromedp.ID("flash")))
	if f := b.text("#flash"); !strings.Contains(f, "learned as spam") {
		t.Fatalf("after Mark spam: %q", f)
	}
	if l := b.text("#learned"); !strings.Contains(l, "learned as spam") {
		t.Fatalf("entry not marked: %q", l)
	}
	b.screenshot("04-marked-spam")

	// Two more reports: one or two are too little evidence for a lean
	// (the reputation check smooths with one virtual report of each
	// class, and decay takes a little off two at once).
	for _, n := range []int{3, 4} {
		other := send(n)
		openEntry(other, fmt.Sprintf("04-%d", n))
		b.run("mark spam again", chromedp.Click(chromedp.ID("mark-spam")), chromedp.WaitVisible(chromedp.ID("flash")))
		if f := b.text("#flash"); !strings.Contains(f, "learned as spam") {
			t.Fatalf("after Mark spam on %s: %q", other, f)
		}
	}

	// The next message from the same client, sender and link domain
	// scores the learned reputation.
	second := send(2)
	openEntry(second, "05")
	syms = b.text("#symbols")
	for _, want := range []string{"REP_IP_SPAM", "REP_SENDER_SPAM", "REP_DOMAIN_SPAM"} {
		if !strings.Contains(syms, want) {
			t.Errorf("after feedback, entry %s lacks %s:\n%s", second, want, syms)
		}
	}
	if after := score(); after <= before {
		t.Errorf("score %.2f after learning, %.2f before", after, before)
	}
	b.screenshot("06-learned-reputation")

	// The history lists both, the first marked.
	b.run("history", chromedp.Navigate(base+"/history?from=deals@sender-e2e.test"), chromedp.WaitVisible(chromedp.ID("history")))
	if h := b.text("#history"); !strings.Contains(h, first) || !strings.Contains(h, second) || !strings.Contains(h, "learned spam") || !strings.Contains(h, "e2e-node") {
		t.Errorf("history:\n%s", h)
	}
	b.screenshot("07-history")

	// Overview, configuration (token redacted), learning an upload.
	b.run("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("total")))
	if n := b.text("#total"); n != "4" {
		t.Errorf("overview total %q, want 4", n)
	}
	if l := b.text("#lists"); !strings.Contains(l, "E2E_BL") || !strings.Contains(l, "healthy") {
		t.Errorf("lists: %s", l)
	}
	b.screenshot("08-overview")
	b.run("configuration", chromedp.Navigate(base+"/config"), chromedp.WaitVisible(chromedp.ID("config")))
	if c := b.text("#config"); strings.Contains(c, token) || !strings.Contains(c, "token: (redacted)") {
		t.Errorf("configuration page shows the token, or no redaction:\n%.2000s", c)
	}
	b.screenshot("09-config")
	eml := filepath.Join(work, "reported.eml")
	if err := os.WriteFile(eml, []byte("From: Friend <friend@elsewhere-e2e.test>\r\nTo: alice@example.test\r\nSubject: lunch\r\nMessage-ID: <lunch-"+token+"@elsewhere-e2e.test>\r\n\r\nLunch on Friday?\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.run("upload", chromedp.Navigate(base+"/learn"), chromedp.WaitVisible(chromedp.ID("upload")),
		chromedp.Click(chromedp.CSS(`input[name=class][value=ham]`)),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{eml}), chromedp.Submit(chromedp.ID("upload")),
		chromedp.WaitVisible(chromedp.ID("flash")))
	if f := b.text("#flash"); !strings.Contains(f, "learned as ham") || !strings.Contains(f, "reported.eml") {
		t.Errorf("upload: %q", f)
	}
	b.screenshot("10-learn-upload")

	// Logging out ends the session.
	b.run("log out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.Navigate(base+"/history"), chromedp.WaitVisible(chromedp.ID("login")))

	if off := b.offLoopback(admin); len(off) > 0 {
		t.Errorf("pages requested from elsewhere than the admin listener: %v", off)
	}
	for _, p := range b.complaints() {
		t.Errorf("browser: %s", p)
	}
	if t.Failed() {
		t.Logf("vigil log:\n%s", v.logs.String())
	}
}
