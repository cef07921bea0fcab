package arc

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/dkimsig"
	"github.com/vigilmail/vigil/filters/auth/internal/authtest"
	"github.com/vigilmail/vigil/filters/auth/internal/fakedns"
)

const base = "From: Joe <joe@example.com>\r\nTo: list@lists.example.org\r\nSubject: hi\r\n\r\nHello.\r\n"

func testKey(t testing.TB) (*rsa.PrivateKey, string) {
	dir := authtest.TestdataDir(t, "dkim-dkimpy")
	pb, err := os.ReadFile(filepath.Join(dir, "test.private"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pb)
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := os.ReadFile(filepath.Join(dir, "test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return k, strings.TrimSpace(string(txt))
}

func sign(t testing.TB, k *rsa.PrivateKey, digest []byte) string {
	s, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(s)
}

// seal adds one ARC set the way a forwarder does (RFC 8617 §5.1): AAR,
// then AMS over the message, then AS over all sets, each prepended.
func seal(t testing.TB, m *filters.Message, k *rsa.PrivateKey, d string, aar string) {
	t.Helper()
	sets, err := collect(m.Headers)
	if err != nil {
		t.Fatal(err)
	}
	i := len(sets) + 1
	cv := "pass"
	if i == 1 {
		cv = "none"
	}
	prepend := func(name, value string) {
		m.Headers = append([]filters.Header{{Name: name, Value: value}}, m.Headers...)
	}
	prepend("ARC-Authentication-Results", fmt.Sprintf(" i=%d; %s; %s", i, d, aar))
	bh, err := dkimsig.BodyDigest(dkimsig.Relaxed, m.Body.Reader(), -1)
	if err != nil {
		t.Fatal(err)
	}
	ams := filters.Header{Name: "ARC-Message-Signature", Value: fmt.Sprintf(" i=%d; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=test;\r\n\th=from:to:subject:arc-authentication-results; bh=%s; b=",
		i, d, base64.StdEncoding.EncodeToString(bh))}
	names := []string{"from", "to", "subject", "arc-authentication-results"}
	digest := dkimsig.HeaderDigest(dkimsig.Relaxed, m.Headers, dkimsig.PickHeaders(m.Headers, names, nil), ams)
	ams.Value += sign(t, k, digest)
	prepend(ams.Name, ams.Value)
	as := filters.Header{Name: "ARC-Seal", Value: fmt.Sprintf(" i=%d; a=rsa-sha256; cv=%s; d=%s; s=test; t=12345; b=", i, cv, d)}
	m.Headers = append([]filters.Header{as}, m.Headers...)
	sets, err = collect(m.Headers)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for n := 0; n < i; n++ {
		for _, idx := range []int{sets[n].aar, sets[n].ams, sets[n].as} {
			f := m.Headers[idx]
			c := dkimsig.CanonicalHeader(dkimsig.Relaxed, f.Name, f.Value)
			if idx == 0 {
				c = strings.TrimSuffix(c, "\r\n")
			}
			io.WriteString(h, c)
		}
	}
	m.Headers[0].Value += sign(t, k, h.Sum(nil))
}

func TestValidate(t *testing.T) {
	k, txt := testKey(t)
	z := fakedns.New()
	z.AddTXT("test._domainkey.forwarder.example", txt)
	z.AddTXT("test._domainkey.lists.example.org", txt)
	z.Fail["test._domainkey.slow.example"] = fakedns.Timeout

	newMsg := func() *filters.Message { return authtest.ParseMessage([]byte(base)) }
	tests := []struct {
		name   string
		build  func() *filters.Message
		want   Result
		detail string
	}{
		{"no ARC", newMsg, None, ""},
		{"one hop", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "forwarder.example", "dmarc=pass header.from=example.com")
			return m
		}, Pass, ""},
		{"three hops", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "forwarder.example", "dmarc=pass")
			seal(t, m, k, "lists.example.org", "arc=pass")
			seal(t, m, k, "forwarder.example", "arc=pass")
			return m
		}, Pass, ""},
		{"body changed after sealing", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "forwarder.example", "dmarc=pass")
			m.Body = filters.BytesBody("Hello, changed.\r\n")
			return m
		}, Fail, "body hash"},
		{"earlier AMS broken by a later hop still passes", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "forwarder.example", "dmarc=pass")
			m.Body = filters.BytesBody("[list footer]\r\nHello.\r\n")
			seal(t, m, k, "lists.example.org", "arc=fail")
			return m
		}, Pass, ""},
		{"seal header tampered", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "forwarder.example", "dmarc=pass")
			m.Headers[0].Value = strings.Replace(m.Headers[0].Value, "t=12345", "t=12346", 1)
			return m
		}, Fail, "did not verify"},
		{"key lookup timeout", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "slow.example", "dmarc=pass")
			return m
		}, Fail, "temporary"},
		{"key missing", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "nokey.example", "dmarc=pass")
			return m
		}, Fail, "no key"},
		{"instance over 50", func() *filters.Message {
			m := newMsg()
			m.Headers = append([]filters.Header{{Name: "ARC-Seal", Value: " i=51; a=rsa-sha256; cv=pass; d=x.example; s=s; b=AAAA"}}, m.Headers...)
			return m
		}, Fail, "i="},
		{"missing set", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "forwarder.example", "dmarc=pass")
			m.Headers = append([]filters.Header{{Name: "ARC-Seal", Value: " i=3; a=rsa-sha256; cv=pass; d=x.example; s=s; b=AAAA"}}, m.Headers...)
			return m
		}, Fail, "incomplete"},
		{"body over size limit", func() *filters.Message {
			m := newMsg()
			seal(t, m, k, "forwarder.example", "dmarc=pass")
			m.Body = nil
			return m
		}, None, "body not available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.build()
			syms, err := must(New(Config{}, Deps{Resolver: z})).Run(context.Background(), m)
			got := m.Facts.Auth.ARC
			// Only a key that could not be fetched leaves the evidence
			// incomplete (policy.fail_closed then tempfails).
			if temp := strings.Contains(got.Detail, "temporary failure"); (err != nil) != temp || (err != nil && !errors.Is(err, filters.ErrIncomplete)) {
				t.Fatalf("error %v for %s (%s); want filters.ErrIncomplete exactly for a temporary key failure", err, got.Result, got.Detail)
			}
			if Result(got.Result) != tc.want || !strings.Contains(got.Detail, tc.detail) {
				t.Fatalf("got %s (%s), want %s with %q", got.Result, got.Detail, tc.want, tc.detail)
			}
			if len(syms) != 1 || syms[0].Name != Symbols[tc.want] {
				t.Fatalf("symbols %+v", syms)
			}
		})
	}
}

