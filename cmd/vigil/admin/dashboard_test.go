package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/history"
)

const testToken = "dashboard-test-token-0123"

// fakeHistory is a History over a few fixed entries.
type fakeHistory struct {
	entries []history.Detail
	learned []string
}

func (f *fakeHistory) Search(_ context.Context, q history.Query) (history.Result, error) {
	res := history.Result{Entries: []history.Entry{}}
	for _, d := range f.entries {
		e := d.Entry
		res.Scanned++
		if q.Match(&e) && (q.Before == 0 || e.ID < q.Before) {
			res.Entries = append(res.Entries, e)
		}
	}
	return res, nil
}

func (f *fakeHistory) Load(_ context.Context, id uint64) (history.Detail, error) {
	for _, d := range f.entries {
		if d.ID == id {
			return d, nil
		}
	}
	return history.Detail{}, history.ErrNotFound
}

func (f *fakeHistory) Learn(_ context.Context, id uint64, spam bool, source string) (string, error) {
	if _, err := f.Load(context.Background(), id); err != nil {
		return "", err
	}
	f.learned = append(f.learned, fmt.Sprintf("%d:%v:%s", id, spam, source))
	return fmt.Sprintf("learned as %s (3 keys)", map[bool]string{true: "spam", false: "ham"}[spam]), nil
}

