package dnsrep

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// PortProbe is the outcome of one query sent from one kind of source port.
type PortProbe struct {
	// Kind is "port 53", "port < 1024" or "high port".
	Kind string
	// Port is the source port used; 0 when none could be bound.
	Port int
	// Answered reports whether the server answered (any rcode).
	Answered bool
	// Rcode is the answer's rcode when Answered.
	Rcode string
	// Failure says why there was no answer: FailNeedsRoot or
	// FailCannotBind when the source port could not be had, FailTimeout
	// when the query went unanswered (a firewall dropping low source ports
	// looks like this), FailRefused or FailUnreachable. Problem is the
	// detail.
	Failure Failure
	Problem string
	RTT     time.Duration
}

// ProbeSourcePorts asks server for the root NS set from source port 53, from
// a random port below 1024 and from an OS-chosen high port, and reports which
// got answers. Some firewalls silently drop DNS from low source ports; the
// symptom is unexplained SERVFAIL from the resolver. For `vigil doctor`.
// Each probe waits at most 2s (less when ctx has an earlier deadline).
func ProbeSourcePorts(ctx context.Context, server string) ([]PortProbe, error) {
	const timeout = 2 * time.Second
	addr, err := normaliseServer(server)
	if err != nil {
		return nil, fmt.Errorf("dnsrep: probe: %w", err)
	}
	ap := netip.MustParseAddrPort(addr)
	local := netip.IPv4Unspecified()
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		local = netip.IPv6Unspecified()
	}
	if ap.Addr().IsLoopback() {
		local = ap.Addr()
	}

	var out []PortProbe
	out = append(out, probeFrom(ctx, addr, "port 53", []int{53}, local, timeout))
	low := make([]int, 5)
	for i := range low {
		low[i] = 600 + rand.IntN(1024-600) // below 1024, above most well-known services
	}
	out = append(out, probeFrom(ctx, addr, "port < 1024", low, local, timeout))
	out = append(out, probeFrom(ctx, addr, "high port", []int{0}, local, timeout))
	return out, nil
}

func probeFrom(ctx context.Context, server, kind string, ports []int, local netip.Addr, timeout time.Duration) PortProbe {
	p := PortProbe{Kind: kind}
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	m.SetEdns0(ednsSize, false)
	var err error
	for _, port := range ports {
		d := &net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, uint16(port)))}
		var conn net.Conn
		conn, err = d.DialContext(ctx, "udp", server)
		if err != nil {
			// A UDP dial binds the source port and picks the route; it
			// sends nothing. No route is the server's side of the problem,
			// a busy port only ours: try the next candidate.
			if f := TransportFailure(err); f == FailUnreachable || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
				break
			}
			continue
		}
		p.Port = conn.LocalAddr().(*net.UDPAddr).Port
		ctx, cancel := context.WithTimeout(ctx, timeout)
		c := &dns.Client{Timeout: timeout}
		resp, rtt, xerr := c.ExchangeWithConnContext(ctx, m, &dns.Conn{Conn: conn, UDPSize: ednsSize})
		cancel()
		conn.Close()
		if xerr != nil {
			p.Failure, p.Problem = TransportFailure(xerr), xerr.Error()
			if p.Failure == FailTimeout {
				p.Problem = fmt.Sprintf("no answer within %s", timeout)
			}
			return p
		}
		p.Answered, p.Rcode, p.RTT = true, dns.RcodeToString[resp.Rcode], rtt
		return p
	}
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		p.Failure, p.Problem = FailNeedsRoot, "binding a port below 1024 needs root (or CAP_NET_BIND_SERVICE)"
	case TransportFailure(err) == FailUnreachable:
		p.Failure, p.Problem = FailUnreachable, err.Error()
	case err != nil:
		p.Failure, p.Problem = FailCannotBind, err.Error()
	}
	return p
}
