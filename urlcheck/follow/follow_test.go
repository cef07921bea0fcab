package follow

import (
	"bytes"
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

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

const testZone = `
$ORIGIN example.
@        300 SOA ns1 hostmaster 1 3600 600 86400 60
short        A   127.0.0.1
landing      A   127.0.0.1
old-bad      A   127.0.0.1
new-bad      A   127.0.0.1
internal     A   10.0.0.7
mixed        A   127.0.0.1
mixed        A   10.0.0.8
broken       A   127.0.0.1
`

// env is a loopback HTTP server, a fake resolver mapping *.example names
// to it, and a Follower whose dials are recorded.
type env struct {
	t    testing.TB
	srv  *httptest.Server
	port string
	mux  *http.ServeMux
	f    *Follower

	mu    sync.Mutex
	dials []string
	hits  atomic.Int64
}

func newEnv(t *testing.T, q dnsrep.Querier, mod func(*Options)) *env {
	t.Helper()
	return newEnvQ(t, q, mod)
}

func newEnvTB(t testing.TB, mod func(*Options)) *env { return newEnvQ(t, nil, mod) }

func newEnvQ(t testing.TB, q dnsrep.Querier, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, mux: http.NewServeMux()}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		e.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	_, e.port, _ = net.SplitHostPort(e.srv.Listener.Addr().String())
	port, _ := strconv.Atoi(e.port)
	if q == nil {
		q = dnstest.NewFake(t, testZone)
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	o := Options{
		Resolver: q,
		Guard: Guard{
			Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Ports: []uint16{80, 443, uint16(port)},
		},
		Timeout: 5 * time.Second,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			e.mu.Lock()
			e.dials = append(e.dials, address)
			e.mu.Unlock()
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !ap.Addr().IsLoopback() {
				// Never leave the machine, whatever the code under test does.
				t.Errorf("dial to %q: not a loopback address", address)
				return nil, fmt.Errorf("test: refusing to dial %q", address)
			}
			return d.DialContext(ctx, network, address)
		},
	}
	if mod != nil {
		mod(&o)
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.f = f
	return e
}

func (e *env) url(host, path string) string { return "http://" + host + ":" + e.port + path }

func (e *env) dialed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.dials...)
}

func (e *env) redirect(path, to string, code int) {
	e.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, code) })
}

func (e *env) page(path, ctype, body string) {
	e.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		fmt.Fprint(w, body)
	})
}

const loginPage = `<!doctype html><html><head><title>Sign in</title><style>body{}</style></head>
<body><h1>Sign in to your account</h1><p>Your mailbox will be suspended unless you verify your identity today.</p>
<form action="/post"><input type="email" placeholder="Email address"><input type="password" name="p">
<button>Verify now</button></form><script>var x = 1;</script></body></html>`

func TestFollowChain(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.redirect("/s/abc", "/hop", http.StatusFound)
	e.redirect("/hop", e.url("landing.example", "/login"), http.StatusMovedPermanently)
	e.page("/login", "text/html; charset=utf-8", loginPage)

	r := e.f.Follow(context.Background(), e.url("short.example", "/s/abc"))
	if r.Outcome != OutcomeLanded {
		t.Fatalf("outcome %s (%s), want landed", r.Outcome, r.Detail)
	}
	want := []struct {
		url    string
		status int
		domain string
		via    Via
	}{
		{e.url("short.example", "/s/abc"), 302, "short.example", ViaStart},
		{e.url("short.example", "/hop"), 301, "short.example", ViaHTTP},
		{e.url("landing.example", "/login"), 200, "landing.example", ViaHTTP},
	}
	if len(r.Hops) != len(want) {
		t.Fatalf("hops %s, want %d", r.Chain(), len(want))
	}
	for i, w := range want {
		h := r.Hops[i]
		if h.URL != w.url || h.Status != w.status || h.Domain != w.domain || h.Via != w.via || h.Addr != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("hop %d = %+v, want %+v via 127.0.0.1", i, h, w)
		}
	}
	if r.Sniffed.Kind != KindPage || r.Fingerprint.IsZero() || !r.PasswordForm {
		t.Errorf("landing: kind %s fingerprint %+v password %v; want page, fingerprint, password form", r.Sniffed.Kind, r.Fingerprint, r.PasswordForm)
	}
	if got := strings.Join(r.Domains(), ","); got != "short.example,landing.example" {
		t.Errorf("Domains() = %s", got)
	}
	if brand, ok := r.LoginMismatch("Log in to PayPal"); !ok || brand != "paypal" {
		t.Errorf("LoginMismatch(PayPal) = %q, %v; want paypal, true", brand, ok)
	}
	if _, ok := r.LoginMismatch("see landing.example"); ok {
		t.Error("LoginMismatch reports the domain the page is on")
	}
	for _, d := range e.dialed() {
		if d != "127.0.0.1:"+e.port {
			t.Errorf("dialed %q, want only the vetted 127.0.0.1:%s", d, e.port)
		}
	}
}

