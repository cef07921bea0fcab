package dnsrep_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

const zone = `
$ORIGIN example.org.
@        300 SOA ns1 hostmaster 1 3600 600 86400 60
@        300 NS  ns1
ns1      300 A   192.0.2.53
@         30 TXT "v=spf1 " "ip4:192.0.2.0/24 " "-all"
@            MX  10 mx
mx       300 A   192.0.2.25
mx       300 AAAA 2001:db8::25
long  172800 A   192.0.2.7
short      1 A   192.0.2.8
www      300 CNAME mx
25.2.0.192.in-addr.arpa. PTR mx.example.org.
`

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newResolver(t *testing.T, servers ...string) (*dnsrep.Resolver, *clock) {
	t.Helper()
	cfg := dnsrep.DefaultConfig()
	cfg.Servers = servers
	cfg.Timeout = 200 * time.Millisecond
	cfg.Attempts = 1
	r, err := dnsrep.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dnsrep.SetNow(r, c.now)
	return r, c
}

func TestLookupStatuses(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	r, _ := newResolver(t, s.Addr())
	ctx := context.Background()
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		status dnsrep.Status
		n      int
		ttl    time.Duration
	}{
		{"success", "mx.example.org", dns.TypeA, dnsrep.Success, 1, 300 * time.Second},
		{"cname followed", "www.example.org", dns.TypeAAAA, dnsrep.Success, 1, 300 * time.Second},
		{"nodata uses SOA minimum", "mx.example.org", dns.TypeTXT, dnsrep.NoData, 0, 60 * time.Second},
		{"nxdomain uses SOA minimum", "nope.example.org", dns.TypeA, dnsrep.NXDomain, 0, 60 * time.Second},
		{"nxdomain without SOA gets min_ttl", "example.com", dns.TypeA, dnsrep.NXDomain, 0, 5 * time.Second},
		{"ttl capped at max_ttl", "long.example.org", dns.TypeA, dnsrep.Success, 1, time.Hour},
		{"ttl raised to min_ttl", "short.example.org", dns.TypeA, dnsrep.Success, 1, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := r.Lookup(ctx, tc.qname, tc.qtype)
			if err != nil || a.Status != tc.status || len(a.RRs) != tc.n {
				t.Fatalf("Lookup = %v %d records, %v; want %v %d", a.Status, len(a.RRs), err, tc.status, tc.n)
			}
			// The second answer comes from the cache with the clamped TTL.
			a, err = r.Lookup(ctx, tc.qname, tc.qtype)
			if err != nil || !a.Cached || a.TTL != tc.ttl {
				t.Fatalf("cached: %+v, %v; want ttl %s", a, err, tc.ttl)
			}
		})
	}
	if !s.LastHadEDNS0() {
		t.Error("queries carry no EDNS0 OPT record")
	}
	st := r.Stats()
	if st.CacheHits != int64(len(tests)) || st.CacheMisses != int64(len(tests)) {
		t.Errorf("stats %+v, want %d hits and misses", st, len(tests))
	}
}

func TestStdResolver(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	r, _ := newResolver(t, s.Addr())
	ctx := context.Background()
	txt, err := r.LookupTXT(ctx, "example.org")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:192.0.2.0/24 -all" {
		t.Errorf("LookupTXT = %q, %v", txt, err)
	}
	mx, err := r.LookupMX(ctx, "example.org")
	if err != nil || len(mx) != 1 || mx[0].Host != "mx.example.org." {
		t.Errorf("LookupMX = %v, %v", mx, err)
	}
	ns, err := r.LookupNS(ctx, "example.org")
	if err != nil || len(ns) != 1 || ns[0].Host != "ns1.example.org." {
		t.Errorf("LookupNS = %v, %v", ns, err)
	}
	ips, err := r.LookupIPAddr(ctx, "mx.example.org")
	if err != nil || len(ips) != 2 {
		t.Errorf("LookupIPAddr = %v, %v", ips, err)
	}
	names, err := r.LookupAddr(ctx, "192.0.2.25")
	if err != nil || len(names) != 1 || names[0] != "mx.example.org." {
		t.Errorf("LookupAddr = %v, %v", names, err)
	}

	s.SetFault("servfail.example.org", dnstest.ServFail)
	s.SetFault("refused.example.org", dnstest.Refused)
	s.SetFault("timeout.example.org", dnstest.Timeout)
	errTests := []struct {
		name                         string
		notFound, temporary, timeout bool
	}{
		{"nope.example.org", true, false, false},
		{"ns1.example.org", true, false, false}, // NODATA
		{"servfail.example.org", false, true, false},
		{"refused.example.org", false, true, false},
		{"timeout.example.org", false, true, true},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.LookupTXT(ctx, tc.name)
			var de *net.DNSError
			if !errors.As(err, &de) {
				t.Fatalf("err %v (%T), want *net.DNSError", err, err)
			}
			if de.IsNotFound != tc.notFound || de.IsTemporary != tc.temporary || de.IsTimeout != tc.timeout {
				t.Fatalf("%#v: want notfound=%v temporary=%v timeout=%v", de, tc.notFound, tc.temporary, tc.timeout)
			}
		})
	}
	// An address lookup where A fails and AAAA is NODATA must stay temporary.
	s.SetFault("ns1.example.org", dnstest.ServFail)
	r.Flush()
	_, err = r.LookupIPAddr(ctx, "ns1.example.org")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTemporary {
		t.Errorf("LookupIPAddr with SERVFAIL = %v, want temporary", err)
	}
}

