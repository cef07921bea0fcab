// Package dnsrep is Vigil's DNS layer: one caching resolver per process that
// classifies every answer, DNSBL/RHSBL lookups (RFC 5782) and the NS
// resolution of domains. It knows nothing of mail.
package dnsrep

import (
	"context"
	"net"
)

// Status classifies a DNS answer. SERVFAIL, REFUSED and timeouts are
// "unknown", never "not listed" or "clean".
type Status int

const (
	// Success: NOERROR with records of the asked type.
	Success Status = iota
	// NoData: NOERROR without records of that type (RFC 2308 §2.2).
	NoData
	// NXDomain: the name does not exist (RFC 2308 §2.1).
	NXDomain
	// ServFail: the server could not answer; temporary.
	ServFail
	// Refused: the server refused the query; temporary for our purposes.
	Refused
	// Timeout: no answer in time from any server; temporary.
	Timeout
	// Unreachable: no server could be asked: every attempt was refused
	// (nothing listens on the server's port; for UDP the ICMP port
	// unreachable of RFC 1122 §4.1.3.1) or had no route. Temporary, like a
	// timeout, but an operator fixes it elsewhere: the address, not the
	// network's patience.
	Unreachable
)

func (s Status) String() string {
	switch s {
	case Success:
		return "NOERROR"
	case NoData:
		return "NODATA"
	case NXDomain:
		return "NXDOMAIN"
	case ServFail:
		return "SERVFAIL"
	case Refused:
		return "REFUSED"
	case Timeout:
		return "TIMEOUT"
	case Unreachable:
		return "UNREACHABLE"
	}
	return "UNKNOWN"
}

// Temporary reports whether the status means "unknown, try again".
func (s Status) Temporary() bool {
	return s == ServFail || s == Refused || s == Timeout || s == Unreachable
}

// StdResolver is the net.Resolver-shaped face of the resolver, for the
// authentication libraries (blitiri.com.ar/go/spf, go-msgauth). Errors are
// *net.DNSError with IsNotFound set for NXDOMAIN and NODATA, and IsTemporary
// (and IsTimeout) set for SERVFAIL, REFUSED and timeouts.
type StdResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNS(ctx context.Context, name string) ([]*net.NS, error)
}