func TestFollowLoopAndHops(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.MaxHops = 3 })
	e.redirect("/loop1", "/loop2", http.StatusFound)
	e.redirect("/loop2", e.url("landing.example", "/loop3"), http.StatusFound)
	e.redirect("/loop3", e.url("short.example", "/loop1"), http.StatusFound)
	e.mux.HandleFunc("/n/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/n/"))
		http.Redirect(w, r, "/n/"+strconv.Itoa(n+1), http.StatusTemporaryRedirect)
	})

	r := e.f.Follow(context.Background(), e.url("short.example", "/loop1"))
	if r.Outcome != OutcomeLoop || len(r.Hops) != 4 {
		t.Errorf("loop: outcome %s after %s, want loop after 4 hops", r.Outcome, r.Chain())
	}
	r = e.f.Follow(context.Background(), e.url("short.example", "/n/0"))
	if r.Outcome != OutcomeTooManyHops {
		t.Errorf("endless chain: outcome %s after %s, want too-many-hops", r.Outcome, r.Chain())
	}
	if fetched := 0; true {
		for _, h := range r.Hops {
			if h.Status != 0 {
				fetched++
			}
		}
		if fetched != 4 {
			t.Errorf("endless chain: fetched %d hops, want 4 (the URL and 3 redirects)", fetched)
		}
	}
}

func TestFollowSlowServer(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.Timeout = 300 * time.Millisecond })
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	e.mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	e.mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		for {
			if _, err := w.Write([]byte("<p>x</p>")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-release:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	for _, path := range []string{"/slow", "/trickle"} {
		r := e.f.Follow(context.Background(), e.url("short.example", path))
		if r.Outcome != OutcomeUnfinished {
			t.Errorf("%s: outcome %s (%s), want unfinished", path, r.Outcome, r.Detail)
		}
		// Unknown is not cached.
		if e.f.cache.Len() != 0 {
			t.Errorf("%s: an unfinished result was cached", path)
		}
	}
	// The message budget (the caller's ctx) ends the wait as well.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if r := e.f.Follow(ctx, e.url("landing.example", "/slow")); r.Outcome != OutcomeUnfinished {
		t.Errorf("message budget: outcome %s, want unfinished", r.Outcome)
	}
}

func TestFollowHugeBody(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.MaxBody = 64 << 10 })
	var written atomic.Int64
	e.mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		chunk := bytes.Repeat([]byte("<p>free money for you today </p>\n"), 1000)
		for i := 0; i < 1000; i++ { // ~33 MB unless the client hangs up
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	r := e.f.Follow(context.Background(), e.url("short.example", "/huge"))
	if r.Outcome != OutcomeLanded || !r.Truncated {
		t.Fatalf("outcome %s truncated %v, want landed and truncated", r.Outcome, r.Truncated)
	}
	if r.Fingerprint.IsZero() {
		t.Error("the capped body was not fingerprinted")
	}
}

