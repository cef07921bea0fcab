package dnstest

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
)

// Server is an authoritative-style DNS server on 127.0.0.1 (UDP and TCP on
// the same random port) answering from zone text. It is safe for concurrent
// use; records and faults may be changed while it runs.
type Server struct {
	data      *zoneData
	addr      string
	udp, tcp  *dns.Server
	queries   atomic.Int64
	tcpCount  atomic.Int64
	delay     atomic.Int64 // nanoseconds
	mu        sync.Mutex
	perName   map[string]int
	lastEDNS0 atomic.Bool
}

// NewServer starts a server answering from zone and registers its shutdown
// with t.Cleanup. It fails the test if the zone does not parse or the server
// cannot listen.
func NewServer(t testing.TB, zone string) *Server {
	t.Helper()
	s := &Server{data: newZoneData(), perName: map[string]int{}}
	if err := s.data.add(zone); err != nil {
		t.Fatal(err)
	}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	// UDP and TCP on the same port: retry when the TCP port is taken.
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("dnstest: listen tcp: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	var started sync.WaitGroup
	started.Add(2)
	// Started once each, also when serving fails before it starts.
	var udpOnce, tcpOnce sync.Once
	udpStarted := func() { udpOnce.Do(started.Done) }
	tcpStarted := func() { tcpOnce.Do(started.Done) }
	s.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: udpStarted}
	s.tcp = &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: tcpStarted}
	// The serving goroutines end before the cleanup returns, so they never
	// touch t after the test is over.
	var served sync.WaitGroup
	for i, srv := range []*dns.Server{s.udp, s.tcp} {
		served.Go(func() {
			defer []func(){udpStarted, tcpStarted}[i]()
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("dnstest: server panic: %v", r)
				}
			}()
			if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				t.Errorf("dnstest: serve: %v", err)
			}
		})
	}
	started.Wait()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.udp.ShutdownContext(ctx)
		s.tcp.ShutdownContext(ctx)
		served.Wait()
	})
	return s
}

// Resolver returns the real resolver pointed at the server alone, with one
// attempt per lookup, the given timeout and no cache, so that every fault
// the server injects is seen at once.
func (s *Server) Resolver(tb testing.TB, timeout time.Duration) *dnsrep.Resolver {
	tb.Helper()
	cfg := dnsrep.DefaultConfig()
	cfg.Servers = []string{s.addr}
	cfg.Timeout = timeout
	cfg.Attempts = 1
	cfg.Cache.Size = -1
	r, err := dnsrep.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// Addr returns "127.0.0.1:port", the address for both UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Add adds the records of more zone text.
func (s *Server) Add(zone string) error { return s.data.add(zone) }

// SetFault makes queries for name (any type) misbehave; NoFault clears it.
func (s *Server) SetFault(name string, f Fault) { s.data.setFault(name, f) }

// SetZoneFault makes queries for zone and every name below it misbehave
// ("." for every name: a DNS outage); NoFault clears it. A fault set on a
// name itself with SetFault takes precedence.
func (s *Server) SetZoneFault(zone string, f Fault) { s.data.setZoneFault(zone, f) }

// SetDelay delays every answer by d (0 to stop).
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Queries returns the number of queries received (UDP and TCP).
func (s *Server) Queries() int { return int(s.queries.Load()) }

// TCPQueries returns the number of queries received over TCP.
func (s *Server) TCPQueries() int { return int(s.tcpCount.Load()) }

// QueriesFor returns the number of queries received for name, any type.
func (s *Server) QueriesFor(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perName[dns.CanonicalName(name)]
}

// LastHadEDNS0 reports whether the last query carried an OPT record.
func (s *Server) LastHadEDNS0() bool { return s.lastEDNS0.Load() }

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	isTCP := strings.HasPrefix(w.LocalAddr().Network(), "tcp")
	if isTCP {
		s.tcpCount.Add(1)
	}
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	s.mu.Lock()
	s.perName[dns.CanonicalName(q.Name)]++
	s.mu.Unlock()
	opt := req.IsEdns0()
	s.lastEDNS0.Store(opt != nil)
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d)
	}

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch s.data.fault(q.Name) {
	case Timeout:
		return
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	case Refused:
		m.Rcode = dns.RcodeRefused
		w.WriteMsg(m)
		return
	case NoEDNS:
		if opt != nil {
			m.Rcode = dns.RcodeFormatError
			w.WriteMsg(m)
			return
		}
	case Truncate:
		if !isTCP {
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
	case TruncateNXDomain:
		m.Truncated = true
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
		return
	}
	m.Rcode, m.Answer, m.Ns = s.data.answer(q.Name, q.Qtype)
	size := dns.MinMsgSize
	if opt != nil {
		size = int(opt.UDPSize())
		m.SetEdns0(opt.UDPSize(), false)
	}
	if !isTCP {
		// RFC 1035 §4.2.1 / RFC 6891 §6.2.5: a UDP answer larger than
		// the client's buffer is truncated with TC set.
		m.Truncate(size)
	}
	// A write error means the client went away; nothing to do.
	_ = w.WriteMsg(m)
}
