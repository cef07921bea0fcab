package dnstest

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"github.com/vigilmail/vigil/dnsrep"
)

func TestZoneFault(t *testing.T) {
	f := NewFake(t, testZone)
	status := func(name string) dnsrep.Status {
		a, _ := f.Lookup(context.Background(), name, dns.TypeA)
		return a.Status
	}
	f.SetZoneFault("b.deep.example.org", ServFail)
	if status("a.b.deep.example.org") != dnsrep.ServFail || status("mx.example.org") != dnsrep.Success {
		t.Fatal("a zone fault must cover the names below it and nothing else")
	}
	f.SetFault("a.b.deep.example.org", NoFault)
	f.SetZoneFault(".", Timeout)
	if status("mx.example.org") != dnsrep.Timeout {
		t.Fatal(`a fault on "." covers every name`)
	}
	f.SetFault("mx.example.org", ServFail)
	if status("mx.example.org") != dnsrep.ServFail {
		t.Fatal("a fault on the name itself wins over the zone's")
	}
	f.SetFault("mx.example.org", NoFault)
	f.SetZoneFault(".", NoFault)
	f.SetZoneFault("b.deep.example.org", NoFault)
	if status("mx.example.org") != dnsrep.Success || status("a.b.deep.example.org") != dnsrep.Success {
		t.Fatal("NoFault clears zone faults")
	}
}
