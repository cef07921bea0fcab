package dnsrep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Offline is a DNS server on 127.0.0.1 that answers every query with
// NXDOMAIN (RFC 1035 §4.1.1 RCODE 3), over UDP and TCP on one port. It is
// for replaying archived mail (vigil eval --offline): the domains of old
// mail are gone, and asking the network about them would be slow, would
// leak what is being evaluated, and would depend on today's DNS. With it,
// every DNS-based check sees "does not exist": blocklists are silent, SPF
// and DMARC find no records, DKIM no keys.
type Offline struct {
	addr     string
	udp, tcp *dns.Server
	served   sync.WaitGroup
}

// offlineSOA is the root's SOA as the offline server claims it, with a day
// of negative caching.
var offlineSOA = &dns.SOA{
	Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 86400},
	Ns:  "offline.invalid.", Mbox: "nobody.invalid.", Serial: 1,
	Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 86400,
}

// StartOffline starts the server on a free loopback port.
func StartOffline(log *slog.Logger) (*Offline, error) {
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dnsrep: offline server: %w", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dnsrep: offline server: %w", err)
	}
	o := &Offline{addr: pc.LocalAddr().String()}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNameError)
		m.Authoritative = true
		// An SOA makes the answer cacheable (RFC 2308 §5): each name is
		// asked once per run, not once per message.
		m.Ns = []dns.RR{offlineSOA}
		_ = w.WriteMsg(m)
	})
	var started sync.WaitGroup
	started.Add(2)
	o.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done}
	o.tcp = &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: started.Done}
	for _, srv := range []*dns.Server{o.udp, o.tcp} {
		o.served.Go(func() {
			defer func() {
				if r := recover(); r != nil && log != nil {
					log.Error("offline dns server panicked", "panic", fmt.Sprint(r))
				}
			}()
			if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) && log != nil {
				log.Warn("offline dns server stopped", "err", err)
			}
		})
	}
	// Serving fails only before it starts (and then NotifyStartedFunc is
	// never called): wait for both, but not forever.
	done := make(chan struct{})
	go func() { started.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		o.Close()
		return nil, errors.New("dnsrep: offline server did not start")
	}
	return o, nil
}

// Addr is the server's HOST:PORT, for dns.servers.
func (o *Offline) Addr() string { return o.addr }

// Close stops the server.
func (o *Offline) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = o.udp.ShutdownContext(ctx)
	_ = o.tcp.ShutdownContext(ctx)
	o.served.Wait()
}