func TestServfailCachedBriefly(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	r, clk := newResolver(t, s.Addr())
	ctx := context.Background()
	s.SetFault("mx.example.org", dnstest.ServFail)
	a, err := r.Lookup(ctx, "mx.example.org", dns.TypeA)
	var le *dnsrep.LookupError
	if a.Status != dnsrep.ServFail || !errors.As(err, &le) || le.Status != dnsrep.ServFail {
		t.Fatalf("Lookup = %v, %v; want SERVFAIL and a *LookupError", a.Status, err)
	}
	s.SetFault("mx.example.org", dnstest.NoFault)
	if a, _ := r.Lookup(ctx, "mx.example.org", dns.TypeA); a.Status != dnsrep.ServFail || !a.Cached {
		t.Fatalf("within servfail_ttl: %v cached=%v, want cached SERVFAIL", a.Status, a.Cached)
	}
	clk.advance(5 * time.Second)
	if a, err := r.Lookup(ctx, "mx.example.org", dns.TypeA); a.Status != dnsrep.Success || a.Cached {
		t.Fatalf("after servfail_ttl: %v cached=%v %v, want fresh success", a.Status, a.Cached, err)
	}
}

func TestTTLExpiryAndFlush(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	r, clk := newResolver(t, s.Addr())
	ctx := context.Background()
	lookup := func() dnsrep.Answer {
		t.Helper()
		a, err := r.Lookup(ctx, "example.org", dns.TypeTXT)
		if err != nil || a.Status != dnsrep.Success {
			t.Fatalf("Lookup = %v, %v", a.Status, err)
		}
		return a
	}
	lookup()
	n := s.QueriesFor("example.org")
	clk.advance(29 * time.Second)
	if a := lookup(); !a.Cached || a.TTL != time.Second || s.QueriesFor("example.org") != n {
		t.Fatalf("at 29s of a 30s TTL: cached=%v ttl=%s queries=%d", a.Cached, a.TTL, s.QueriesFor("example.org"))
	}
	clk.advance(time.Second)
	if a := lookup(); a.Cached || s.QueriesFor("example.org") != n+1 {
		t.Fatalf("at 30s: cached=%v queries=%d, want a new query", a.Cached, s.QueriesFor("example.org"))
	}
	lookup()
	r.Lookup(ctx, "nope.example.org", dns.TypeA)
	if got := r.Flush(); got != 2 {
		t.Fatalf("Flush() = %d, want 2", got)
	}
	if a := lookup(); a.Cached || s.QueriesFor("example.org") != n+2 {
		t.Fatalf("after flush: cached=%v queries=%d", a.Cached, s.QueriesFor("example.org"))
	}
	if got := r.Flush(); got != 1 {
		t.Fatalf("second Flush() = %d, want 1", got)
	}
}

func TestCacheBounded(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	cfg := dnsrep.DefaultConfig()
	cfg.Servers = []string{s.Addr()}
	cfg.Cache.Size = 2
	r, err := dnsrep.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"mx.example.org", "ns1.example.org", "long.example.org"} {
		r.Lookup(context.Background(), n, dns.TypeA)
	}
	if e := r.Stats().CacheEntries; e != 2 {
		t.Fatalf("entries = %d, want 2", e)
	}
	// The least recently used (mx) was evicted.
	if a, _ := r.Lookup(context.Background(), "mx.example.org", dns.TypeA); a.Cached {
		t.Fatal("mx.example.org still cached")
	}
}