// hostile is what an attacker controls in an entry: envelope, subject,
// symbol details (which quote the message), links.
const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`

func newDashboard(t *testing.T) (*Server, *fakeHistory, *fakeLearner) {
	t.Helper()
	h := &fakeHistory{entries: []history.Detail{
		{Entry: history.Entry{ID: 2, Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), Node: "mx1", QueueID: "QID2", Client: "203.0.113.9",
			From: "evil@spam.example", Rcpts: []string{"alice@example.org"}, Subject: hostile, Action: filters.Tag, WouldBe: filters.Reject, Score: 16,
			Symbols: []history.Symbol{{Name: "SPAMHAUS_ZEN", Score: 3, Detail: hostile}}},
			URLs: []filters.URL{{URL: "javascript:alert(3)", Domain: "x"}}, Helo: hostile},
		{Entry: history.Entry{ID: 1, Time: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), Node: "mx2", QueueID: "QID1", Client: "192.0.2.1",
			From: "friend@ham.example", Rcpts: []string{"bob@example.org"}, Subject: "lunch", Action: filters.Accept, WouldBe: filters.Accept, Score: -1,
			Symbols: []history.Symbol{{Name: "SPF_PASS", Score: -0.5}}}},
	}}
	l := &fakeLearner{}
	rates := history.NewRates()
	rates.Observe(nil, filters.Verdict{Action: filters.Tag, WouldBe: filters.Reject, Symbols: []filters.Symbol{{Name: "SPAMHAUS_ZEN"}}}, 3*time.Millisecond)
	s := New(testToken, Limits{MaxBody: 1 << 20, MaxConcurrent: 2, SessionTTL: time.Hour}, func() Hooks {
		return Hooks{Learner: l, History: h, Node: "mx1",
			Overview: func(w string) history.Overview { return rates.Overview(w, 10) },
			Lists: func() []dnsrep.ListHealth {
				return []dnsrep.ListHealth{{List: "SPAMHAUS_ZEN", Zone: "zen.spamhaus.org", Healthy: true}}
			},
			Config: func() ([]byte, error) { return []byte("admin:\n    token: (redacted)\n"), nil },
		}
	}, quietLog())
	loginDelay = 0
	return s, h, l
}

// client is a browser for the tests: it keeps cookies and sends what a
// same-origin browser sends.
type client struct {
	t       *testing.T
	s       *Server
	cookies map[string]string
}

func (c *client) do(method, target string, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	c.t.Helper()
	req := httptest.NewRequest(method, target, body)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	rec := httptest.NewRecorder()
	c.s.Handler().ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return rec
}

func (c *client) form(target string, v url.Values) *httptest.ResponseRecorder {
	return c.do("POST", target, strings.NewReader(v.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", page)
	}
	return m[1]
}

// login logs in through the form and returns the session's CSRF token.
func (c *client) login() string {
	c.t.Helper()
	page := c.do("GET", "/login", nil, nil)
	if page.Code != 200 {
		c.t.Fatalf("GET /login: %d", page.Code)
	}
	rec := c.form("/login", url.Values{"csrf": {csrfOf(c.t, page.Body.String())}, "token": {testToken}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		c.t.Fatalf("login: %d %s", rec.Code, rec.Body.String())
	}
	return csrfOf(c.t, c.do("GET", "/", nil, nil).Body.String())
}

func TestDashboardLogin(t *testing.T) {
	s, _, _ := newDashboard(t)
	c := &client{t: t, s: s, cookies: map[string]string{}}

	// Without a session: pages go to the login form, the API is 401.
	if rec := c.do("GET", "/history", nil, nil); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("GET /history without a session: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	if rec := c.do("GET", "/api/history", nil, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("GET /api/history without credentials: %d", rec.Code)
	}
	page := c.do("GET", "/login", nil, nil)
	if !strings.Contains(page.Body.String(), `method="post" action="/login"`) || strings.Contains(page.Body.String(), "<script") {
		t.Fatalf("login form:\n%s", page.Body.String())
	}
	if page.Header().Get("Content-Security-Policy") != contentSecurityPolicy || page.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers: %v", page.Header())
	}
	csrf := csrfOf(t, page.Body.String())

	// The login form needs its own CSRF token, then the right token.
	if rec := c.form("/login", url.Values{"csrf": {"forged"}, "token": {testToken}}); rec.Code != http.StatusForbidden {
		t.Fatalf("login with a forged csrf: %d", rec.Code)
	}
	csrf = csrfOf(t, c.do("GET", "/login", nil, nil).Body.String())
	if rec := c.form("/login", url.Values{"csrf": {csrf}, "token": {"wrong-token-0123456789"}}); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Wrong token") {
		t.Fatalf("login with a wrong token: %d", rec.Code)
	}
	if _, ok := c.cookies[sessionCookie]; ok {
		t.Fatal("a session after a failed login")
	}
	csrf = csrfOf(t, c.do("GET", "/login", nil, nil).Body.String())
	rec := c.form("/login", url.Values{"csrf": {csrf}, "token": {testToken}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	var sess *http.Cookie
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.MaxAge != 3600 || strings.Contains(sess.Value, testToken) {
		t.Fatalf("session cookie %+v", sess)
	}

	// With the session: pages and the API.
	for _, p := range []string{"/", "/?window=day", "/history", "/history?symbol=spamhaus", "/history/2", "/learn", "/config", "/api/history", "/api/stats", "/metrics"} {
		rec := c.do("GET", p, nil, nil)
		want := 200
		if p == "/metrics" {
			want = http.StatusNotImplemented // no metrics hook here
		}
		if rec.Code != want {
			t.Errorf("GET %s with a session: %d, want %d: %.300s", p, rec.Code, want, rec.Body.String())
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", p, rec.Header().Get("Cache-Control"))
		}
	}

	// The token never in a URL, whatever the parameter is called.
	for _, p := range []string{"/history?token=x", "/api/history?access_token=y", "/api/history?q=" + testToken, "/login?password=z"} {
		if rec := c.do("GET", p, nil, nil); rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", p, rec.Code)
		}
	}

	// Logging out ends the session.
	pc := csrfOf(t, c.do("GET", "/", nil, nil).Body.String())
	if rec := c.form("/logout", url.Values{"csrf": {pc}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", rec.Code)
	}
	if rec := c.do("GET", "/history", nil, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("after logout: %d", rec.Code)
	}
}

func TestDashboardCSRF(t *testing.T) {
	s, h, l := newDashboard(t)
	c := &client{t: t, s: s, cookies: map[string]string{}}
	csrf := c.login()

	// Every POST with the session needs the session's CSRF token.
	for _, tc := range []struct {
		target string
		body   url.Values
	}{
		{"/history/2/learn", url.Values{"class": {"spam"}}},
		{"/history/2/learn", url.Values{"class": {"spam"}, "csrf": {"forged"}}},
		{"/api/history/2/learn?class=spam", url.Values{}},
		{"/learn/spam", url.Values{}},
		{"/dns/flush", url.Values{}},
		{"/logout", url.Values{}},
	} {
		if rec := c.form(tc.target, tc.body); rec.Code != http.StatusForbidden {
			t.Errorf("POST %s %v without the CSRF token: %d, want 403", tc.target, tc.body, rec.Code)
		}
	}
	if len(h.learned) != 0 || len(l.got) != 0 {
		t.Fatalf("learned without CSRF tokens: %v %v", h.learned, l.got)
	}

	// A cross-site browser request is refused even with the token.
	rec := c.do("POST", "/history/2/learn", strings.NewReader(url.Values{"class": {"spam"}, "csrf": {csrf}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
	if rec.Code != http.StatusForbidden || len(h.learned) != 0 {
		t.Fatalf("cross-site POST: %d, learned %v", rec.Code, h.learned)
	}

	// With it: learned, and the result shows on the page it returns to.
	rec = c.form("/history/2/learn", url.Values{"class": {"spam"}, "csrf": {csrf}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/history/2" {
		t.Fatalf("mark spam: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	page := c.do("GET", "/history/2", nil, nil).Body.String()
	if !strings.Contains(page, `id="flash">Learned: learned as spam (3 keys)`) {
		t.Fatalf("no result on the entry page:\n%s", page)
	}
	if strings.Contains(c.do("GET", "/history/2", nil, nil).Body.String(), "Learned: ") {
		t.Fatal("the result shows twice")
	}
	if len(h.learned) != 1 || h.learned[0] != "2:true:dashboard" {
		t.Fatalf("learned %v", h.learned)
	}
	// The API with the session and the header; with the Bearer token
	// (source api) no CSRF token is needed.
	rec = c.do("POST", "/api/history/1/learn?class=ham", nil, map[string]string{"X-CSRF-Token": csrf})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"result":"learned as ham (3 keys)"`) {
		t.Fatalf("API learn with the session: %d %s", rec.Code, rec.Body.String())
	}
	bearer := &client{t: t, s: s, cookies: map[string]string{}}
	rec = bearer.do("POST", "/api/history/1/learn", strings.NewReader(`{"class":"spam"}`), map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"})
	if rec.Code != 200 {
		t.Fatalf("API learn with the token: %d %s", rec.Code, rec.Body.String())
	}
	if got := strings.Join(h.learned, " "); got != "2:true:dashboard 1:false:dashboard 1:true:api" {
		t.Fatalf("learned %s", got)
	}

	// An upload: csrf, class, then the file, streamed to the learner.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	mw.WriteField("class", "ham")
	fw, _ := mw.CreateFormFile("file", "lunch.eml")
	io.WriteString(fw, "From: f@ham.example\r\nSubject: lunch\r\n\r\nFriday?\r\n")
	mw.Close()
	rec = c.do("POST", "/learn", &body, map[string]string{"Content-Type": mw.FormDataContentType(), "Sec-Fetch-Site": "same-origin"})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body.String())
	}
	if page := c.do("GET", "/learn", nil, nil).Body.String(); !strings.Contains(page, "Learned lunch.eml: learned") {
		t.Fatalf("upload result:\n%s", page)
	}
	if len(l.got) != 1 || !strings.HasPrefix(l.got[0], "ham:From: f@ham.example") {
		t.Fatalf("learner got %q", l.got)
	}
	// An upload whose CSRF token is wrong is refused before the file is read.
	body.Reset()
	mw = multipart.NewWriter(&body)
	mw.WriteField("csrf", "forged")
	mw.WriteField("class", "spam")
	fw, _ = mw.CreateFormFile("file", "x.eml")
	io.WriteString(fw, "From: x@y\r\n\r\nz\r\n")
	mw.Close()
	if rec := c.do("POST", "/learn", &body, map[string]string{"Content-Type": mw.FormDataContentType()}); rec.Code != http.StatusForbidden || len(l.got) != 1 {
		t.Fatalf("upload with a forged CSRF token: %d, learner %d", rec.Code, len(l.got))
	}
}

