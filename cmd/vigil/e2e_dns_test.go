package main

import (
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startDNSStub serves the zone data in zoneFile (RFC 1035 master format,
// optional: a missing file is an empty zone) on a loopback UDP and TCP port
// and returns "127.0.0.1:PORT". Names with records of other types answer
// NOERROR with no data; unknown names answer NXDOMAIN. Vigil is pointed at
// it so that no e2e test ever reaches a public resolver.
func startDNSStub(t testing.TB, zoneFile string) string {
	t.Helper()
	records := map[string][]dns.RR{} // lower-case owner name
	if raw, err := os.ReadFile(zoneFile); err == nil {
		zp := dns.NewZoneParser(strings.NewReader(string(raw)), ".", zoneFile)
		zp.SetDefaultTTL(300)
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			name := strings.ToLower(rr.Header().Name)
			records[name] = append(records[name], rr)
		}
		if err := zp.Err(); err != nil {
			t.Fatalf("%s: %v", zoneFile, err)
		}
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}

	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("dns stub panic: %v", r)
			}
		}()
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.Authoritative = true
		if len(req.Question) != 1 {
			resp.Rcode = dns.RcodeFormatError
			_ = w.WriteMsg(resp)
			return
		}
		q := req.Question[0]
		rrs, known := records[strings.ToLower(q.Name)]
		if !known {
			resp.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				resp.Answer = append(resp.Answer, dns.Copy(rr))
			}
		}
		_ = w.WriteMsg(resp)
	})

	// UDP and TCP on the same port; the TCP port may be taken by someone
	// else's connection, so try a few UDP ports.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if attempt == 20 {
			t.Fatalf("dns stub: no port free for both UDP and TCP: %v", err)
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	var wg sync.WaitGroup
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("dns stub panic: %v", r)
				}
			}()
			_ = srv.ActivateAndServe()
		}()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("dns stub did not start")
		}
	}
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}
