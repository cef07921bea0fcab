package reputation

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// TestSkewedProvider simulates a provider whose users report ten spam
// messages for every ham message, where most domains of both classes sit
// on one big DNS host and some spam domains on three spam-only hosts. A
// new ham domain on the big host must not be tagged on its nameserver's
// reputation, a new spam domain on a spam-only host must be. The policy
// tags at 2, so that the nameserver family (cap 2.5) decides alone.
func TestSkewedProvider(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	big := [2]string{"ns1.bighost.example", "203.0.113.99"}
	spamOnly := [][2]string{{"ns1.spamdns1.example", "198.51.100.1"}, {"ns1.spamdns2.example", "198.51.100.2"}, {"ns1.spamdns3.example", "198.51.100.3"}}
	ip := 0
	next := func() string { ip++; return fmt.Sprintf("192.0.2.%d", 1+ip%250) }
	// 1,000 spam reports over 300 domains: 270 on the big host, 10 on
	// each spam-only host.
	for i := 0; i < 1000; i++ {
		d := i % 300
		host := big
		if d >= 270 {
			host = spamOnly[(d-270)/10]
		}
		m := linkMessage(next(), fmt.Sprintf("spam%d.example", d), host[0], host[1], fmt.Sprintf("offer %d", i))
		m.Headers = append(m.Headers, filters.Header{Name: "Date", Value: fmt.Sprintf(" report %d", i)})
		if _, err := Learn(ctx, st, m, store.Spam); err != nil {
			t.Fatal(err)
		}
	}
	// 100 ham reports over 60 domains, all on the big host.
	for i := 0; i < 100; i++ {
		m := linkMessage(next(), fmt.Sprintf("club%d.example", i%60), big[0], big[1], fmt.Sprintf("newsletter %d", i))
		m.Headers = append(m.Headers, filters.Header{Name: "Date", Value: fmt.Sprintf(" report %d", i)})
		if _, err := Learn(ctx, st, m, store.Ham); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	check := mustCheck(New(cfg, Deps{Store: st, Log: quietLog}))
	policy := filters.Policy{Tag: 2, Reject: 100}
	judge := func(m *filters.Message) (filters.Verdict, Evidence) {
		syms, err := check.Run(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		keys := Keys(m)
		counts, err := st.Counts(ctx, evidenceIDs(keys))
		if err != nil {
			t.Fatal(err)
		}
		return filters.Decide(syms, policy), evidenceOf(keys, counts)
	}

	ham := linkMessage("192.0.2.251", "new-club.example", big[0], big[1], "")
	v, ev := judge(ham)
	if v.Action != filters.Accept {
		t.Errorf("new ham on the big host: %s %v %+v", v.Action, v.Score, v.Symbols)
	}
	if ev.Totals.Spam != 1000 || ev.Totals.Ham != 100 {
		t.Errorf("report totals %+v, want 1000 spam and 100 ham", ev.Totals)
	}
	// Without the report totals (raw counts, the spam side winning) the
	// same evidence would tag it: that is the bias the totals remove.
	raw := Score(cfg, Keys(ham), Evidence{Counts: ev.Counts})
	if filters.Decide(raw, policy).Action != filters.Tag {
		t.Errorf("on raw counts the new ham is not tagged (%+v): the simulation does not show the bias", raw)
	}
	// The big host is shared: every domain learned behind it counts.
	for i, k := range Keys(ham) {
		if k.Kind == KindNS && ev.Tenants[i] < 300 {
			t.Errorf("big host seen behind %v domains, want 330", ev.Tenants[i])
		}
	}

	spam := linkMessage("192.0.2.252", "new-pills.example", spamOnly[1][0], spamOnly[1][1], "")
	v, _ = judge(spam)
	if v.Action != filters.Tag {
		t.Errorf("new spam on a spam-only host: %s %v %+v", v.Action, v.Score, v.Symbols)
	}
	if s := symbolMap(v.Symbols)["REP_NS_SPAM"]; s.Full != cfg.Caps.NS || s.Strength() < 0.9 {
		t.Errorf("REP_NS_SPAM %+v: want a strong lean at full weight %v", s, cfg.Caps.NS)
	}
}

// TestSharedDiscount: a key seen behind more than shared_domains domains
// leans by sqrt(shared_domains/domains).
func TestSharedDiscount(t *testing.T) {
	cfg := testConfig()
	k := store.Key{Kind: KindNS, Value: "ns.example", Weight: 1}
	c := store.Counts{Spam: 100}
	full, _ := keyScore(cfg, k, c, store.Counts{}, 10)
	shared, _ := keyScore(cfg, k, c, store.Counts{}, 20)
	if want := full * math.Sqrt(0.5); math.Abs(shared-want) > 1e-9 {
		t.Errorf("behind 20 domains: %v, want %v", shared, want)
	}
	// Too shared to lean enough: silent.
	if s, ok := keyScore(cfg, k, c, store.Counts{}, 1000); ok {
		t.Errorf("behind 1000 domains: %v", s)
	}
	// Other kinds are not discounted, however many domains.
	d := store.Key{Kind: KindDomain, Value: "d.example", Weight: 1}
	if sharedKind(d.Kind) || !sharedKind(KindNSIP) || !sharedKind(KindIP) {
		t.Error("shared kinds: want nameservers and client addresses only")
	}
	cfg.SharedDomains = 0
	if off, _ := keyScore(cfg, k, c, store.Counts{}, 400); off != full {
		t.Errorf("shared_domains 0: %v, want %v", off, full)
	}
}
