package reputation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// linkMessage is a message from ip linking to domain, whose NS is ns.
func linkMessage(ip, domain, ns, nsIP, text string) *filters.Message {
	m := &filters.Message{
		Envelope: filters.Envelope{ClientIP: netip.MustParseAddr(ip)},
		Headers: []filters.Header{
			{Name: "From", Value: " offers@" + domain},
			{Name: "Subject", Value: " about " + domain},
			{Name: "Message-ID", Value: " <" + domain + "@x>"},
		},
		Body: filters.BytesBody("see http://" + domain + "/\r\n" + text + "\r\n"),
	}
	m.Facts.Content.Domains = []string{domain}
	m.Facts.Content.URLs = []filters.URL{{URL: "http://" + domain + "/", Domain: domain}}
	m.Facts.Content.Text = text
	m.Facts.Infra.Domains = []filters.DomainInfra{{Domain: domain, Status: "ok",
		NS: []filters.NSHost{{Name: ns, Addrs: []netip.Addr{netip.MustParseAddr(nsIP)}}}}}
	return m
}

func symbolMap(syms []filters.Symbol) map[string]filters.Symbol {
	out := map[string]filters.Symbol{}
	for _, s := range syms {
		out[s.Name] = s
	}
	return out
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.CacheTTL = 0
	return cfg
}

// TestNameserverTurnsBad is the point of the product: domains learned as
// spam make their nameserver bad, and a never-seen domain on that
// nameserver scores as spam through REP_NS_SPAM alone.
func TestNameserverTurnsBad(t *testing.T) {
	for name, open := range map[string]storeOpener{"bbolt": openTestBolt, "redis": openTestRedis} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			for i := 0; i < 8; i++ {
				m := linkMessage(fmt.Sprintf("198.51.100.%d", 10+i), fmt.Sprintf("pills%d.example", i),
					"ns1.bulletproof.example", "203.0.113.53", "")
				res, err := Learn(ctx, st, m, store.Spam)
				if err != nil || res.Outcome != store.Learned {
					t.Fatalf("learn %d: %+v %v", i, res, err)
				}
			}
			// Ham from a big shared host keeps its NS neutral-to-good.
			for i := 0; i < 5; i++ {
				m := linkMessage("192.0.2.80", fmt.Sprintf("club%d.example", i), "ns1.bighost.example", "203.0.113.99", "")
				if _, err := Learn(ctx, st, m, store.Ham); err != nil {
					t.Fatal(err)
				}
			}
			check := mustCheck(New(testConfig(), Deps{Store: st, Log: quietLog}))

			fresh := linkMessage("192.0.2.200", "never-seen-before.example", "ns1.bulletproof.example", "203.0.113.53", "")
			syms, err := check.Run(ctx, fresh)
			if err != nil {
				t.Fatal(err)
			}
			got := symbolMap(syms)
			ns, ok := got["REP_NS_SPAM"]
			if !ok {
				t.Fatalf("no REP_NS_SPAM for a new domain on a spam nameserver; symbols %+v", syms)
			}
			cfg := testConfig()
			if ns.Score <= 0 || ns.Score > cfg.Caps.NS {
				t.Fatalf("REP_NS_SPAM score %v, want in (0, %v]", ns.Score, cfg.Caps.NS)
			}
			if !strings.Contains(ns.Detail, "spam=8.0 ham=0.0") {
				t.Fatalf("detail %q does not carry the counts", ns.Detail)
			}
			for _, n := range []string{"REP_DOMAIN_SPAM", "REP_DOMAIN_HAM", "REP_IP_SPAM", "REP_NET_SPAM"} {
				if _, ok := got[n]; ok {
					t.Fatalf("%s for a never-seen domain and IP: %+v", n, syms)
				}
			}

			control := linkMessage("192.0.2.201", "another-new.example", "ns1.bighost.example", "203.0.113.99", "")
			syms, _ = check.Run(ctx, control)
			got = symbolMap(syms)
			if _, ok := got["REP_NS_SPAM"]; ok {
				t.Fatalf("REP_NS_SPAM for a domain on a ham nameserver: %+v", syms)
			}
			if s, ok := got["REP_NS_HAM"]; !ok || s.Score >= 0 {
				t.Fatalf("want a negative REP_NS_HAM on the ham nameserver, got %+v", syms)
			}
		})
	}
}

