package follow

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/content"
)

const testZone = `
$ORIGIN example.
@        300 SOA ns1 hostmaster 1 3600 600 86400 60
short        A   127.0.0.1
landing      A   127.0.0.1
old-bad      A   127.0.0.1
new-bad      A   127.0.0.1
direct       A   127.0.0.1
paypal       A   127.0.0.1
img          A   127.0.0.1
intranet     A   10.1.2.3
`

type env struct {
	t     testing.TB
	srv   *httptest.Server
	port  string
	mux   *http.ServeMux
	c     *Check
	hits  atomic.Int64
	mu    sync.Mutex
	dials []string
}

func newEnv(t testing.TB, mod func(*Config, *Deps)) *env {
	t.Helper()
	e := &env{t: t, mux: http.NewServeMux()}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		e.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	_, e.port, _ = net.SplitHostPort(e.srv.Listener.Addr().String())
	port, _ := strconv.Atoi(e.port)
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.AllowNetworks = []string{"127.0.0.0/8"}
	cfg.AllowPorts = []int{80, 443, port}
	cfg.RedirectorHosts = []string{"short.example"}
	d := &net.Dialer{Timeout: 2 * time.Second}
	deps := Deps{
		Resolver: dnstest.NewFake(t, testZone),
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			e.mu.Lock()
			e.dials = append(e.dials, address)
			e.mu.Unlock()
			if ap, err := netip.ParseAddrPort(address); err != nil || !ap.Addr().IsLoopback() {
				t.Errorf("dial to %q: not loopback", address)
				return nil, fmt.Errorf("test: refusing %q", address)
			}
			return d.DialContext(ctx, network, address)
		},
	}
	if mod != nil {
		mod(&cfg, &deps)
	}
	c, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

func (e *env) url(host, path string) string { return "http://" + host + ":" + e.port + path }

func (e *env) message(from string, urls ...string) *filters.Message {
	m := &filters.Message{Headers: []filters.Header{{Name: "From", Value: " " + from}}}
	for _, u := range urls {
		host := strings.Split(strings.TrimPrefix(u, "http://"), ":")[0]
		m.Facts.Content.URLs = append(m.Facts.Content.URLs, filters.URL{URL: u, Host: host, Domain: host, Source: "html"})
		m.Facts.Content.Domains = append(m.Facts.Content.Domains, host)
	}
	return m
}

func symbolMap(syms []filters.Symbol) map[string]filters.Symbol {
	out := map[string]filters.Symbol{}
	for _, s := range syms {
		out[s.Name] = s
	}
	return out
}

const loginPage = `<html><body><h1>Sign in to your account</h1><p>Your mailbox will be suspended unless you verify your identity today.</p>
<form><input type="email" placeholder="Email address"><input type="password"><button>Verify now</button></form></body></html>`

func peBytes() []byte {
	pe := make([]byte, 512)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	return pe
}

func TestCheckSymbols(t *testing.T) {
	e := newEnv(t, nil)
	e.mux.HandleFunc("/s/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.url("landing.example", "/login"), http.StatusFound)
	})
	e.mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, loginPage) })
	e.mux.HandleFunc("/s/exe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(peBytes())
	})
	e.mux.HandleFunc("/s/meta", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	e.mux.HandleFunc("/s/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/s/loop2", http.StatusFound)
	})
	e.mux.HandleFunc("/s/loop2", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/s/loop", http.StatusFound)
	})
	e.mux.HandleFunc("/direct", func(w http.ResponseWriter, r *http.Request) {
		t.Error("a non-redirector URL was followed in mode redirectors")
	})

	m := e.message(`"PayPal Service" <service@evil.example>`,
		e.url("short.example", "/s/login"),
		e.url("short.example", "/s/login#again"), // same URL: followed once
		e.url("short.example", "/s/exe"),
		e.url("short.example", "/s/meta"),
		e.url("short.example", "/s/loop"),
		e.url("direct.example", "/direct"),
		"mailto:someone@example.com",
	)
	syms, err := e.c.Run(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	got := symbolMap(syms)
	want := map[string]string{
		SymLoginForm:      `on landing.example, brand "paypal"`,
		SymExecutable:     "/s/exe application/octet-stream (pe)",
		SymForbidden:      "169.254.169.254",
		SymLoop:           "/s/loop2",
		SymRedirectDomain: "short.example>landing.example",
	}
	for name, detail := range want {
		s, ok := got[name]
		if !ok {
			t.Errorf("missing %s in %v", name, syms)
			continue
		}
		if !strings.Contains(s.Detail, detail) {
			t.Errorf("%s detail %q, want it to contain %q", name, s.Detail, detail)
		}
		if s.Score != Spec.Score(name) {
			t.Errorf("%s score %v, want %v", name, s.Score, Spec.Score(name))
		}
	}
	if len(got) != len(syms) {
		t.Errorf("a symbol name appears twice: %v", syms)
	}
	if len(got) != len(want) {
		t.Errorf("symbols %v, want exactly %d", syms, len(want))
	}
	if s := got[SymForbidden]; !strings.Contains(s.Detail, "link-local") || !strings.Contains(s.Detail, "/s/meta") {
		t.Errorf("forbidden detail %q lacks the chain and the reason", s.Detail)
	}
	if hd := m.Facts.HopDomains(); strings.Join(hd, ",") != "landing.example" {
		t.Errorf("HopDomains = %v, want [landing.example]", hd)
	}
	if ch := m.Facts.Links; len(ch) != 4 {
		t.Errorf("%d chains, want 4 (deduplicated, redirectors only)", len(ch))
	}
	for _, d := range e.dials {
		if d != "127.0.0.1:"+e.port {
			t.Errorf("dialed %s", d)
		}
	}

	// The same brand-less message: the login form alone is no symbol.
	m2 := e.message("Newsletter <news@landing.example>", e.url("short.example", "/s/login"))
	syms, _ = e.c.Run(context.Background(), m2)
	if _, ok := symbolMap(syms)[SymLoginForm]; ok {
		t.Errorf("login form reported without a brand to contradict: %v", syms)
	}
}

