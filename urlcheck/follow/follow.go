// Package follow follows the links of a message to where they land:
// HTTP redirects (RFC 9110 §15.4), meta refresh and trivial script
// redirects, without becoming a tool for reaching the network it runs in.
//
// Every hop's host is resolved through Vigil's resolver (never the system
// one), every address is vetted by a Guard before any connection is made,
// and the connection goes to the vetted address only: the HTTP transport
// never resolves names itself, so a name that answers differently the
// second time (DNS rebinding) gains nothing. No cookies, no credentials, a
// fixed User-Agent, TLS verified against the host name.
package follow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/lru"
	"github.com/vigilmail/vigil/urlcheck"
)

// Outcome says how following a URL ended.
type Outcome string

const (
	// OutcomeLanded: a final response that is not a redirect.
	OutcomeLanded Outcome = "landed"
	// OutcomeForbidden: a hop pointed at an address or port the Guard
	// refuses; nothing was sent to it.
	OutcomeForbidden Outcome = "forbidden"
	// OutcomeLoop: a hop pointed back at a URL already visited.
	OutcomeLoop Outcome = "loop"
	// OutcomeTooManyHops: more redirects than the hop limit.
	OutcomeTooManyHops Outcome = "too-many-hops"
	// OutcomeUnfinished: the time budget ran out, or DNS could not answer
	// for now (SERVFAIL, timeout); the answer is unknown.
	OutcomeUnfinished Outcome = "unfinished"
	// OutcomeFailed: a permanent failure: bad URL, scheme other than
	// http/https, NXDOMAIN, connection refused, TLS verification failed.
	OutcomeFailed Outcome = "failed"
)

// Hop is one URL of a redirect chain.
type Hop struct {
	URL    string `json:"url"`
	Host   string `json:"host"`
	Domain string `json:"domain,omitempty"` // registrable domain of Host
	// Addr is the vetted address connected to; invalid when the hop was
	// not fetched.
	Addr   netip.Addr `json:"addr,omitzero"`
	Status int        `json:"status,omitempty"` // HTTP status, 0 when not fetched
	Via    Via        `json:"via,omitempty"`    // how this hop was reached
}

// Result is where a URL led.
type Result struct {
	URL     string  `json:"url"`
	Hops    []Hop   `json:"hops"`
	Outcome Outcome `json:"outcome"`
	// Detail explains Outcome for anything but landed, e.g. the forbidden
	// address and its range.
	Detail string `json:"detail,omitempty"`
	// ContentType is the Content-Type header of the final response.
	ContentType string  `json:"content_type,omitempty"`
	Sniffed     Sniffed `json:"sniffed"`
	// Truncated is true when the final body exceeded the size cap (what
	// was read was still sniffed and fingerprinted).
	Truncated   bool        `json:"truncated,omitempty"`
	Fingerprint Fingerprint `json:"fingerprint,omitzero"`
	// PasswordForm is true when the final page has <input type=password>.
	PasswordForm bool      `json:"password_form,omitempty"`
	Fetched      time.Time `json:"fetched"`
	// Cached is true when the result came from the cache.
	Cached bool `json:"-"`
}

// FinalDomain is the registrable domain of the last hop.
func (r Result) FinalDomain() string {
	if len(r.Hops) == 0 {
		return ""
	}
	return r.Hops[len(r.Hops)-1].Domain
}

// Domains returns the registrable domains of the hops, in order, unique.
func (r Result) Domains() []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range r.Hops {
		if h.Domain != "" && !seen[h.Domain] {
			seen[h.Domain] = true
			out = append(out, h.Domain)
		}
	}
	return out
}

// Chain renders the hops for a symbol detail: "url -> url (status)".
func (r Result) Chain() string {
	var b strings.Builder
	for i, h := range r.Hops {
		if i > 0 {
			b.WriteString(" -> ")
		}
		b.WriteString(h.URL)
		if h.Status != 0 {
			b.WriteString(" (" + strconv.Itoa(h.Status) + ")")
		}
	}
	return b.String()
}

