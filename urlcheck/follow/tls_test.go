package follow

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// TestFollowTLS checks that TLS is verified against the URL's host name
// although the connection goes to a vetted address: httptest's certificate
// is for example.com (and 127.0.0.1), not for landing.example.
func TestFollowTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<p>secure landing page with enough words to be fingerprinted properly</p>")
	}))
	defer srv.Close()
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	fake := dnstest.NewFake(t, testZone)
	if err := fake.Add("$ORIGIN com.\n@ 300 SOA ns1 hostmaster 1 3600 600 86400 60\nexample A 127.0.0.1\n"); err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{
		Resolver: fake,
		Guard:    Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Ports: []uint16{uint16(port)}},
		RootCAs:  pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	ok := f.Follow(context.Background(), "https://example.com:"+portStr+"/")
	if ok.Outcome != OutcomeLanded || ok.Hops[0].Status != 200 {
		t.Errorf("valid certificate: %s (%s)", ok.Outcome, ok.Detail)
	}
	bad := f.Follow(context.Background(), "https://landing.example:"+portStr+"/")
	if bad.Outcome != OutcomeFailed || !strings.Contains(bad.Detail, "certificate") {
		t.Errorf("certificate for another name: %s (%s), want failed on the certificate", bad.Outcome, bad.Detail)
	}
}