func TestCheckDisabled(t *testing.T) {
	e := newEnv(t, func(c *Config, d *Deps) { c.Enabled = false })
	syms, err := e.c.Run(context.Background(), e.message("a <a@b.example>", e.url("short.example", "/x")))
	if err != nil || syms != nil || e.hits.Load() != 0 {
		t.Errorf("disabled check: %v %v, %d requests", syms, err, e.hits.Load())
	}
}

func TestCheckBudget(t *testing.T) {
	e := newEnv(t, func(c *Config, d *Deps) {
		c.MessageBudget = 300 * time.Millisecond
		c.Workers = 2
		c.Mode = ModeAll
	})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var inflight, peak atomic.Int64
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	var urls []string
	for i := 0; i < 8; i++ {
		urls = append(urls, e.url("landing.example", "/slow/"+strconv.Itoa(i)))
	}
	m := e.message("x <x@y.example>", urls...)
	syms, err := e.c.Run(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := symbolMap(syms)[SymUnfinished]
	if !ok || !strings.Contains(s.Detail, "+") {
		t.Errorf("symbols %v, want FOLLOW_UNFINISHED naming the unfinished URLs", syms)
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d requests at once, want at most workers=2", p)
	}
	// A check deadline shorter than the budget wins too.
	e2 := newEnv(t, func(c *Config, d *Deps) { c.Mode = ModeAll })
	e2.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	syms, _ = e2.c.Run(ctx, e2.message("x <x@y.example>", e2.url("landing.example", "/slow")))
	if _, ok := symbolMap(syms)[SymUnfinished]; !ok {
		t.Errorf("symbols %v under a short check deadline, want FOLLOW_UNFINISHED", syms)
	}
	if e.c.Unfinished.Load() != 8 {
		t.Errorf("Unfinished counter %d, want 8", e.c.Unfinished.Load())
	}
}

func TestCheckTooManyHops(t *testing.T) {
	e := newEnv(t, func(c *Config, d *Deps) { c.MaxHops = 2 })
	e.mux.HandleFunc("/s/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/s/"))
		http.Redirect(w, r, "/s/"+strconv.Itoa(n+1), http.StatusMovedPermanently)
	})
	syms, _ := e.c.Run(context.Background(), e.message("a <a@b.example>", e.url("short.example", "/s/0")))
	if _, ok := symbolMap(syms)[SymTooManyHops]; !ok {
		t.Errorf("symbols %v, want FOLLOW_TOO_MANY_HOPS", syms)
	}
	if n := e.hits.Load(); n != 3 {
		t.Errorf("%d requests, want 3 (max_hops 2)", n)
	}
}

type panicResolver struct{}

func (panicResolver) Lookup(ctx context.Context, name string, qtype uint16) (dnsrep.Answer, error) {
	panic("resolver exploded")
}