func TestFollowForbidden(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.redirect("/metadata", "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	e.redirect("/mapped", "http://[::ffff:127.0.0.1]:"+e.port+"/", http.StatusFound)
	e.redirect("/nat64", "http://[64:ff9b::7f00:1]:"+e.port+"/", http.StatusFound)
	e.redirect("/internal", e.url("internal.example", "/"), http.StatusFound)
	e.redirect("/mixed", e.url("mixed.example", "/"), http.StatusFound)
	e.redirect("/port", "http://landing.example:6379/", http.StatusFound)
	e.redirect("/decimal", "http://2852039166/", http.StatusFound) // 169.254.169.254
	tests := []struct {
		path, want string
	}{
		{"/metadata", "link-local"},
		{"/mapped", "IPv4-mapped loopback"},
		{"/nat64", "NAT64 loopback"},
		{"/internal", "private"},
		{"/mixed", "private"},
		{"/port", "port not allowed"},
		{"/decimal", "link-local"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			before := len(e.dialed())
			r := e.f.Follow(context.Background(), e.url("short.example", tt.path))
			if r.Outcome != OutcomeForbidden || !strings.Contains(r.Detail, tt.want) {
				t.Fatalf("outcome %s (%s), want forbidden: %s", r.Outcome, r.Detail, tt.want)
			}
			if len(r.Hops) != 2 || r.Hops[1].Status != 0 {
				t.Errorf("chain %s: want the redirect and the unfetched forbidden hop", r.Chain())
			}
			// Exactly one connection: the first hop. None to the target.
			if got := e.dialed()[before:]; len(got) != 1 || got[0] != "127.0.0.1:"+e.port {
				t.Errorf("dials %v, want only 127.0.0.1:%s (the allowed first hop)", got, e.port)
			}
		})
	}
	// Refused before anything is sent, even as the first URL.
	for _, u := range []string{"http://169.254.169.254/", "http://[::ffff:127.0.0.1]:" + e.port + "/", "http://10.1.1.1/", "http://[fe80::1]/", "http://internal.example/"} {
		before := len(e.dialed())
		if r := e.f.Follow(context.Background(), u); r.Outcome != OutcomeForbidden {
			t.Errorf("%s: outcome %s, want forbidden", u, r.Outcome)
		}
		if n := len(e.dialed()) - before; n != 0 {
			t.Errorf("%s: %d dials, want none", u, n)
		}
	}
}

func TestFollowDownloads(t *testing.T) {
	pe := make([]byte, 512)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	e := newEnv(t, nil, nil)
	e.mux.HandleFunc("/invoice", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="invoice.pdf"`)
		w.Write(pe)
	})
	e.page("/doc", "application/zip", "PK\x03\x04\x14\x00\x00\x00word/vbaProject.bin....")
	e.page("/zip", "application/octet-stream", "PK\x03\x04\x14\x00\x00\x00invoice.pdf.exe")
	e.mux.HandleFunc("/js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="scan.js"`)
		w.Write([]byte("var s = new ActiveXObject('WScript.Shell');"))
	})
	tests := []struct {
		path string
		want Kind
	}{
		{"/invoice", KindExecutable},
		{"/doc", KindMacroDoc},
		{"/zip", KindArchive},
		{"/js", KindScript},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := e.f.Follow(context.Background(), e.url("short.example", tt.path))
			if r.Outcome != OutcomeLanded || r.Sniffed.Kind != tt.want {
				t.Errorf("outcome %s kind %s (%+v), want landed %s", r.Outcome, r.Sniffed.Kind, r.Sniffed, tt.want)
			}
		})
	}
}

