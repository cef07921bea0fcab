package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth/internal/authtest"
	"github.com/vigilmail/vigil/filters/auth/internal/fakedns"
)

const plain = "From: Joe <joe@example.com>\r\nTo: a@example.org\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nHello.\r\nSecond line.\r\n"

func loadKeys(t *testing.T) (dir string, rsaKey crypto.Signer, edKey ed25519.PrivateKey) {
	dir = authtest.TestdataDir(t, "dkim-dkimpy")
	pb, err := os.ReadFile(filepath.Join(dir, "test.private"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pb)
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := os.ReadFile(filepath.Join(dir, "ed25519test.key"))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(eb)))
	if err != nil {
		t.Fatal(err)
	}
	return dir, k, ed25519.NewKeyFromSeed(seed)
}

func sign(t *testing.T, msg string, o *msgdkim.SignOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := msgdkim.Sign(&b, strings.NewReader(msg), o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func txtFile(t *testing.T, dir, f string) string {
	b, err := os.ReadFile(filepath.Join(dir, f))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestVerify(t *testing.T) {
	dir, rsaKey, edKey := loadKeys(t)
	z := fakedns.New()
	z.AddTXT("good._domainkey.example.com", txtFile(t, dir, "test.txt"))
	z.AddTXT("nok._domainkey.example.com", txtFile(t, dir, "test2.txt"))
	z.AddTXT("badk._domainkey.example.com", txtFile(t, dir, "badk.txt"))
	z.AddTXT("badversion._domainkey.example.com", txtFile(t, dir, "badversion.txt"))
	z.AddTXT("badkey._domainkey.example.com", txtFile(t, dir, "test_bad.txt"))
	z.AddTXT("tlsrpt._domainkey.example.com", txtFile(t, dir, "test_tlsrpt.txt"))
	z.AddTXT("ed._domainkey.example.com", "v=DKIM1; k=ed25519; "+txtFile(t, dir, "ed25519test.dns")[len("k=ed25519; "):])
	z.AddTXT("garbage._domainkey.example.com", "\x00\xff;;==;p")
	z.AddTXT("two._domainkey.example.com", txtFile(t, dir, "test.txt"), txtFile(t, dir, "test.txt"))
	z.Fail["slow._domainkey.example.com"] = fakedns.Timeout
	z.Fail["broken._domainkey.example.com"] = fakedns.ServFail

	rsa := func(sel string) *msgdkim.SignOptions {
		return &msgdkim.SignOptions{Domain: "example.com", Selector: sel, Signer: rsaKey, HeaderKeys: []string{"From", "To", "Subject", "Date"}}
	}
	good := sign(t, plain, rsa("good"))
	tampered := strings.Replace(good, "Hello.", "Hello!", 1)
	edSigned := sign(t, plain, &msgdkim.SignOptions{Domain: "EXAMPLE.com", Selector: "ed", Signer: edKey})
	bothSigned := sign(t, good, &msgdkim.SignOptions{Domain: "example.com", Selector: "ed", Signer: edKey})
	// Relaxed canonicalisation survives header rewrapping.
	relaxed := sign(t, plain, &msgdkim.SignOptions{Domain: "example.com", Selector: "good", Signer: rsaKey,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed, BodyCanonicalization: msgdkim.CanonicalizationRelaxed})
	relaxed = strings.Replace(relaxed, "Subject: hi", "Subject:   hi ", 1)
	sigLine := good[:strings.Index(good, "\r\nFrom: Joe")+2]
	withL := strings.Replace(good, "; s=good;", "; l=5; s=good;", 1)

	tests := []struct {
		name string
		msg  string
		want []Result // per-signature results
		all  Result
	}{
		{"rsa-sha256 pass", good, []Result{"pass"}, Pass},
		{"relaxed pass", relaxed, []Result{"pass"}, Pass},
		{"ed25519 pass, d= case-insensitive", edSigned, []Result{"pass"}, Pass},
		{"two signatures", bothSigned, []Result{"pass", "pass"}, Pass},
		{"body modified", tampered, []Result{"fail"}, Fail},
		{"key without k=", sign(t, plain, rsa("nok")), []Result{"pass"}, Pass},
		{"key k=ed25519-sha256", sign(t, plain, rsa("badk")), []Result{"permerror"}, PermError},
		{"key bad version", sign(t, plain, rsa("badversion")), []Result{"permerror"}, PermError},
		{"key truncated", sign(t, plain, rsa("badkey")), []Result{"permerror"}, PermError},
		{"key for another service", sign(t, plain, rsa("tlsrpt")), []Result{"permerror"}, PermError},
		{"garbage key record", sign(t, plain, rsa("garbage")), []Result{"permerror"}, PermError},
		{"two key records", sign(t, plain, rsa("two")), []Result{"permerror"}, PermError},
		{"no key", sign(t, plain, rsa("missing")), []Result{"permerror"}, PermError},
		{"key lookup timeout", sign(t, plain, rsa("slow")), []Result{"temperror"}, TempError},
		{"key lookup servfail", sign(t, plain, rsa("broken")), []Result{"temperror"}, TempError},
		{"malformed tags", "DKIM-Signature: v=1; a=rsa-sha256; garbage\r\n" + plain, []Result{"permerror"}, PermError},
		{"missing required tags", "DKIM-Signature: v=1; d=example.com; s=good\r\n" + plain, []Result{"permerror"}, PermError},
		{"duplicate tag", "DKIM-Signature: v=1; d=example.com; d=example.net; s=good\r\n" + plain, []Result{"permerror"}, PermError},
		{"oversized", "DKIM-Signature: v=1; d=example.com; s=good; z=" + strings.Repeat("a", MaxHeaderSize) + "\r\n" + plain, []Result{"permerror"}, PermError},
		{"duplicated signature header", sigLine + good, []Result{"pass", "permerror"}, Pass},
		{"l= is reported and refused like the library does", withL, []Result{"fail"}, Fail},
		{"unsigned", plain, nil, None},
		{"d= in upper case with i= (library gap, verified by the fallback)", sign(t, plain, &msgdkim.SignOptions{
			Domain: "EXAMPLE.COM", Selector: "good", Signer: rsaKey, Identifier: "joe@mail.example.com"}), []Result{"pass"}, Pass},
		{"i= outside d= stays permerror", sign(t, plain, &msgdkim.SignOptions{
			Domain: "EXAMPLE.COM", Selector: "good", Signer: rsaKey, Identifier: "joe@example.org"}), []Result{"permerror"}, PermError},
		{"i= quoted-printable (RFC 6376 §2.11)", sign(t, plain, &msgdkim.SignOptions{
			Domain: "example.com", Selector: "good", Signer: rsaKey, Identifier: "joe@ex=61mple.com"}), []Result{"pass"}, Pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := authtest.ParseMessage([]byte(tc.msg))
			syms, err := must(New(DefaultConfig(), Deps{Resolver: z})).Run(context.Background(), m)
			res := m.Facts.Auth.DKIM
			temp := false
			for _, r := range res {
				temp = temp || r.Result == TempError
			}
			if (err != nil) != temp || (err != nil && !errors.Is(err, filters.ErrIncomplete)) {
				t.Fatalf("error %v; want filters.ErrIncomplete exactly when a signature is temperror (%+v)", err, res)
			}
			if len(res) != len(tc.want) {
				t.Fatalf("got %+v, want %v", res, tc.want)
			}
			for i, r := range res {
				if r.Result != tc.want[i] {
					t.Errorf("signature %d: got %s (%s), want %s", i, r.Result, r.Detail, tc.want[i])
				}
			}
			if len(syms) != 1 || syms[0].Name != Symbols[tc.all] {
				t.Errorf("symbols %+v, want %s", syms, Symbols[tc.all])
			}
		})
	}

	t.Run("report fields", func(t *testing.T) {
		m := authtest.ParseMessage([]byte(withL))
		res := Verify(context.Background(), z, m, 5)
		if len(res) != 1 || res[0].Domain != "example.com" || res[0].Selector != "good" || res[0].Algorithm != "rsa-sha256" || res[0].BodyLength != 5 {
			t.Fatalf("got %+v", res)
		}
		m = authtest.ParseMessage([]byte(edSigned))
		res = Verify(context.Background(), z, m, 5)
		if res[0].Domain != "example.com" || res[0].BodyLength != -1 || res[0].Algorithm != "ed25519-sha256" {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("cap", func(t *testing.T) {
		msg := good
		for range 6 {
			msg = sigLine + msg
		}
		m := authtest.ParseMessage([]byte(msg))
		res := Verify(context.Background(), z, m, 5)
		if len(res) != 6 {
			t.Fatalf("got %d results: %+v", len(res), res)
		}
		for i, r := range res {
			want := PermError // byte-identical duplicates of the first
			switch {
			case i == 0:
				want = Pass
			case i == 5:
				want = Neutral // the two over the cap, summarised, not verified
			}
			if r.Result != want {
				t.Errorf("entry %d: got %s (%s), want %s", i, r.Result, r.Detail, want)
			}
		}
		if !strings.Contains(res[5].Detail, "2 more signatures") {
			t.Errorf("summary %q", res[5].Detail)
		}
	})
	t.Run("body over size limit", func(t *testing.T) {
		m := authtest.ParseMessage([]byte(good))
		m.Body, m.BodyTruncated = nil, true
		res := Verify(context.Background(), z, m, 5)
		if len(res) != 1 || res[0].Result != "neutral" {
			t.Fatalf("got %+v", res)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{MaxSignatures: 0}.Validate()
	if err == nil || !strings.Contains(err.Error(), "auth.dkim.max_signatures") {
		t.Fatalf("got %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=good; h=from; bh=AAAA; b=AAAA\r\n" + plain)
	f.Add("DKIM-Signature: v=1; a=ed25519-sha256; d=example.com; s=ed; l=3; h=from:from; bh=; b=\r\n" + plain)
	// Two signatures take the library's parallel path.
	f.Add("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=good; h=from; bh=AAAA; b=AAAA\r\nDKIM-Signature: v=1; a=rsa-sha256; d=Example.com; i=@x=41.example.com; s=good; c=relaxed; h=from:to; bh=AAAA; b=AAAA\r\n" + plain)
	z := fakedns.New()
	z.AddTXT("good._domainkey.example.com", "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB")
	f.Fuzz(func(t *testing.T, msg string) {
		m := authtest.ParseMessage([]byte(msg))
		for _, r := range Verify(context.Background(), z, m, 5) {
			if r.Result == "pass" {
				t.Fatalf("fuzzed message passed: %+v", r)
			}
		}
	})
}

// must is a check constructor's result in a test: the configurations
// here are valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