func TestRetryAcrossServers(t *testing.T) {
	good := dnstest.NewServer(t, zone)
	bad := dnstest.NewServer(t, zone)
	bad.SetFault("mx.example.org", dnstest.ServFail)
	dead := dnstest.NewServer(t, zone)
	dead.SetFault("mx.example.org", dnstest.Timeout)
	r, _ := newResolver(t, dead.Addr(), bad.Addr(), good.Addr())
	a, err := r.Lookup(context.Background(), "mx.example.org", dns.TypeA)
	if err != nil || a.Status != dnsrep.Success {
		t.Fatalf("Lookup = %v, %v", a.Status, err)
	}
	if dead.Queries() != 1 || bad.Queries() != 1 || good.Queries() != 1 {
		t.Fatalf("queries dead=%d bad=%d good=%d, want 1 each", dead.Queries(), bad.Queries(), good.Queries())
	}
	// All servers failing: SERVFAIL wins over timeout (a server did answer).
	good.SetFault("mx.example.org", dnstest.ServFail)
	r.Flush()
	if a, _ := r.Lookup(context.Background(), "mx.example.org", dns.TypeA); a.Status != dnsrep.ServFail {
		t.Fatalf("all failing: %v, want SERVFAIL", a.Status)
	}
}

func TestTimeout(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	s.SetFault("mx.example.org", dnstest.Timeout)
	cfg := dnsrep.DefaultConfig()
	cfg.Servers = []string{s.Addr()}
	cfg.Timeout = 50 * time.Millisecond
	cfg.Attempts = 2
	r, err := dnsrep.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.Lookup(context.Background(), "mx.example.org", dns.TypeA)
	if a.Status != dnsrep.Timeout || err == nil {
		t.Fatalf("Lookup = %v, %v; want TIMEOUT", a.Status, err)
	}
	if s.Queries() != 2 {
		t.Fatalf("queries = %d, want 2 (attempts)", s.Queries())
	}
	if r.Stats().Timeouts != 1 {
		t.Fatalf("timeouts = %d", r.Stats().Timeouts)
	}
	// A caller whose context ends first gets TIMEOUT at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if a, err := r.Lookup(ctx, "other.example.org", dns.TypeA); a.Status != dnsrep.Timeout || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v, %v", a.Status, err)
	}
}

func TestTruncationFallsBackToTCP(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	s.SetFault("mx.example.org", dnstest.Truncate)
	var b strings.Builder
	for i := range 60 {
		b.WriteString("big.example.org. TXT \"" + strings.Repeat("y", 40) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "\"\n")
	}
	if err := s.Add(b.String()); err != nil {
		t.Fatal(err)
	}
	r, _ := newResolver(t, s.Addr())
	a, err := r.Lookup(context.Background(), "mx.example.org", dns.TypeA)
	if err != nil || a.Status != dnsrep.Success || s.TCPQueries() != 1 {
		t.Fatalf("TC fault: %v, %v, tcp=%d", a.Status, err, s.TCPQueries())
	}
	// 60 TXT records exceed the 1232-byte EDNS0 buffer: truncated over UDP.
	a, err = r.Lookup(context.Background(), "big.example.org", dns.TypeTXT)
	if err != nil || len(a.RRs) != 60 || s.TCPQueries() != 2 {
		t.Fatalf("large answer: %d records, %v, tcp=%d", len(a.RRs), err, s.TCPQueries())
	}
}

func TestServerWithoutEDNS(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	s.SetFault("mx.example.org", dnstest.NoEDNS)
	r, _ := newResolver(t, s.Addr())
	a, err := r.Lookup(context.Background(), "mx.example.org", dns.TypeA)
	if err != nil || a.Status != dnsrep.Success {
		t.Fatalf("Lookup = %v, %v", a.Status, err)
	}
	if s.QueriesFor("mx.example.org") != 2 || s.LastHadEDNS0() {
		t.Fatalf("want a retry without OPT: %d queries, last with EDNS0 %v", s.QueriesFor("mx.example.org"), s.LastHadEDNS0())
	}
}

