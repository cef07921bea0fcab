package dkimsig

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/vigilmail/vigil/filters"
)

// RFC 6376 §3.4.6 example.
const example = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n"

func split(t *testing.T, raw string) ([]filters.Header, string) {
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	var hs []filters.Header
	for _, l := range strings.Split(head, "\r\n") {
		if l[0] == ' ' || l[0] == '\t' {
			hs[len(hs)-1].Value += "\r\n" + l
			continue
		}
		n, v, _ := strings.Cut(l, ":")
		hs = append(hs, filters.Header{Name: n, Value: v})
	}
	return hs, body
}

func canonBody(t *testing.T, c Canonicalization, body string) string {
	var b bytes.Buffer
	w := NewBodyWriter(c, &b)
	// Write in small pieces to exercise line buffering across writes.
	for i := 0; i < len(body); i += 3 {
		if _, err := w.Write([]byte(body[i:min(i+3, len(body))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRFC6376Example(t *testing.T) {
	hs, body := split(t, example)
	var relaxed, simple string
	for _, h := range hs {
		relaxed += CanonicalHeader(Relaxed, h.Name, h.Value)
		simple += CanonicalHeader(Simple, h.Name, h.Value)
	}
	if want := "a:X\r\nb:Y Z\r\n"; relaxed != want {
		t.Errorf("relaxed headers %q, want %q", relaxed, want)
	}
	if want := "A: X\r\nB : Y\t\r\n\tZ  \r\n"; simple != want {
		t.Errorf("simple headers %q, want %q", simple, want)
	}
	if got, want := canonBody(t, Relaxed, body), " C\r\nD E\r\n"; got != want {
		t.Errorf("relaxed body %q, want %q", got, want)
	}
	if got, want := canonBody(t, Simple, body), " C \r\nD \t E\r\n"; got != want {
		t.Errorf("simple body %q, want %q", got, want)
	}
}

func TestBodyEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		c        Canonicalization
		in, want string
	}{
		{Simple, "", "\r\n"},
		{Relaxed, "", ""},
		{Simple, "\r\n\r\n", "\r\n"},
		{Relaxed, " \r\n\t\r\n", ""},
		{Simple, "no final crlf", "no final crlf\r\n"},
		{Relaxed, "a  b \t", "a b\r\n"},
		{Simple, "a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n"},
	} {
		if got := canonBody(t, tc.c, tc.in); got != tc.want {
			t.Errorf("%s %q: got %q, want %q", tc.c, tc.in, got, tc.want)
		}
	}
}

// TestAgainstGoMsgauth verifies signatures made by go-msgauth with our
// canonicalisation, header selection and digest code, for every c= pair.
func TestAgainstGoMsgauth(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	msg := "From: a@example.com\r\nTo:  b@example.org \r\nSubject: folded\r\n\tsubject  here\r\nTo: second@example.org\r\n\r\nBody  with  spaces \r\n\r\nand\ttabs\r\n\r\n\r\n"
	for _, hc := range []msgdkim.Canonicalization{msgdkim.CanonicalizationSimple, msgdkim.CanonicalizationRelaxed} {
		for _, bc := range []msgdkim.Canonicalization{msgdkim.CanonicalizationSimple, msgdkim.CanonicalizationRelaxed} {
			t.Run(string(hc)+"/"+string(bc), func(t *testing.T) {
				var out bytes.Buffer
				err := msgdkim.Sign(&out, strings.NewReader(msg), &msgdkim.SignOptions{
					Domain: "example.com", Selector: "s", Signer: priv,
					HeaderCanonicalization: hc, BodyCanonicalization: bc,
					HeaderKeys: []string{"From", "To", "To", "To", "Subject"},
				})
				if err != nil {
					t.Fatal(err)
				}
				hs, body := split(t, out.String())
				sig := hs[0]
				tags, err := ParseTags(sig.Value)
				if err != nil {
					t.Fatal(err)
				}
				hcan, bcan, ok := ParseCanonicalization(tags["c"], true)
				if !ok {
					t.Fatalf("c=%q", tags["c"])
				}
				bh, err := BodyDigest(bcan, strings.NewReader(body), -1)
				if err != nil {
					t.Fatal(err)
				}
				if base64.StdEncoding.EncodeToString(bh) != StripFWS(tags["bh"]) {
					t.Fatalf("body hash differs from go-msgauth's")
				}
				names := strings.Split(StripFWS(tags["h"]), ":")
				picked := PickHeaders(hs, names, func(i int) bool { return i == 0 })
				digest := HeaderDigest(hcan, hs, picked, sig)
				b, err := DecodeBase64(tags["b"])
				if err != nil {
					t.Fatal(err)
				}
				if err := (&Key{Ed25519: pub}).Verify("ed25519-sha256", digest, b); err != nil {
					t.Fatalf("our header digest does not verify go-msgauth's signature: %v", err)
				}
			})
		}
	}
}

func TestParseTags(t *testing.T) {
	tg, err := ParseTags(" v=1; a = rsa-sha256 ;\r\n\tb=ab\r\n cd; ")
	if err != nil || tg["a"] != "rsa-sha256" || tg["b"] != "ab\r\n cd" || tg["v"] != "1" {
		t.Fatalf("got %v %v", tg, err)
	}
	for _, bad := range []string{"a=1; a=2", "1a=x", "novalue", "a=1;;b=2"} {
		if _, err := ParseTagsStrict(bad); err == nil {
			t.Errorf("ParseTagsStrict(%q) accepted", bad)
		}
	}
	if _, err := ParseTagsStrict("a=1; b=2;"); err != nil {
		t.Errorf("trailing semicolon refused: %v", err)
	}
}

func TestStripSignature(t *testing.T) {
	got := StripSignature(" v=1; bh=abc; b=xyz\r\n  def; d=example.com")
	if want := " v=1; bh=abc; b=; d=example.com"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB")
	f.Add("k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	f.Fuzz(func(t *testing.T, rec string) {
		k, err := ParseKey(rec)
		if err == nil && k.RSA == nil && k.Ed25519 == nil {
			t.Fatal("key without key material")
		}
	})
}