func TestCheckPanicRecovered(t *testing.T) {
	e := newEnv(t, func(c *Config, d *Deps) { d.Resolver = panicResolver{} })
	syms, err := e.c.Run(context.Background(), e.message("a <a@b.example>", e.url("short.example", "/x"), e.url("short.example", "/y")))
	if err != nil {
		t.Fatal(err)
	}
	if len(syms) != 0 {
		t.Errorf("symbols %v from failed lookups, want none", syms)
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg := DefaultConfig()
	src := `
enabled: true
mode: all
redirector_hosts: [go.example.com]
max_urls: 5
timeout: 2s
message_budget: 3500ms
allow_networks: [127.0.0.0/8, "::1/128"]
allow_ports: [80, 443, 8080]
cache_ttl: 10m
`
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.Enabled || cfg.Mode != ModeAll || cfg.Timeout != 2*time.Second || cfg.MessageBudget != 3500*time.Millisecond ||
		len(cfg.AllowPorts) != 3 || cfg.CacheTTL != 10*time.Minute || cfg.MaxHops != 10 {
		t.Errorf("decoded %+v", cfg)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"mode", func(c *Config) { c.Mode = "some" }, `follow.mode: "some"`},
		{"max_urls", func(c *Config) { c.MaxURLs = 0 }, "follow.max_urls: 0"},
		{"timeout", func(c *Config) { c.Timeout = -time.Second }, "follow.timeout: -1s"},
		{"budget", func(c *Config) { c.MessageBudget = 0 }, "follow.message_budget: 0s"},
		{"network", func(c *Config) { c.AllowNetworks = []string{"10.0.0.0/33"} }, `follow.allow_networks: "10.0.0.0/33"`},
		{"port", func(c *Config) { c.AllowPorts = []int{70000} }, "follow.allow_ports: 70000"},
		{"no ports", func(c *Config) { c.AllowPorts = nil }, "follow.allow_ports"},
		{"host", func(c *Config) { c.RedirectorHosts = []string{"http://x"} }, "follow.redirector_hosts"},
		{"hops", func(c *Config) { c.MaxHops = 500 }, "follow.max_hops: 500"},
		{"cache", func(c *Config) { c.CacheTTL = -time.Second }, "follow.cache_ttl"},
		{"ua", func(c *Config) { c.UserAgent = "a\r\nX-Evil: 1" }, "follow.user_agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// TestCheckLoginBrandFromLinkText runs the content check on an HTML message
// so the anchor text reaches the follow check as Facts.Content.URLs[].Text,
// then follows the link to a password form on landing.example.
func TestCheckLoginBrandFromLinkText(t *testing.T) {
	e := newEnv(t, nil)
	e.mux.HandleFunc("/s/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.url("landing.example", "/login"), http.StatusFound)
	})
	e.mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, loginPage) })
	cc, err := content.New(content.DefaultConfig(), content.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	e.mux.HandleFunc("/s/paypal", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.url("paypal.example", "/login"), http.StatusFound)
	})
	tests := []struct {
		name, from, anchor string
		want               string // detail substring of FOLLOW_LOGIN_FORM, "" for none
		path               string // on short.example; default /s/login (to landing.example)
	}{
		{"brand in link text", "Newsletter <news@mailer.example>", "Sign in to <b>PayPal</b>",
			`/login on landing.example, brand "paypal" named in link text`, ""},
		{"neutral text and From", "Newsletter <news@mailer.example>", "click here", "", ""},
		{"neutral text, brand in From", `"PayPal Service" <service@mailer.example>`, "click here",
			`on landing.example, brand "paypal" named in From`, ""},
		// The link text names the brand the page belongs to: that
		// settles it, whatever From claims.
		{"link text brand matches the page", `"Microsoft Support" <it@mailer.example>`, "Sign in to PayPal", "", "/s/paypal"},
		{"no link text, brand in From", `"Microsoft 365" <it@mailer.example>`, `<img src="http://i.example/x.png">`,
			`brand "microsoft" named in From`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "" {
				tt.path = "/s/login"
			}
			link := e.url("short.example", tt.path)
			m := &filters.Message{
				Headers: []filters.Header{
					{Name: "From", Value: " " + tt.from},
					{Name: "Content-Type", Value: " text/html; charset=utf-8"},
				},
				Body: filters.BytesBody(`<p>Your account needs attention.</p><p><a href="` + link + `">` + tt.anchor + `</a></p>`),
			}
			if _, err := cc.Run(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			if len(m.Facts.Content.URLs) == 0 || m.Facts.Content.URLs[0].URL != link {
				t.Fatalf("content URLs = %+v, want %s first", m.Facts.Content.URLs, link)
			}
			syms, err := e.c.Run(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Facts.Links) != 1 || !m.Facts.Links[0].LoginForm {
				t.Fatalf("chains %+v, want one landing on the login form", m.Facts.Links)
			}
			s, ok := symbolMap(syms)[SymLoginForm]
			switch {
			case tt.want == "" && ok:
				t.Errorf("unexpected %s %q", SymLoginForm, s.Detail)
			case tt.want != "" && !ok:
				t.Errorf("missing %s in %v", SymLoginForm, syms)
			case tt.want != "" && !strings.Contains(s.Detail, tt.want):
				t.Errorf("%s detail %q, want it to contain %q", SymLoginForm, s.Detail, tt.want)
			}
		})
	}
}
