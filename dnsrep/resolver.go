package dnsrep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/vigilmail/vigil/dnsrep/lru"
)

// ednsSize is the EDNS0 UDP payload size we advertise: the DNS Flag Day 2020
// recommendation, small enough to avoid IP fragmentation.
const ednsSize = 1232

// Resolver is the caching stub resolver: it asks recursive servers over UDP
// with EDNS0 (RFC 6891), retries across servers, falls back to TCP on
// truncation (RFC 7766 §5), shares concurrent identical queries, and caches
// answers within TTL bounds. It is safe for concurrent use.
type Resolver struct {
	cfg     Config
	servers []string
	cache   *lru.Cache[cacheKey, Answer] // nil when disabled
	group   singleflight.Group
	now     func() time.Time
	log     *slog.Logger

	hits, misses, sent, timeouts atomic.Int64
}

// New returns a resolver for cfg; zero fields get their defaults and an
// empty server list means /etc/resolv.conf.
func New(cfg Config) (*Resolver, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Resolver{cfg: cfg, now: time.Now, log: slog.Default()}
	servers := cfg.Servers
	if len(servers) == 0 {
		servers = SystemServers(resolvConf)
	}
	for _, s := range servers {
		n, err := normaliseServer(s)
		if err != nil {
			return nil, fmt.Errorf("dnsrep: server %q: %w", s, err)
		}
		r.servers = append(r.servers, n)
	}
	if cfg.Cache.Size > 0 {
		r.cache = lru.New[cacheKey, Answer](cfg.Cache.Size)
	}
	return r, nil
}

// SetLogger sets the logger for debug lines per upstream query.
func (r *Resolver) SetLogger(l *slog.Logger) { r.log = l }

// Servers returns the servers in use, as "ip:port".
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// Stats are the resolver's counters, for metrics
// (vigil_dns_cache_{hits,misses}_total, vigil_dns_queries_total, ...).
type Stats struct {
	CacheHits, CacheMisses int64
	CacheEntries           int
	// Queries counts messages sent upstream; Timeouts those unanswered.
	Queries, Timeouts int64
}

// Stats returns the current counters.
func (r *Resolver) Stats() Stats {
	return Stats{CacheHits: r.hits.Load(), CacheMisses: r.misses.Load(), Queries: r.sent.Load(), Timeouts: r.timeouts.Load(),
		CacheEntries: r.cache.Len()}
}

// Flush empties the cache and returns the number of entries dropped (for
// SIGHUP and `vigil` commands reaching the daemon).
func (r *Resolver) Flush() int {
	return r.cache.Flush()
}

// Lookup implements Querier. Answers (RRs included) may be shared with the
// cache and other callers: do not modify them.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (Answer, error) {
	fq, err := checkName(name)
	if err != nil {
		// A name that cannot exist in the DNS: permanent, like NXDOMAIN.
		return Answer{Name: name, Qtype: qtype, Status: NXDomain}, err
	}
	key := cacheKey{fq, qtype}
	now := r.now()
	if a, expires, ok := r.cache.Get(key, now); ok {
		// The TTL is what is left of it, as a caching resolver answers.
		a.TTL = expires.Sub(now).Truncate(time.Second)
		a.Cached = true
		r.hits.Add(1)
		return a, errorFor(a, nil)
	}
	r.misses.Add(1)
	if err := ctx.Err(); err != nil {
		a := Answer{Name: fq, Qtype: qtype, Canonical: fq, Status: Timeout}
		return a, errorFor(a, err)
	}
	// Identical concurrent questions share one upstream exchange. The
	// exchange is bounded by our own timeouts, not by the first caller's
	// context, so one impatient caller does not fail the others.
	ch := r.group.DoChan(fmt.Sprintf("%s/%d", fq, qtype), func() (v any, err error) {
		defer func() {
			if p := recover(); p != nil {
				r.log.Error("dnsrep: panic in lookup", "name", fq, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				v, err = Answer{Name: fq, Qtype: qtype, Canonical: fq, Status: ServFail}, fmt.Errorf("dnsrep: panic: %v", p)
			}
		}()
		a, xerr := r.exchange(context.WithoutCancel(ctx), fq, qtype)
		r.store(key, a)
		return a, xerr
	})
	select {
	case res := <-ch:
		a := res.Val.(Answer)
		return a, errorFor(a, res.Err)
	case <-ctx.Done():
		a := Answer{Name: fq, Qtype: qtype, Canonical: fq, Status: Timeout}
		return a, errorFor(a, ctx.Err())
	}
}

type cacheKey struct {
	name  string
	qtype uint16
}