// TestDashboardEscapes: what the sender controls (subject, envelope,
// symbol details quoting the message, links) is shown as text.
func TestDashboardEscapes(t *testing.T) {
	s, _, _ := newDashboard(t)
	c := &client{t: t, s: s, cookies: map[string]string{}}
	c.login()
	for _, p := range []string{"/history", "/history/2"} {
		page := c.do("GET", p, nil, nil).Body.String()
		if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || strings.Contains(page, `href="javascript:`) {
			t.Errorf("%s renders hostile content as markup:\n%s", p, page)
		}
		if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the hostile subject as text", p)
		}
	}
}

func TestAPI(t *testing.T) {
	s, _, _ := newDashboard(t)
	c := &client{t: t, s: s, cookies: map[string]string{}}
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	get := func(p string, want int) map[string]any {
		t.Helper()
		rec := c.do("GET", p, nil, auth)
		if rec.Code != want || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("GET %s: %d %s, want %d JSON", p, rec.Code, rec.Body.String(), want)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		return v
	}
	v := get("/api/history?limit=5", 200)
	entries := v["entries"].([]any)
	if len(entries) != 2 {
		t.Fatalf("entries %v", entries)
	}
	e := entries[0].(map[string]any)
	for _, k := range []string{"time", "node", "queue_id", "client", "from", "rcpts", "action", "would_be", "score", "symbols"} {
		if _, ok := e[k]; !ok {
			t.Errorf("entry without %q: %v", k, e)
		}
	}
	if e["would_be"] != "reject" || e["action"] != "tag" {
		t.Errorf("entry %v", e)
	}
	if v := get("/api/history?client=192.0.2&limit=1", 200); len(v["entries"].([]any)) != 1 {
		t.Errorf("client search: %v", v)
	}
	get("/api/history?limit=0", 400)
	get("/api/history?limit=abc", 400)
	get("/api/history?before=x", 400)
	if d := get("/api/history/2", 200); d["helo"] != hostile || d["urls"] == nil {
		t.Errorf("detail %v", d)
	}
	get("/api/history/99", 404)
	get("/api/history/x", 400)
	if st := get("/api/stats?window=day", 200); st["node"] != "mx1" || st["window"] != "day" || st["total"].(float64) != 1 || len(st["lists"].([]any)) != 1 {
		t.Errorf("stats %v", st)
	}
	get("/api/stats?window=year", 400)
	if cfg := get("/api/config", 200); cfg["admin"].(map[string]any)["token"] != "(redacted)" {
		t.Errorf("config %v", cfg)
	}
	rec := c.do("POST", "/api/history/2/learn?class=maybe", nil, auth)
	if rec.Code != 400 {
		t.Fatalf("learn with a bad class: %d", rec.Code)
	}
}

// TestNewTokenEndsSessions: a token changed on reload logs out everyone
// logged in with the old one.
func TestNewTokenEndsSessions(t *testing.T) {
	s, _, _ := newDashboard(t)
	c := &client{t: t, s: s, cookies: map[string]string{}}
	c.login()
	if rec := c.do("GET", "/history", nil, nil); rec.Code != 200 {
		t.Fatalf("logged in: %d", rec.Code)
	}
	s.SetToken(testToken) // unchanged: sessions stay
	if rec := c.do("GET", "/history", nil, nil); rec.Code != 200 {
		t.Fatalf("after reloading the same token: %d", rec.Code)
	}
	s.SetToken("another-token-0123456789")
	if rec := c.do("GET", "/history", nil, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("after a new token: %d, want the login form", rec.Code)
	}
}