// LoginMismatch reports a password form on a page whose registrable domain
// is unrelated to the brand or domain named in linkText.
func (r Result) LoginMismatch(linkText string) (brand string, ok bool) {
	if !r.PasswordForm {
		return "", false
	}
	return BrandMismatch(linkText, r.FinalDomain())
}

// ResultStore persists results beyond the in-memory cache (the reputation
// store backs it in production). Keys are normalised URLs; values are
// opaque JSON. Errors are logged and otherwise ignored: persistence is an
// optimisation.
type ResultStore interface {
	LoadResult(ctx context.Context, key string) (data []byte, ok bool, err error)
	SaveResult(ctx context.Context, key string, data []byte, ttl time.Duration) error
}

// Options configure a Follower. Zero values take the documented defaults.
type Options struct {
	// Resolver answers A and AAAA for every hop. Required.
	Resolver dnsrep.Querier
	// Guard vets addresses and ports.
	Guard Guard
	// MaxHops bounds the redirects followed. Default 10.
	MaxHops int
	// Timeout bounds following one URL, all hops. Default 10s.
	Timeout time.Duration
	// MaxBody caps the bytes read of any response. Default 512 KiB.
	MaxBody int64
	// PerHostConcurrency bounds concurrent requests to one host. Default 2.
	PerHostConcurrency int
	// UserAgent is sent with every request.
	UserAgent string
	// CacheTTL is how long results are reused. Default 1h; negative
	// disables caching.
	CacheTTL time.Duration
	// CacheSize bounds the in-memory cache. Default 10000.
	CacheSize int
	// Store, when set, persists results (see ResultStore).
	Store ResultStore
	// DialContext connects to a vetted "ip:port"; default a net.Dialer.
	// Tests wrap it to count connections.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// RootCAs verifies servers; nil means the system roots.
	RootCAs *x509.CertPool
	Log     *slog.Logger
}

// DefaultUserAgent is sent unless Options.UserAgent says otherwise.
const DefaultUserAgent = "Mozilla/5.0 (compatible; Vigil-LinkCheck/1.0)"

