package dnsrep_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
)

// TestTransportFailure: each way a question can fail to get an answer
// keeps its own name; none of them is folded into "timeout".
func TestTransportFailure(t *testing.T) {
	op := func(op string, errno error) error {
		return fmt.Errorf("dnsrep: udp 192.0.2.1:53: %w", &net.OpError{Op: op, Net: "udp", Err: os.NewSyscallError(op, errno)})
	}
	tests := []struct {
		name string
		err  error
		want dnsrep.Failure
	}{
		{"connection refused (ICMP port unreachable)", op("read", syscall.ECONNREFUSED), dnsrep.FailRefused},
		{"network is unreachable", op("dial", syscall.ENETUNREACH), dnsrep.FailUnreachable},
		{"no route to host", op("read", syscall.EHOSTUNREACH), dnsrep.FailUnreachable},
		{"address in use", op("dial", syscall.EADDRINUSE), dnsrep.FailCannotBind},
		{"deadline", op("read", os.ErrDeadlineExceeded), dnsrep.FailTimeout},
		{"context deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), dnsrep.FailTimeout},
		{"firewall EPERM on send", op("write", syscall.EPERM), dnsrep.FailOther},
		{"something else", errors.New("boom"), dnsrep.FailOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dnsrep.TransportFailure(tt.err); got != tt.want {
				t.Errorf("TransportFailure(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestUnreachableServer: a server port where nothing listens makes the
// answer UNREACHABLE, not TIMEOUT, and the reason survives the cache.
func TestUnreachableServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	cfg := dnsrep.DefaultConfig()
	cfg.Servers = []string{addr}
	r, err := dnsrep.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, round := range []string{"fresh", "cached"} {
		a, err := r.Lookup(context.Background(), "2.0.0.127.bl.test", dns.TypeA)
		if a.Status != dnsrep.Unreachable || !a.Status.Temporary() {
			t.Errorf("%s: status %v, want UNREACHABLE (temporary)", round, a.Status)
		}
		if got := dnsrep.LookupFailure(err); got != dnsrep.FailRefused {
			t.Errorf("%s: failure %q (%v), want refused", round, got, err)
		}
		if _, lerr := dnsrep.LookupListing(context.Background(), r, "2.0.0.127.bl.test.", false); dnsrep.LookupFailure(lerr) != dnsrep.FailRefused {
			t.Errorf("%s: listing error %v does not say refused", round, lerr)
		}
	}
	if s := r.Stats(); s.Timeouts != 0 {
		t.Errorf("a refused query counted as a timeout: %+v", s)
	}
}