func TestInvalidName(t *testing.T) {
	r, _ := newResolver(t, "127.0.0.1:1")
	for _, name := range []string{"", "a..b", strings.Repeat("a", 64) + ".example"} {
		a, err := r.Lookup(context.Background(), name, dns.TypeA)
		if !errors.Is(err, dnsrep.ErrInvalidName) || a.Status != dnsrep.NXDomain {
			t.Errorf("Lookup(%q) = %v, %v", name, a.Status, err)
		}
		_, err = r.LookupTXT(context.Background(), name)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound || de.IsTemporary {
			t.Errorf("LookupTXT(%q) = %#v, want not found", name, err)
		}
	}
}

func TestSingleflight(t *testing.T) {
	s := dnstest.NewServer(t, zone)
	s.SetDelay(100 * time.Millisecond)
	cfg := dnsrep.DefaultConfig()
	cfg.Servers = []string{s.Addr()}
	r, err := dnsrep.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			a, err := r.Lookup(context.Background(), "mx.example.org", dns.TypeA)
			if err == nil && a.Status != dnsrep.Success {
				err = errors.New(a.Status.String())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := s.QueriesFor("mx.example.org"); q != 1 {
		t.Fatalf("20 concurrent lookups sent %d queries, want 1", q)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*dnsrep.Config)
		want   string
	}{
		{"default ok", func(*dnsrep.Config) {}, ""},
		{"bare ip ok", func(c *dnsrep.Config) { c.Servers = []string{"192.0.2.1", "[2001:db8::1]:5353"} }, ""},
		{"hostname", func(c *dnsrep.Config) { c.Servers = []string{"dns.example:53"} }, "dns.servers[0]"},
		{"bad port", func(c *dnsrep.Config) { c.Servers = []string{"127.0.0.1:99999"} }, "dns.servers[0]"},
		{"timeout", func(c *dnsrep.Config) { c.Timeout = -1 }, "dns.timeout"},
		{"attempts", func(c *dnsrep.Config) { c.Attempts = 0 }, "dns.attempts"},
		{"max below min", func(c *dnsrep.Config) { c.Cache.MaxTTL = time.Second }, "dns.cache.max_ttl: must be >= min_ttl"},
		{"min negative", func(c *dnsrep.Config) { c.Cache.MinTTL = -time.Second }, "dns.cache.min_ttl"},
		{"servfail negative", func(c *dnsrep.Config) { c.Cache.ServfailTTL = -time.Second }, "dns.cache.servfail_ttl"},
		{"size", func(c *dnsrep.Config) { c.Cache.Size = -2 }, "dns.cache.size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dnsrep.DefaultConfig()
			tc.modify(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestSystemServers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	os.WriteFile(p, []byte("search example.org\nnameserver 192.0.2.1\nnameserver 2001:db8::53\n"), 0o644)
	got := dnsrep.SystemServers(p)
	if strings.Join(got, " ") != "192.0.2.1:53 [2001:db8::53]:53" {
		t.Errorf("SystemServers = %v", got)
	}
	os.WriteFile(p, []byte("# nothing\n"), 0o644)
	if got := dnsrep.SystemServers(p); len(got) != 1 || got[0] != "127.0.0.1:53" {
		t.Errorf("empty resolv.conf: %v", got)
	}
	if got := dnsrep.SystemServers(filepath.Join(dir, "missing")); len(got) != 1 || got[0] != "127.0.0.1:53" {
		t.Errorf("missing resolv.conf: %v", got)
	}
}

func TestProbeSourcePorts(t *testing.T) {
	s := dnstest.NewServer(t, ". 300 NS a.root-servers.net.\n")
	probes, err := dnsrep.ProbeSourcePorts(context.Background(), s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 3 {
		t.Fatalf("got %d probes", len(probes))
	}
	for _, p := range probes {
		t.Logf("%+v", p)
		switch {
		case p.Answered && p.Rcode != "NOERROR":
			t.Errorf("%s: rcode %s", p.Kind, p.Rcode)
		case !p.Answered && p.Kind == "high port":
			t.Errorf("high port got no answer: %s", p.Problem)
		case !p.Answered && p.Failure != dnsrep.FailNeedsRoot && p.Failure != dnsrep.FailCannotBind:
			t.Errorf("%s: %s: %s (a loopback server always answers)", p.Kind, p.Failure, p.Problem)
		}
	}
	if _, err := dnsrep.ProbeSourcePorts(context.Background(), "not-an-ip"); err == nil {
		t.Error("ProbeSourcePorts accepted a host name")
	}
}