func TestTrustedForwarder(t *testing.T) {
	k, txt := testKey(t)
	z := fakedns.New()
	z.AddTXT("test._domainkey.forwarder.example", txt)
	z.AddTXT("test._domainkey.other.example", txt)
	tests := []struct {
		name    string
		sealer  string
		aar     string
		trusted []string
		want    bool
	}{
		{"trusted sealer saw dmarc=pass", "forwarder.example", "spf=pass smtp.mailfrom=example.com; dmarc=pass header.from=example.com", []string{"Forwarder.Example."}, true},
		{"trusted sealer saw dmarc=fail", "forwarder.example", "dmarc=fail header.from=example.com", []string{"forwarder.example"}, false},
		{"untrusted sealer", "other.example", "dmarc=pass", []string{"forwarder.example"}, false},
		{"no trusted sealers", "forwarder.example", "dmarc=pass", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := authtest.ParseMessage([]byte(base))
			seal(t, m, k, tc.sealer, tc.aar)
			c := must(New(Config{TrustedSealers: tc.trusted}, Deps{Resolver: z}))
			if _, err := c.Run(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			if m.Facts.Auth.ARC.Result != "pass" {
				t.Fatalf("chain did not pass: %+v", m.Facts.Auth.ARC)
			}
			d, ok := c.TrustedForwarder(m)
			if ok != tc.want || (ok && d != tc.sealer) {
				t.Fatalf("got %q %v, want %v", d, ok, tc.want)
			}
		})
	}
	t.Run("failed chain is never trusted", func(t *testing.T) {
		m := authtest.ParseMessage([]byte(base))
		seal(t, m, k, "forwarder.example", "dmarc=pass")
		m.Body = filters.BytesBody("changed\r\n")
		c := must(New(Config{TrustedSealers: []string{"forwarder.example"}}, Deps{Resolver: z}))
		c.Run(context.Background(), m)
		if _, ok := c.TrustedForwarder(m); ok {
			t.Fatal("trusted a failed chain")
		}
	})
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{TrustedSealers: []string{"forwarder.example"}}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{TrustedSealers: []string{"not a domain"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "auth.arc.trusted_sealers[0]") {
		t.Fatalf("got %v", err)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.org; s=dummy; b=AAAA\r\nARC-Message-Signature: i=1; a=rsa-sha256; d=example.org; s=dummy; h=from; bh=AAAA; b=AAAA\r\nARC-Authentication-Results: i=1; x; dmarc=pass\r\nFrom: a@b.c\r\n\r\nbody\r\n")
	f.Add("ARC-Seal: i=2;;\r\n\r\n")
	z := fakedns.New()
	f.Fuzz(func(t *testing.T, msg string) {
		m := authtest.ParseMessage([]byte(msg))
		if v := Validate(context.Background(), z, m); v.Result == Pass {
			t.Fatalf("fuzzed chain passed without keys: %+v", v)
		}
	})
}

// BenchmarkValidate validates a three-hop chain (one AMS, three seals).
func BenchmarkValidate(b *testing.B) {
	k, txt := testKey(b)
	z := fakedns.New()
	z.AddTXT("test._domainkey.forwarder.example", txt)
	m := authtest.ParseMessage([]byte(base))
	for range 3 {
		seal(b, m, k, "forwarder.example", "dmarc=pass")
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v := Validate(ctx, z, m); v.Result != Pass {
			b.Fatalf("%+v", v)
		}
	}
}

// must is a check constructor's result in a test: the configurations
// here are valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