func TestScore(t *testing.T) {
	cfg := testConfig()
	ip := store.Key{Kind: KindIP, Value: "198.51.100.1", Weight: 1}
	dom := store.Key{Kind: KindDomain, Value: "a.example", Weight: 1}
	good := store.Key{Kind: KindDomain, Value: "good.example", Weight: 1}
	img := store.Key{Kind: KindImage, Value: strings.Repeat("a", 64), Weight: 1}
	content := store.Key{Kind: KindContent, Value: "03.0123456789abcdef", Weight: 1}
	tests := []struct {
		name   string
		keys   []store.Key
		counts []store.Counts
		want   map[string]float64 // symbol -> sign (+1/-1) and bound check
	}{
		{"below min evidence", []store.Key{dom}, []store.Counts{{Spam: 2}}, map[string]float64{}},
		{"spam domain", []store.Key{dom}, []store.Counts{{Spam: 20}}, map[string]float64{"REP_DOMAIN_SPAM": 1}},
		{"ham domain", []store.Key{dom}, []store.Counts{{Ham: 20}}, map[string]float64{"REP_DOMAIN_HAM": -1}},
		{"mixed evidence is neutral", []store.Key{dom}, []store.Counts{{Spam: 10, Ham: 9}}, map[string]float64{}},
		{"spam side wins within a family", []store.Key{dom, good}, []store.Counts{{Spam: 20}, {Ham: 100}}, map[string]float64{"REP_DOMAIN_SPAM": 1}},
		{"ip is capped smallest", []store.Key{ip}, []store.Counts{{Spam: 1e6}}, map[string]float64{"REP_IP_SPAM": 1}},
		{"pictures score apart (ScoreImages)", []store.Key{img}, []store.Counts{{Spam: 50}}, map[string]float64{}},
		{"content", []store.Key{content}, []store.Counts{{Spam: 4}}, map[string]float64{"REP_CONTENT_SPAM": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			syms := Score(cfg, tc.keys, Evidence{Counts: tc.counts})
			if len(syms) != len(tc.want) {
				t.Fatalf("symbols %+v, want %v", syms, tc.want)
			}
			for _, s := range syms {
				sign, ok := tc.want[s.Name]
				if !ok || s.Score*sign <= 0 {
					t.Fatalf("symbol %+v, want %v", s, tc.want)
				}
				kind := tc.keys[0].Kind
				for _, k := range tc.keys {
					if strings.HasPrefix(s.Detail, k.ID()) {
						kind = k.Kind
					}
				}
				if cap := cfg.Caps.of(kind); s.Score > cap || s.Score < -cap {
					t.Fatalf("%s score %v exceeds cap %v", s.Name, s.Score, cap)
				}
			}
		})
	}
	// The IP cap is the smallest: the strongest IP evidence scores below
	// the strongest evidence of any other kind.
	ipScore := Score(cfg, []store.Key{ip}, Evidence{Counts: []store.Counts{{Spam: 1e6}}})[0].Score
	for _, k := range Kinds {
		if k == KindIP || k == KindNet || k == KindImage || k == KindImageBand {
			continue // pictures: TestScoreImages
		}
		s := Score(cfg, []store.Key{{Kind: k, Value: "x", Weight: 1}}, Evidence{Counts: []store.Counts{{Spam: 1e6}}})
		if len(s) != 1 || s[0].Score < ipScore {
			t.Errorf("kind %s max score %+v below the IP's %v", k, s, ipScore)
		}
	}
}

// failingStore fails or hangs (until its context ends) on every read.
type failingStore struct {
	store.Store
	hang  bool
	reads atomic.Int64
}

func (f *failingStore) Counts(ctx context.Context, ids []string) ([]store.Counts, error) {
	f.reads.Add(1)
	if f.hang {
		<-ctx.Done()
		return nil, fmt.Errorf("%w: %w", store.ErrUnavailable, ctx.Err())
	}
	return nil, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
}

func TestCheckStoreDown(t *testing.T) {
	for _, hang := range []bool{false, true} {
		t.Run(fmt.Sprintf("hang=%v", hang), func(t *testing.T) {
			cfg := testConfig()
			cfg.Timeout = filters.Duration(50 * time.Millisecond)
			check := mustCheck(New(cfg, Deps{Store: &failingStore{hang: hang}, Log: quietLog}))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			syms, err := check.Run(ctx, linkMessage("192.0.2.1", "a.example", "ns.a.example", "192.0.2.53", ""))
			if !errors.Is(err, filters.ErrIncomplete) || !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("a down store: error %v, want filters.ErrIncomplete (fail open unless policy.fail_closed) wrapping store.ErrUnavailable", err)
			}
			if len(syms) != 1 || syms[0].Name != SymbolUnavailable || syms[0].Score != 0 {
				t.Fatalf("symbols %+v, want only %s with score 0", syms, SymbolUnavailable)
			}
			if ctx.Err() != nil {
				t.Fatal("the check waited for the outer deadline instead of reputation.timeout")
			}
			if check.Unavailable.Load() != 1 {
				t.Fatalf("Unavailable = %d", check.Unavailable.Load())
			}
		})
	}
}

type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (c *countingStore) Counts(ctx context.Context, ids []string) ([]store.Counts, error) {
	c.reads.Add(1)
	return c.Store.Counts(ctx, ids)
}

func TestCheckCache(t *testing.T) {
	base := openTestBolt(t)
	st := &countingStore{Store: base}
	cfg := DefaultConfig()
	check := mustCheck(New(cfg, Deps{Store: st, Log: quietLog}))
	m := linkMessage("192.0.2.1", "a.example", "ns.a.example", "192.0.2.53", "")
	for i := 0; i < 3; i++ {
		if _, err := check.Run(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("store read %d times for 3 identical messages within cache_ttl, want 1", n)
	}
}

// TestTwoNodesShareRedis: feedback given to node A changes node B's
// verdict for a new message that shares the learned domains' nameserver.
func TestTwoNodesShareRedis(t *testing.T) {
	cfg := redisConfig(t, testConfig())
	cfg.Timeout = filters.Duration(2 * time.Second)
	nodeA, err := store.Open(cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeA.Close()
	nodeB, err := store.Open(cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeB.Close()
	ctx := context.Background()
	checkB := mustCheck(New(cfg, Deps{Store: nodeB, Log: quietLog}))
	fresh := linkMessage("192.0.2.9", "brand-new.example", "ns1.spamhost.example", "203.0.113.7", "")
	before, err := checkB.Run(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 0 {
		t.Fatalf("node B scored before any feedback: %+v", before)
	}
	for i := 0; i < 4; i++ {
		m := linkMessage("198.51.100.1", fmt.Sprintf("spam%d.example", i), "ns1.spamhost.example", "203.0.113.7", "")
		if _, err := Learn(ctx, nodeA, m, store.Spam); err != nil {
			t.Fatal(err)
		}
	}
	after, err := checkB.Run(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := symbolMap(after)["REP_NS_SPAM"]; !ok || s.Score <= 0 {
		t.Fatalf("node B after node A's feedback: %+v, want REP_NS_SPAM", after)
	}
}