func (o Options) withDefaults() Options {
	if o.MaxHops <= 0 {
		o.MaxHops = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 512 << 10
	}
	if o.PerHostConcurrency <= 0 {
		o.PerHostConcurrency = 2
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Hour
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.DialContext == nil {
		d := &net.Dialer{Timeout: 5 * time.Second}
		o.DialContext = d.DialContext
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Follower follows URLs. It is safe for concurrent use.
type Follower struct {
	o      Options
	client *http.Client
	hosts  *hostLimiter
	cache  *lru.Cache[string, Result]
	group  singleflight.Group
}

// New returns a Follower.
func New(o Options) (*Follower, error) {
	if o.Resolver == nil {
		return nil, errors.New("follow: no resolver")
	}
	o = o.withDefaults()
	f := &Follower{o: o, hosts: newHostLimiter(o.PerHostConcurrency), cache: lru.New[string, Result](o.CacheSize)}
	tr := &http.Transport{
		// Never a proxy from the environment: the guard must see the
		// address actually connected to.
		Proxy:                  nil,
		DialContext:            f.dialVetted,
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    5 * time.Second,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	f.client = &http.Client{
		Transport: tr,
		// Redirects are followed by Follow itself, hop by hop, each
		// through the guard.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f, nil
}

type vettedKey struct{}

// dialVetted connects to the address vetted for this request, ignoring
// the host in address: the transport must not resolve anything.
func (f *Follower) dialVetted(ctx context.Context, network, address string) (net.Conn, error) {
	ap, ok := ctx.Value(vettedKey{}).(netip.AddrPort)
	if !ok || !ap.IsValid() {
		return nil, errors.New("follow: dial without a vetted address")
	}
	if _, port, err := net.SplitHostPort(address); err != nil || port != strconv.Itoa(int(ap.Port())) {
		return nil, fmt.Errorf("follow: dial %s does not match vetted %s", address, ap)
	}
	// Re-check: nothing reaches the network without the guard's consent.
	if err := f.o.Guard.CheckAddr(ap.Addr()); err != nil {
		return nil, err
	}
	return f.o.DialContext(ctx, "tcp", ap.String())
}

// CacheKey is the normalised URL without its fragment (never sent).
func CacheKey(u urlcheck.URL) string {
	s := u.String
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Follow follows raw to where it lands, within ctx and Options.Timeout.
// It never returns an error: failures are outcomes.
func (f *Follower) Follow(ctx context.Context, raw string) Result {
	u, err := normalise(raw)
	if err != nil {
		return Result{URL: raw, Outcome: OutcomeFailed, Detail: err.Error()}
	}
	key := CacheKey(u)
	if r, ok := f.cached(ctx, key); ok {
		return r
	}
	// A waiter shares the leader's fetch, which runs under the leader's
	// context; if that ended the fetch early, the waiter tries once more
	// under its own budget.
	for attempt := 0; ; attempt++ {
		led := false
		ch := f.group.DoChan(key, func() (v any, err error) {
			led = true
			defer func() {
				if p := recover(); p != nil {
					f.o.Log.Error("follow: panic", "url", key, "panic", p, "stack", string(debug.Stack()))
					v = Result{URL: key, Outcome: OutcomeFailed, Detail: fmt.Sprintf("internal error: %v", p)}
				}
			}()
			r := f.fetch(ctx, u)
			f.remember(ctx, key, r)
			return r, nil
		})
		select {
		case res := <-ch:
			r := res.Val.(Result)
			if r.Outcome == OutcomeUnfinished && !led && attempt == 0 && ctx.Err() == nil {
				continue
			}
			return r
		case <-ctx.Done():
			return Result{URL: key, Outcome: OutcomeUnfinished, Detail: "budget: " + ctx.Err().Error()}
		}
	}
}

// normalise parses raw and drops credentials: we never send them, and
// RFC 3986 §3.2.1 deprecates them in URLs anyway.
func normalise(raw string) (urlcheck.URL, error) {
	u, err := urlcheck.Normalize(raw)
	if err != nil {
		return u, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return u, fmt.Errorf("follow: scheme %q not followed", u.Scheme)
	}
	if u.Userinfo {
		p, err := url.Parse(u.String)
		if err != nil {
			return u, fmt.Errorf("follow: %w", err)
		}
		p.User = nil
		return urlcheck.Normalize(p.String())
	}
	return u, nil
}

func (f *Follower) cached(ctx context.Context, key string) (Result, bool) {
	if f.o.CacheTTL < 0 {
		return Result{}, false
	}
	now := time.Now()
	if r, _, ok := f.cache.Get(key, now); ok {
		r.Cached = true
		return r, true
	}
	if f.o.Store == nil {
		return Result{}, false
	}
	data, ok, err := f.o.Store.LoadResult(ctx, key)
	if err != nil {
		f.o.Log.Debug("follow: load cached result", "url", key, "err", err)
		return Result{}, false
	}
	if !ok {
		return Result{}, false
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil || r.Fetched.Add(f.o.CacheTTL).Before(now) {
		return Result{}, false
	}
	f.cache.Put(key, r, r.Fetched.Add(f.o.CacheTTL))
	r.Cached = true
	return r, true
}

func (f *Follower) remember(ctx context.Context, key string, r Result) {
	if f.o.CacheTTL < 0 || r.Outcome == OutcomeUnfinished {
		// Unknown is not an answer: the next message tries again.
		return
	}
	f.cache.Put(key, r, r.Fetched.Add(f.o.CacheTTL))
	if f.o.Store == nil {
		return
	}
	data, err := json.Marshal(r)
	if err == nil {
		err = f.o.Store.SaveResult(ctx, key, data, f.o.CacheTTL)
	}
	if err != nil {
		f.o.Log.Debug("follow: save result", "url", key, "err", err)
	}
}

// maxRedirectPageWords is the most visible words a page may have for its
// script location assignment to count as a redirect.
const maxRedirectPageWords = 50

// FetchBody follows raw like Follow, through the same Guard, hop by hop,
// and returns the body of the final response as well (at most MaxBody
// bytes; Result.Truncated says when there was more). The body is returned
// only for a landed 2xx response. Neither the result nor the body is
// cached: the caller keeps what it makes of the body.
func (f *Follower) FetchBody(ctx context.Context, raw string) (Result, []byte) {
	u, err := normalise(raw)
	if err != nil {
		return Result{URL: raw, Outcome: OutcomeFailed, Detail: err.Error()}, nil
	}
	return f.walk(ctx, u)
}

// fetch walks the chain from u.
func (f *Follower) fetch(ctx context.Context, u urlcheck.URL) Result {
	r, _ := f.walk(ctx, u)
	return r
}

// walk walks the chain from u and returns the final body of a landed 2xx
// response.
func (f *Follower) walk(ctx context.Context, u urlcheck.URL) (Result, []byte) {
	ctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
	defer cancel()
	r := Result{URL: CacheKey(u), Fetched: time.Now()}
	seen := map[string]bool{}
	via := ViaStart
	for {
		key := CacheKey(u)
		hop := Hop{URL: key, Host: u.Host, Domain: u.Domain, Via: via}
		if seen[key] {
			r.Hops = append(r.Hops, hop)
			r.Outcome, r.Detail = OutcomeLoop, "back to "+key
			return r, nil
		}
		seen[key] = true
		if len(r.Hops) > f.o.MaxHops {
			r.Hops = append(r.Hops, hop)
			r.Outcome, r.Detail = OutcomeTooManyHops, fmt.Sprintf("more than %d redirects", f.o.MaxHops)
			return r, nil
		}
		ap, outcome, detail := f.vet(ctx, u)
		hop.Addr = ap.Addr()
		if outcome != "" {
			r.Hops = append(r.Hops, hop)
			r.Outcome, r.Detail = outcome, detail
			return r, nil
		}
		resp, body, truncated, err := f.get(ctx, u, ap)
		if err != nil {
			r.Hops = append(r.Hops, hop)
			r.Outcome, r.Detail = failure(ctx, err)
			return r, nil
		}
		hop.Status = resp.StatusCode
		r.Hops = append(r.Hops, hop)

		next, nextVia := "", ViaStart
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
			http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			next, nextVia = resp.Header.Get("Location"), ViaHTTP
		}
		if next == "" {
			if t := RefreshTarget(resp.Header.Get("Refresh")); t != "" {
				next, nextVia = t, ViaRefresh
			}
		}
		ctype := resp.Header.Get("Content-Type")
		isHTML := false
		if next == "" && resp.StatusCode/100 == 2 {
			mt := baseMIME(ctype)
			isHTML = mt == "text/html" || mt == "application/xhtml+xml" ||
				(mt == "" && baseMIME(http.DetectContentType(body)) == "text/html")
			if isHTML {
				next, nextVia = ClientRedirect(body)
				// A script redirect is followed on a redirect page, not on
				// a real page that assigns location in some click handler.
				if nextVia == ViaScript && len(strings.Fields(VisibleText(body))) > maxRedirectPageWords {
					next, nextVia = "", ViaStart
				}
			}
		}
		if next != "" {
			nu, err := resolveRef(key, next)
			if err != nil {
				r.Outcome, r.Detail = OutcomeFailed, fmt.Sprintf("bad redirect %q: %v", next, err)
				return r, nil
			}
			u, via = nu, nextVia
			continue
		}
		r.Outcome = OutcomeLanded
		r.ContentType = ctype
		r.Truncated = truncated
		r.Sniffed = Sniff(ctype, fileName(resp.Header.Get("Content-Disposition"), resp.Request.URL.Path), body)
		if r.Sniffed.Kind == KindPage {
			r.Fingerprint = PageFingerprint(body, isHTML || baseMIME(r.Sniffed.MIME) == "text/html")
			r.PasswordForm = hasPasswordInput(body)
		}
		if resp.StatusCode/100 != 2 {
			return r, nil
		}
		return r, body
	}
}

// resolveRef resolves a Location or refresh target against the hop it came
// from (RFC 9110 §10.2.2, RFC 3986 §5) and normalises it.
func resolveRef(base, ref string) (urlcheck.URL, error) {
	b, err := url.Parse(base)
	if err != nil {
		return urlcheck.URL{}, err
	}
	rr, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return urlcheck.URL{}, err
	}
	return normalise(b.ResolveReference(rr).String())
}

func failure(ctx context.Context, err error) (Outcome, string) {
	var fe *ForbiddenError
	switch {
	case errors.As(err, &fe):
		return OutcomeForbidden, fe.Error()
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return OutcomeUnfinished, "deadline: " + err.Error()
	}
	return OutcomeFailed, err.Error()
}

// vet resolves u's host and checks port and addresses. It returns the
// address to connect to, or the outcome that ends the chain.
func (f *Follower) vet(ctx context.Context, u urlcheck.URL) (netip.AddrPort, Outcome, string) {
	port := uint16(80)
	if u.Scheme == "https" {
		port = 443
	}
	if p, err := url.Parse(u.String); err == nil && p.Port() != "" {
		n, err := strconv.ParseUint(p.Port(), 10, 16)
		if err != nil {
			return netip.AddrPort{}, OutcomeFailed, "bad port " + p.Port()
		}
		port = uint16(n)
	}
	if err := f.o.Guard.CheckPort(port); err != nil {
		return netip.AddrPort{}, OutcomeForbidden, err.Error()
	}
	// An address literal is vetted as written: urlcheck may have unmapped
	// it, and ::ffff:127.0.0.1 must be judged as the mapped form.
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(u.Host, "["), "]")); err == nil {
		if err := f.o.Guard.CheckAddr(a); err != nil {
			return netip.AddrPortFrom(a, port), OutcomeForbidden, err.Error()
		}
		return netip.AddrPortFrom(a, port), "", ""
	}
	if u.IP.IsValid() {
		if err := f.o.Guard.CheckAddr(u.IP); err != nil {
			return netip.AddrPortFrom(u.IP, port), OutcomeForbidden, err.Error()
		}
		return netip.AddrPortFrom(u.IP, port), "", ""
	}
	var addrs []netip.Addr
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		a, err := f.o.Resolver.Lookup(ctx, u.Host, qt)
		if err != nil {
			if ctx.Err() != nil || a.Status.Temporary() {
				return netip.AddrPort{}, OutcomeUnfinished, "dns: " + err.Error()
			}
			return netip.AddrPort{}, OutcomeFailed, "dns: " + err.Error()
		}
		if a.Status == dnsrep.NXDomain {
			return netip.AddrPort{}, OutcomeFailed, "dns: " + u.Host + " NXDOMAIN"
		}
		addrs = append(addrs, a.Addrs()...)
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, OutcomeFailed, "dns: " + u.Host + " has no address"
	}
	// A name with any forbidden address is refused whole: answers that mix
	// public and internal addresses are how rebinding is staged.
	for _, a := range addrs {
		if err := f.o.Guard.CheckAddr(a); err != nil {
			return netip.AddrPortFrom(a, port), OutcomeForbidden, u.Host + ": " + err.Error()
		}
	}
	return netip.AddrPortFrom(addrs[0], port), "", ""
}

// get sends one GET to the vetted address and reads at most MaxBody bytes.
func (f *Follower) get(ctx context.Context, u urlcheck.URL, ap netip.AddrPort) (*http.Response, []byte, bool, error) {
	release, err := f.hosts.acquire(ctx, u.Host)
	if err != nil {
		return nil, nil, false, err
	}
	defer release()
	req, err := http.NewRequestWithContext(context.WithValue(ctx, vettedKey{}, ap), http.MethodGet, CacheKey(u), nil)
	if err != nil {
		return nil, nil, false, fmt.Errorf("follow: %w", err)
	}
	req.Header.Set("User-Agent", f.o.UserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 3 {
		return resp, nil, false, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.o.MaxBody+1))
	if err != nil && ctx.Err() != nil {
		return nil, nil, false, err
	}
	truncated := int64(len(body)) > f.o.MaxBody
	if truncated {
		body = body[:f.o.MaxBody]
	}
	return resp, body, truncated, nil
}