// store caches a within the configured bounds.
func (r *Resolver) store(key cacheKey, a Answer) {
	if r.cache == nil {
		return
	}
	ttl := a.TTL
	if a.Status.Temporary() {
		// Remember "unknown" only briefly (RFC 2308 §7.1 allows up to 5
		// minutes for SERVFAIL; we keep it shorter so lists recover fast).
		ttl = r.cfg.Cache.ServfailTTL
	} else {
		ttl = max(ttl, r.cfg.Cache.MinTTL)
		ttl = min(ttl, r.cfg.Cache.MaxTTL)
	}
	if ttl <= 0 {
		return
	}
	a.TTL = ttl
	r.cache.Put(key, a, r.now().Add(ttl))
}

// exchange asks the servers in order, Attempts rounds, and returns the first
// answer that is not SERVFAIL/REFUSED (another server may know better), else
// the last such one, else Timeout.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (Answer, error) {
	var last Answer
	var haveLast bool
	var lastErr error
	// Unreachable only when no attempt got as far as waiting for an answer.
	unreachable := true
	for range r.cfg.Attempts {
		for _, server := range r.servers {
			resp, err := r.ask(ctx, server, name, qtype)
			if err != nil {
				lastErr = err
				if f := TransportFailure(err); f != FailRefused && f != FailUnreachable {
					unreachable = false
				}
				if ctx.Err() != nil {
					break
				}
				continue
			}
			a := FromMsg(name, qtype, resp)
			if r.log.Enabled(ctx, slog.LevelDebug) {
				r.log.Debug("dns lookup", "server", server, "name", name, "type", dns.TypeToString[qtype], "status", a.Status.String(), "records", len(a.RRs))
			}
			if !a.Status.Temporary() {
				return a, nil
			}
			last, haveLast = a, true
		}
	}
	if haveLast {
		return last, nil
	}
	a := Answer{Name: name, Qtype: qtype, Canonical: name, Status: Timeout, cause: lastErr}
	if unreachable && lastErr != nil {
		a.Status = Unreachable
	} else {
		r.timeouts.Add(1)
	}
	return a, lastErr
}

// ask sends one question to one server: UDP with EDNS0, then TCP when the
// answer is truncated, and without EDNS0 when the server does not speak it
// (RFC 6891 §7: FORMERR without OPT).
func (r *Resolver) ask(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(ednsSize, false)
	resp, err := r.send(ctx, "udp", server, m)
	if err != nil {
		return nil, err
	}
	if resp.Rcode == dns.RcodeFormatError && resp.IsEdns0() == nil {
		m.Extra = nil
		if resp, err = r.send(ctx, "udp", server, m); err != nil {
			return nil, err
		}
	}
	if resp.Truncated {
		// RFC 7766 §5: retry over TCP; a truncated answer is never used.
		if resp, err = r.send(ctx, "tcp", server, m); err != nil {
			return nil, err
		}
		if resp.Truncated {
			// TCP carries up to 64 KiB: a server that still sets TC
			// there is broken, and its rcode (NXDOMAIN: "not listed")
			// is as unreliable as its records. No answer from it.
			return nil, fmt.Errorf("%w from %s", errTruncatedTCP, server)
		}
	}
	return resp, nil
}

var errTruncatedTCP = errors.New("dnsrep: truncated answer over TCP")

var errMismatch = errors.New("dnsrep: answer does not match question")

func (r *Resolver) send(ctx context.Context, network, server string, m *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	c := &dns.Client{Net: network, Timeout: r.cfg.Timeout, UDPSize: ednsSize}
	r.sent.Add(1)
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("dnsrep: %s %s: %w", network, server, err)
	}
	// The ID is checked by the client; check the question too (RFC 5452
	// §9.1), case-insensitively.
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) ||
		resp.Question[0].Qtype != m.Question[0].Qtype {
		if resp.Truncated && len(resp.Question) == 0 {
			return resp, nil
		}
		return nil, fmt.Errorf("%w from %s", errMismatch, server)
	}
	return resp, nil
}

// The StdResolver face of the resolver.

// LookupTXT implements StdResolver.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return Std(r).LookupTXT(ctx, name)
}

// LookupMX implements StdResolver.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return Std(r).LookupMX(ctx, name)
}

// LookupIPAddr implements StdResolver.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return Std(r).LookupIPAddr(ctx, host)
}

// LookupAddr implements StdResolver.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return Std(r).LookupAddr(ctx, addr)
}

// LookupNS implements StdResolver.
func (r *Resolver) LookupNS(ctx context.Context, name string) ([]*net.NS, error) {
	return Std(r).LookupNS(ctx, name)
}

var (
	_ Querier     = (*Resolver)(nil)
	_ StdResolver = (*Resolver)(nil)
)