func TestFollowSamePageNewDomain(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.mux.HandleFunc("/kit", func(w http.ResponseWriter, r *http.Request) {
		// The kit names its own host and a per-victim id.
		host, _, _ := net.SplitHostPort(r.Host)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<html><body><h2>%s secure portal</h2>%s<p>Case id %d</p></body></html>`,
			host, loginPage, time.Now().UnixNano())
	})
	old := e.f.Follow(context.Background(), e.url("old-bad.example", "/kit"))
	nu := e.f.Follow(context.Background(), e.url("new-bad.example", "/kit"))
	if old.FinalDomain() == nu.FinalDomain() {
		t.Fatal("test setup: same domain")
	}
	if !old.Fingerprint.Matches(nu.Fingerprint) {
		t.Errorf("same kit on a new domain: fingerprints %+v and %+v do not match", old.Fingerprint, nu.Fingerprint)
	}
	other := PageFingerprint([]byte(`<p>Quarterly newsletter: our team shipped three new features and fixed many bugs this month.</p>`), true)
	if old.Fingerprint.Matches(other) {
		t.Error("an unrelated page matches the kit")
	}
}

func TestFollowClientRedirects(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.page("/start", "text/html", `<html><head><meta http-equiv="Refresh" content="0; URL='/js1'"></head></html>`)
	e.page("/js1", "text/html", `<html><script>window.location.href = "`+e.url("landing.example", "/js2")+`";</script></html>`)
	e.page("/js2", "text/html", `<script>
		setTimeout(function(){ location.replace('/hdr'); }, 10)</script>`)
	e.mux.HandleFunc("/hdr", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Refresh", "1;url=/end")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "moving")
	})
	e.page("/end", "text/html", "<p>the end of the chain, nothing more to see here today</p>")
	e.page("/article", "text/html", "<p>"+strings.Repeat("A long article with plenty of words to read. ", 10)+
		`</p><script>function go() { location.href = "/elsewhere"; }</script>`)
	if r := e.f.Follow(context.Background(), e.url("short.example", "/article")); r.Outcome != OutcomeLanded || len(r.Hops) != 1 {
		t.Errorf("a real page with a location assignment in a function was followed: %s", r.Chain())
	}
	r := e.f.Follow(context.Background(), e.url("short.example", "/start"))
	var vias []string
	for _, h := range r.Hops {
		vias = append(vias, string(h.Via))
	}
	if r.Outcome != OutcomeLanded || strings.Join(vias, ",") != ",refresh,script,script,refresh" {
		t.Errorf("outcome %s chain %s vias %q; want landed via refresh,script,script,refresh", r.Outcome, r.Chain(), vias)
	}
	if r.FinalDomain() != "landing.example" {
		t.Errorf("final domain %q", r.FinalDomain())
	}
}

// rebinder answers the first A query with one address and every later one
// with another, the way a rebinding attacker's nameserver does.
type rebinder struct {
	first, later netip.Addr
	asked        atomic.Int64
}

func (q *rebinder) Lookup(ctx context.Context, name string, qtype uint16) (dnsrep.Answer, error) {
	a := dnsrep.Answer{Name: dns.CanonicalName(name), Qtype: qtype, Canonical: dns.CanonicalName(name)}
	if qtype != dns.TypeA {
		a.Status = dnsrep.NoData
		return a, nil
	}
	ip := q.later
	if q.asked.Add(1) == 1 {
		ip = q.first
	}
	a.RRs = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: a.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: ip.AsSlice()}}
	return a, nil
}

func TestFollowRebinding(t *testing.T) {
	q := &rebinder{first: netip.MustParseAddr("127.0.0.1"), later: netip.MustParseAddr("10.0.0.1")}
	e := newEnv(t, q, nil)
	e.page("/", "text/html", "<p>hello from the first answer, which is the vetted address we connect to</p>")
	r := e.f.Follow(context.Background(), e.url("rebind.example", "/"))
	if r.Outcome != OutcomeLanded {
		t.Fatalf("outcome %s (%s), want landed on the vetted address", r.Outcome, r.Detail)
	}
	if n := q.asked.Load(); n != 1 {
		t.Errorf("A asked %d times, want once: the transport must not resolve again", n)
	}
	if got := e.dialed(); len(got) != 1 || got[0] != "127.0.0.1:"+e.port {
		t.Errorf("dials %v, want the vetted 127.0.0.1:%s only", got, e.port)
	}
	// The next lookup answers the private address: refused, not dialled.
	e2 := newEnv(t, q, func(o *Options) { o.CacheTTL = -1 })
	if r := e2.f.Follow(context.Background(), e2.url("rebind.example", "/")); r.Outcome != OutcomeForbidden {
		t.Errorf("second resolution: outcome %s, want forbidden", r.Outcome)
	}
	if got := e2.dialed(); len(got) != 0 {
		t.Errorf("dials %v after a private answer, want none", got)
	}
}

func TestFollowNoCredentials(t *testing.T) {
	e := newEnv(t, nil, nil)
	var leaked atomic.Value
	e.mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "secret", Path: "/"})
		http.Redirect(w, r, "/check", http.StatusFound)
	})
	e.mux.HandleFunc("/check", func(w http.ResponseWriter, r *http.Request) {
		if c := r.Header.Get("Cookie"); c != "" {
			leaked.Store("cookie " + c)
		}
		if a := r.Header.Get("Authorization"); a != "" {
			leaked.Store("authorization " + a)
		}
		if ua := r.UserAgent(); ua != DefaultUserAgent {
			leaked.Store("user agent " + ua)
		}
		fmt.Fprint(w, "<p>ok</p>")
	})
	r := e.f.Follow(context.Background(), "http://user:pass@short.example:"+e.port+"/set")
	if r.Outcome != OutcomeLanded {
		t.Fatalf("outcome %s (%s)", r.Outcome, r.Detail)
	}
	if v := leaked.Load(); v != nil {
		t.Errorf("request carried %v", v)
	}
	if strings.Contains(r.Hops[0].URL, "pass") {
		t.Errorf("credentials kept in the hop URL %q", r.Hops[0].URL)
	}
}

func TestFollowFailures(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.redirect("/ftp", "ftp://landing.example/x", http.StatusFound)
	e.redirect("/js", "javascript:alert(1)", http.StatusFound)
	for _, u := range []string{
		e.url("short.example", "/ftp"),
		e.url("short.example", "/js"),
		e.url("nxdomain.example", "/"),
		"mailto:someone@example.com",
		"http://",
	} {
		if r := e.f.Follow(context.Background(), u); r.Outcome != OutcomeFailed {
			t.Errorf("%s: outcome %s (%s), want failed", u, r.Outcome, r.Detail)
		}
	}
	fake := dnstest.NewFake(t, testZone)
	fake.SetFault("short.example.", dnstest.ServFail)
	e2 := newEnv(t, fake, nil)
	if r := e2.f.Follow(context.Background(), e2.url("short.example", "/")); r.Outcome != OutcomeUnfinished {
		t.Errorf("SERVFAIL: outcome %s (%s), want unfinished", r.Outcome, r.Detail)
	}
}

type mapStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *mapStore) LoadResult(ctx context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.m[key]
	return d, ok, nil
}

func (s *mapStore) SaveResult(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = data
	return nil
}

func TestFollowCache(t *testing.T) {
	store := &mapStore{m: map[string][]byte{}}
	e := newEnv(t, nil, func(o *Options) { o.Store = store })
	gate := make(chan struct{})
	e.mux.HandleFunc("/campaign", func(w http.ResponseWriter, r *http.Request) {
		<-gate
		fmt.Fprint(w, loginPage)
	})
	u := e.url("short.example", "/campaign#frag")
	var wg sync.WaitGroup
	results := make([]Result, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.f.Follow(context.Background(), u)
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them pile up behind one fetch
	close(gate)
	wg.Wait()
	for i, r := range results {
		if r.Outcome != OutcomeLanded || !r.PasswordForm {
			t.Fatalf("result %d: %s %s", i, r.Outcome, r.Detail)
		}
	}
	if n := e.hits.Load(); n != 1 {
		t.Errorf("20 concurrent follows of one URL made %d requests, want 1", n)
	}
	if r := e.f.Follow(context.Background(), u); !r.Cached {
		t.Error("second follow not served from the cache")
	}
	// A new follower (a restart) finds the result in the store.
	e2 := newEnv(t, nil, func(o *Options) { o.Store = store })
	r := e2.f.Follow(context.Background(), u)
	if !r.Cached || r.Outcome != OutcomeLanded || !r.PasswordForm || len(r.Hops) != 1 {
		t.Errorf("from the store: %+v", r)
	}
	if e2.hits.Load() != 0 || len(e2.dialed()) != 0 {
		t.Error("a stored result was fetched again")
	}
}

func TestHostLimiter(t *testing.T) {
	l := newHostLimiter(2)
	r1, _ := l.acquire(context.Background(), "a")
	r2, _ := l.acquire(context.Background(), "a")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(ctx, "a"); err == nil {
		t.Error("third slot granted with concurrency 2")
	}
	r3, err := l.acquire(context.Background(), "b")
	if err != nil {
		t.Error("another host waits for a busy one")
	}
	r1()
	r2()
	r3()
	if len(l.slots) != 0 {
		t.Errorf("%d idle hosts kept", len(l.slots))
	}
}

// TestFollowSharedFetchLeaderGivesUp: a message whose budget ends while
// another message waits for the same URL does not make the other unfinished.
func TestFollowSharedFetchLeaderGivesUp(t *testing.T) {
	e := newEnv(t, nil, nil)
	var calls atomic.Int64
	e.mux.HandleFunc("/shared", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-r.Context().Done() // the first fetch outlives its leader's budget
			return
		}
		fmt.Fprint(w, loginPage)
	})
	u := e.url("short.example", "/shared")
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	leader := make(chan Result, 1)
	go func() { leader <- e.f.Follow(short, u) }()
	for i := 0; calls.Load() == 0 && i < 100; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if calls.Load() == 0 {
		t.Skip("the leader's request did not arrive in time on this machine")
	}
	waiter := e.f.Follow(context.Background(), u)
	if r := <-leader; r.Outcome != OutcomeUnfinished {
		t.Errorf("leader: %s, want unfinished", r.Outcome)
	}
	if waiter.Outcome != OutcomeLanded {
		t.Errorf("waiter: %s (%s), want landed", waiter.Outcome, waiter.Detail)
	}
}
