package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
)

// TestCheckAuthEndToEnd: through `vigil check --json`, a DKIM-signed
// message from a domain whose SPF, DKIM key and DMARC record are served by
// a loopback DNS server passes all three; a spoof of that domain from an
// unauthorised IP with p=reject is rejected.
func TestCheckAuthEndToEnd(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.NewServer(t, fmt.Sprintf(`
$ORIGIN example.com.
@        300 SOA ns1 hostmaster 1 3600 600 86400 60
@            NS  ns1
ns1          A   127.0.0.53
@            TXT "v=spf1 ip4:192.0.2.0/24 -all"
sel._domainkey TXT "v=DKIM1; k=ed25519; p=%s"
_dmarc       TXT "v=DMARC1; p=reject"
`, base64.StdEncoding.EncodeToString(pub)))
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("dns: {servers: [%q], timeout: 500ms}\nreputation: {path: %s}\nauth: {authserv_id: mx.test}\n", srv.Addr(), t.TempDir())), 0o644)

	msg := "From: Joe <joe@example.com>\r\nTo: ann@example.org\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <a1@example.com>\r\nSubject: lunch\r\n\r\nSee you at noon.\r\n"
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.com", Selector: "sel", Signer: priv}); err != nil {
		t.Fatal(err)
	}

	type report struct {
		Action  string `json:"action"`
		Symbols []struct {
			Name string `json:"name"`
		} `json:"symbols"`
		Auth struct {
			SPF   struct{ Result, Domain string } `json:"spf"`
			DKIM  []struct{ Result, Domain, Selector string }
			DMARC struct{ Result, Policy, Domain string } `json:"dmarc"`
		} `json:"auth"`
	}
	check := func(raw, ip string) report {
		t.Helper()
		code, out, stderr := runVigil(t, raw, "check", "--json", "--config", cfg, "--ip", ip, "--from", "bounces@example.com", "--helo", "mail.example.com")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var r report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return r
	}

	r := check(signed.String(), "192.0.2.10")
	if r.Auth.SPF.Result != "pass" || len(r.Auth.DKIM) != 1 || r.Auth.DKIM[0].Result != "pass" ||
		r.Auth.DKIM[0].Selector != "sel" || r.Auth.DMARC.Result != "pass" || r.Auth.DMARC.Policy != "reject" {
		t.Fatalf("legitimate message: %+v", r.Auth)
	}
	if r.Action != "accept" {
		t.Fatalf("legitimate message action %s, symbols %+v", r.Action, r.Symbols)
	}

	r = check(msg, "203.0.113.9")
	if r.Auth.SPF.Result != "fail" || r.Auth.DMARC.Result != "fail" || r.Action != "reject" {
		t.Fatalf("spoof: action %s auth %+v", r.Action, r.Auth)
	}
	found := false
	for _, s := range r.Symbols {
		found = found || s.Name == "DMARC_POLICY_REJECT"
	}
	if !found {
		t.Fatalf("spoof lacks DMARC_POLICY_REJECT: %+v", r.Symbols)
	}
}
