package dkimsig

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// VerifyDKIM verifies the DKIM-Signature at hs[sig] (RFC 6376 §6.1) over
// the headers and the body streamed from body. The "dkim" check uses
// go-msgauth and calls this only where that library is stricter than
// RFC 6376 (i= compared to d= case-sensitively and without
// quoted-printable decoding). The rules match the check's: v=1, rsa-sha256
// or ed25519-sha256 only (RFC 8301), l= refused as the library does.
func VerifyDKIM(ctx context.Context, r TXTResolver, hs []filters.Header, body io.Reader, sig int, now time.Time) error {
	t, err := ParseTags(hs[sig].Value)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	if t["v"] != "1" {
		return fmt.Errorf("%w: incompatible signature version", ErrPermanent)
	}
	for _, k := range []string{"a", "b", "bh", "d", "h", "s"} {
		if _, ok := t[k]; !ok {
			return fmt.Errorf("%w: signature missing required tag %s=", ErrPermanent, k)
		}
	}
	d := strings.ToLower(strings.TrimSuffix(StripFWS(t["d"]), "."))
	if i, ok := t["i"]; ok {
		// RFC 6376 §3.5: i= is dkim-quoted-printable; its domain must be
		// d= or a subdomain, compared case-insensitively (domains).
		auid := strings.ToLower(decodeQP(StripFWS(i)))
		at := strings.LastIndexByte(auid, '@')
		if at < 0 {
			return fmt.Errorf("%w: i= without @", ErrPermanent)
		}
		id := strings.TrimSuffix(auid[at+1:], ".")
		if id != d && !strings.HasSuffix(id, "."+d) {
			return fmt.Errorf("%w: i= domain is not d= or a subdomain", ErrPermanent)
		}
	}
	var names []string
	fromSigned := false
	for _, n := range strings.Split(t["h"], ":") {
		n = strings.Trim(n, " \t\r\n")
		if n == "" {
			continue
		}
		fromSigned = fromSigned || strings.EqualFold(n, "from")
		names = append(names, n)
	}
	if !fromSigned {
		return fmt.Errorf("%w: From field not signed", ErrPermanent)
	}
	if x, ok := t["x"]; ok {
		exp, err := strconv.ParseInt(StripFWS(x), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: bad x=", ErrPermanent)
		}
		if now.Unix() > exp {
			return fmt.Errorf("%w: signature has expired", ErrPermanent)
		}
	}
	if q, ok := t["q"]; ok && !strings.Contains(StripFWS(q), "dns/txt") {
		return fmt.Errorf("%w: unsupported query method", ErrPermanent)
	}
	if _, ok := t["l"]; ok {
		return fmt.Errorf("%w: l= body length tag refused", ErrVerify)
	}
	_, hasC := t["c"]
	hc, bc, ok := ParseCanonicalization(StripFWS(t["c"]), hasC)
	if !ok {
		return fmt.Errorf("%w: bad c=", ErrPermanent)
	}
	bh, err := DecodeBase64(t["bh"])
	if err != nil {
		return err
	}
	b, err := DecodeBase64(t["b"])
	if err != nil {
		return err
	}
	key, err := LookupKey(ctx, r, d, StripFWS(t["s"]))
	if err != nil {
		return err
	}
	switch algo := StripFWS(t["a"]); algo {
	case "rsa-sha256", "ed25519-sha256":
	case "rsa-sha1":
		// RFC 8301 §3.1: rsa-sha1 signatures MUST NOT be considered valid.
		return fmt.Errorf("%w: %w: rsa-sha1 is not accepted", ErrVerify, ErrRFC8301)
	default:
		return fmt.Errorf("%w: unsupported algorithm %q", ErrPermanent, algo)
	}
	algo := StripFWS(t["a"])
	if (algo == "rsa-sha256") != (key.RSA != nil) {
		return fmt.Errorf("%w: key type does not match a=", ErrPermanent)
	}
	got, err := BodyDigest(bc, body, -1)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, bh) != 1 {
		return fmt.Errorf("%w: body hash", ErrVerify)
	}
	picked := PickHeaders(hs, names, func(i int) bool { return i == sig })
	return key.Verify(algo, HeaderDigest(hc, hs, picked, hs[sig]), b)
}

// decodeQP decodes dkim-quoted-printable (RFC 6376 §2.11): =XX hex pairs.
func decodeQP(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
