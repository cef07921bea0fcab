package dnsbl

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
)

// faultyWorld is the lists' zone served by a real miekg/dns server on
// loopback, read through the real resolver without a cache.
func faultyWorld(t *testing.T) (*dnsrep.Resolver, *dnstest.Server) {
	t.Helper()
	s := dnstest.NewServer(t, zone)
	return s.Resolver(t, 150*time.Millisecond), s
}

func requiredIPList() []List {
	return []List{{Name: "IPBL", Zone: "ipbl.test", Check: KindIP, Score: 2, Required: true}}
}

// outages are the ways a DNS path can fail without the list saying
// anything: none of them may mark a list unhealthy.
var outages = []struct {
	name  string
	start func(*dnstest.Server)
	stop  func(*dnstest.Server)
}{
	{"SERVFAIL", func(s *dnstest.Server) { s.SetZoneFault(".", dnstest.ServFail) }, func(s *dnstest.Server) { s.SetZoneFault(".", dnstest.NoFault) }},
	{"timeout", func(s *dnstest.Server) { s.SetZoneFault(".", dnstest.Timeout) }, func(s *dnstest.Server) { s.SetZoneFault(".", dnstest.NoFault) }},
	{"slow answers", func(s *dnstest.Server) { s.SetDelay(400 * time.Millisecond) }, func(s *dnstest.Server) { s.SetDelay(0) }},
	{"REFUSED by the resolver", func(s *dnstest.Server) { s.SetZoneFault(".", dnstest.Refused) }, func(s *dnstest.Server) { s.SetZoneFault(".", dnstest.NoFault) }},
	{"TC over TCP", func(s *dnstest.Server) { s.SetZoneFault(".", dnstest.TruncateNXDomain) }, func(s *dnstest.Server) { s.SetZoneFault(".", dnstest.NoFault) }},
}

// TestProbeDuringOutageKeepsListsOn: a health probe that gets no answer
// leaves the list as it was. Before, one probe during an outage switched
// the list off until the next probe (10 minutes), so a required list
// stopped tempfailing and the daemon accepted what `vigil check` refused.
func TestProbeDuringOutageKeepsListsOn(t *testing.T) {
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			r, s := faultyWorld(t)
			c, err := New(Config{Lists: requiredIPList(), Budgets: DefaultBudgets()}, Deps{Resolver: r, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if h := c.Probe(context.Background())[0]; !h.Healthy {
				t.Fatalf("probe with DNS up: %+v", h)
			}
			o.start(s)
			h := c.Probe(context.Background())[0]
			if h.Healthy || !h.Unanswered {
				t.Fatalf("probe during the outage: %+v, want unanswered", h)
			}
			if h := c.Health()[0]; !h.Healthy {
				t.Fatalf("the outage marked the list unhealthy: %+v", h)
			}
			syms, err := c.Run(context.Background(), message("192.0.2.99"))
			got := byName(syms)
			if s := got["IPBL_UNKNOWN"]; s.Force != filters.TempFail {
				t.Fatalf("required list during the outage: %v; want IPBL_UNKNOWN forcing tempfail", syms)
			}
			if _, skipped := got["IPBL_UNHEALTHY"]; skipped {
				t.Fatal("the list was skipped as unhealthy")
			}
			if !errors.Is(err, filters.ErrIncomplete) {
				t.Fatalf("error %v, want filters.ErrIncomplete (policy.fail_closed: [dnsbl] tempfails on it)", err)
			}
			o.stop(s)
			syms, err = c.Run(context.Background(), message("192.0.2.99"))
			if err != nil || byName(syms)["IPBL"].Score != 2 {
				t.Fatalf("after the outage: %v, %v; want the listing back", syms, err)
			}
		})
	}
}

// TestProbeProofMarksUnhealthy: answers that prove the list refuses or lies
// do mark it unhealthy: a refusal code, a listed test point missing, a clean
// test point listed.
func TestProbeProofMarksUnhealthy(t *testing.T) {
	r, s := faultyWorld(t)
	if err := s.Add("$ORIGIN everything.test.\n* 60 A 127.0.0.2\n"); err != nil {
		t.Fatal(err)
	}
	ls := []List{
		{Name: "REFUSING", Zone: "refusing.test", Check: KindIP, TestPoint: "192.0.2.1"},
		{Name: "EMPTY", Zone: "empty.test", Check: KindIP},
		{Name: "EVERYTHING", Zone: "everything.test", Check: KindIP},
	}
	c, err := New(Config{Lists: ls, Budgets: DefaultBudgets()}, Deps{Resolver: r, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range c.Probe(context.Background()) {
		if h.Healthy || h.Unanswered {
			t.Errorf("%s: %+v, want unhealthy on the list's own answer", ls[i].Name, h)
		}
	}
	for i, h := range c.Health() {
		if h.Healthy {
			t.Errorf("%s still healthy", ls[i].Name)
		}
	}
}

// TestProbeLoopRetriesWhenDNSReturns: after an unanswered probe the loop
// probes again within its short retry, not after dnsbl.probe_interval
// (10 minutes), so the lists' health is current soon after DNS returns.
func TestProbeLoopRetriesWhenDNSReturns(t *testing.T) {
	r, s := faultyWorld(t)
	c, err := New(Config{Lists: requiredIPList(), Budgets: DefaultBudgets()}, Deps{Resolver: r, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c.SetProbeRetry(50 * time.Millisecond)
	s.SetZoneFault(".", dnstest.ServFail)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.ProbeLoop(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for s.QueriesFor("2.0.0.127.ipbl.test") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.QueriesFor("2.0.0.127.ipbl.test"); n < 2 {
		t.Fatalf("%d probes during the outage; want the loop to retry", n)
	}
	if h := c.Health()[0]; !h.Healthy || !h.Checked.IsZero() {
		t.Fatalf("during the outage the list must stay as it was (never probed, healthy): %+v", h)
	}
	back := time.Now()
	s.SetZoneFault(".", dnstest.NoFault)
	for time.Now().Before(deadline) && c.Health()[0].Checked.Before(back) {
		time.Sleep(10 * time.Millisecond)
	}
	if h := c.Health()[0]; !h.Healthy || h.Checked.Before(back) {
		t.Fatalf("not probed within 10s of DNS returning: %+v", h)
	}
}
