package follow

import (
	"errors"
	"net/netip"
	"testing"
)

func TestGuardCheckAddr(t *testing.T) {
	tests := []struct {
		addr    string
		allowed bool
	}{
		// IPv4 special purpose.
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.1.2.3", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"100.128.0.1", true},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.169.254", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"192.88.99.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.20.0.1", true},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"224.0.0.251", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"8.8.8.8", true},
		{"93.184.216.34", true},
		// IPv6 special purpose.
		{"::", false},
		{"::1", false},
		{"::127.0.0.1", false}, // IPv4-compatible
		{"::8.8.8.8", false},   // IPv4-compatible, deprecated whatever it embeds
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"64:ff9b::808:808", true},    // NAT64 of 8.8.8.8
		{"64:ff9b:1::1", false},
		{"2002:7f00:1::1", false}, // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", false},
		{"2002:808:808::1", true},
		{"2001::1", false},      // Teredo
		{"2001:db8::1", false},  // documentation
		{"3fff::1", false},      // documentation (RFC 9637)
		{"5f00::1", false},      // SRv6
		{"100::1", false},       // discard
		{"fc00::1", false},      // ULA
		{"fd12:3456::1", false}, // ULA
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"4000::1", false}, // outside 2000::/3
		{"2606:4700:4700::1111", true},
		{"2a00:1450:4001::1", true},
	}
	var g Guard
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			err := g.CheckAddr(a)
			if (err == nil) != tt.allowed {
				t.Fatalf("CheckAddr(%s) = %v, want allowed=%v", tt.addr, err, tt.allowed)
			}
			var fe *ForbiddenError
			if err != nil && (!errors.As(err, &fe) || fe.Reason == "") {
				t.Fatalf("CheckAddr(%s) error %v is not a *ForbiddenError with a reason", tt.addr, err)
			}
		})
	}
	if err := g.CheckAddr(netip.Addr{}); err == nil {
		t.Error("the invalid address is allowed")
	}
}

func TestGuardAllow(t *testing.T) {
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.9.9.9", true},
		{"fd00::1", true},
		{"fc00::1", false},
		{"10.0.0.1", false},
		// The allowlist matches the form given: mapped and translated
		// forms of an allowed IPv4 network stay forbidden.
		{"::ffff:127.0.0.1", false},
		{"64:ff9b::7f00:1", false},
		{"2002:7f00:1::1", false},
		{"::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := g.CheckAddr(netip.MustParseAddr(tt.addr))
			if (err == nil) != tt.allowed {
				t.Fatalf("CheckAddr(%s) = %v, want allowed=%v", tt.addr, err, tt.allowed)
			}
		})
	}
}

func TestGuardCheckPort(t *testing.T) {
	var g Guard
	for _, p := range []uint16{80, 443} {
		if err := g.CheckPort(p); err != nil {
			t.Errorf("default port %d refused: %v", p, err)
		}
	}
	for _, p := range []uint16{0, 22, 25, 6379, 8080} {
		if err := g.CheckPort(p); err == nil {
			t.Errorf("port %d allowed by default", p)
		}
	}
	g.Ports = []uint16{8080}
	if g.CheckPort(8080) != nil || g.CheckPort(80) == nil {
		t.Error("configured ports do not replace the defaults")
	}
}
