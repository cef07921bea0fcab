package dkimsig

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/vigilmail/vigil/filters"
)

var (
	// ErrTemporary wraps key lookup failures that may succeed later.
	ErrTemporary = errors.New("dkimsig: temporary failure")
	// ErrPermanent wraps unusable signatures and keys.
	ErrPermanent = errors.New("dkimsig: permanent failure")
	// ErrVerify wraps hash and signature mismatches.
	ErrVerify = errors.New("dkimsig: signature did not verify")
	// ErrRFC8301 wraps what RFC 8301 forbids verifiers to accept: rsa-sha1
	// signatures (§3.1) and RSA keys under 1024 bits (§3.2). It comes
	// with ErrVerify or ErrPermanent; a verifier reports it as fail.
	ErrRFC8301 = errors.New("RFC 8301")
)

// TXTResolver is the part of dnsrep.StdResolver key lookups need.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Key is a public key from a DKIM key record (RFC 6376 §3.6.1).
type Key struct {
	RSA     *rsa.PublicKey
	Ed25519 ed25519.PublicKey
	// HashAlgos is the h= list, nil when absent (all allowed).
	HashAlgos []string
}

// MinRSABits is the RFC 8301 §3.2 minimum key size for verification.
const MinRSABits = 1024

// LookupKey fetches and parses the key record at selector._domainkey.domain.
func LookupKey(ctx context.Context, r TXTResolver, domain, selector string) (*Key, error) {
	name := selector + "._domainkey." + domain
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		var derr *net.DNSError
		if errors.As(err, &derr) && derr.IsNotFound {
			return nil, fmt.Errorf("%w: no key at %s", ErrPermanent, name)
		}
		return nil, fmt.Errorf("%w: key lookup %s: %v", ErrTemporary, name, err)
	}
	// RFC 6376 §3.6.2.2: several records make the result undefined.
	switch len(txts) {
	case 0:
		return nil, fmt.Errorf("%w: no key at %s", ErrPermanent, name)
	case 1:
	default:
		return nil, fmt.Errorf("%w: %d key records at %s", ErrPermanent, len(txts), name)
	}
	return ParseKey(txts[0])
}

// ParseKey parses a key record.
func ParseKey(rec string) (*Key, error) {
	t, err := ParseTags(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: key record: %v", ErrPermanent, err)
	}
	if v, ok := t["v"]; ok && v != "DKIM1" {
		return nil, fmt.Errorf("%w: key record version %q", ErrPermanent, v)
	}
	if s, ok := t["s"]; ok {
		okService := false
		for _, x := range strings.Split(s, ":") {
			x = strings.TrimSpace(x)
			okService = okService || x == "*" || x == "email"
		}
		if !okService {
			return nil, fmt.Errorf("%w: key not for email (s=%s)", ErrPermanent, s)
		}
	}
	p, ok := t["p"]
	if !ok {
		return nil, fmt.Errorf("%w: key record without p=", ErrPermanent)
	}
	p = StripFWS(p)
	if p == "" {
		return nil, fmt.Errorf("%w: key revoked", ErrPermanent)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: key p= not base64", ErrPermanent)
	}
	k := &Key{}
	if h, ok := t["h"]; ok {
		for _, a := range strings.Split(h, ":") {
			k.HashAlgos = append(k.HashAlgos, strings.TrimSpace(a))
		}
	}
	switch kt := t["k"]; kt {
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			// RFC 6376 erratum 3017: some publish a bare RSAPublicKey.
			pub, err = x509.ParsePKCS1PublicKey(der)
			if err != nil {
				return nil, fmt.Errorf("%w: key p= is not an RSA public key", ErrPermanent)
			}
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: key p= is not an RSA public key", ErrPermanent)
		}
		if rk.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%w: %w: RSA key of %d bits", ErrPermanent, ErrRFC8301, rk.N.BitLen())
		}
		k.RSA = rk
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ed25519 key of %d bytes", ErrPermanent, len(der))
		}
		k.Ed25519 = ed25519.PublicKey(der)
	default:
		return nil, fmt.Errorf("%w: unknown key type k=%s", ErrPermanent, kt)
	}
	return k, nil
}

// Verify checks sig over the SHA-256 digest for the signature algorithm
// algo ("rsa-sha256" or "ed25519-sha256").
func (k *Key) Verify(algo string, digest, sig []byte) error {
	if k.HashAlgos != nil {
		ok := false
		for _, h := range k.HashAlgos {
			ok = ok || h == "sha256"
		}
		if !ok {
			return fmt.Errorf("%w: key does not allow sha256", ErrPermanent)
		}
	}
	switch algo {
	case "rsa-sha256":
		if k.RSA == nil {
			return fmt.Errorf("%w: rsa signature with a non-RSA key", ErrPermanent)
		}
		if err := rsa.VerifyPKCS1v15(k.RSA, crypto.SHA256, digest, sig); err != nil {
			return fmt.Errorf("%w: %v", ErrVerify, err)
		}
	case "ed25519-sha256":
		if k.Ed25519 == nil {
			return fmt.Errorf("%w: ed25519 signature with a non-ed25519 key", ErrPermanent)
		}
		if !ed25519.Verify(k.Ed25519, digest, sig) {
			return fmt.Errorf("%w: ed25519", ErrVerify)
		}
	default:
		return fmt.Errorf("%w: unsupported algorithm %q", ErrPermanent, algo)
	}
	return nil
}

// PickHeaders selects the fields named in h= (RFC 6376 §5.4.2): each name
// takes the last not yet used field of that name, bottom up. skip excludes
// fields (the signature itself and fields added after it). A name with no
// field left yields -1 (it contributes nothing to the hash).
func PickHeaders(hs []filters.Header, names []string, skip func(i int) bool) []int {
	used := make([]bool, len(hs))
	out := make([]int, len(names))
	for n, name := range names {
		out[n] = -1
		for i := len(hs) - 1; i >= 0; i-- {
			if used[i] || (skip != nil && skip(i)) || !strings.EqualFold(strings.TrimSpace(hs[i].Name), name) {
				continue
			}
			used[i] = true
			out[n] = i
			break
		}
	}
	return out
}

// HeaderDigest is the SHA-256 of the selected fields followed by the
// signature field with b= emptied and no final CRLF (RFC 6376 §3.7).
func HeaderDigest(c Canonicalization, hs []filters.Header, picked []int, sig filters.Header) []byte {
	h := sha256.New()
	for _, i := range picked {
		if i >= 0 {
			io.WriteString(h, CanonicalHeader(c, hs[i].Name, hs[i].Value))
		}
	}
	s := CanonicalHeader(c, sig.Name, StripSignature(sig.Value))
	io.WriteString(h, strings.TrimSuffix(s, "\r\n"))
	return h.Sum(nil)
}

// BodyDigest is the SHA-256 of the canonicalized body, cut at length
// bytes when length >= 0 (l=).
func BodyDigest(c Canonicalization, body io.Reader, length int64) ([]byte, error) {
	h := sha256.New()
	var w io.Writer = h
	if length >= 0 {
		w = &limitWriter{w: h, n: length}
	}
	bw := NewBodyWriter(c, w)
	if body != nil {
		if _, err := io.Copy(bw, body); err != nil {
			return nil, err
		}
	}
	if err := bw.Close(); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// DecodeBase64 decodes a b= or bh= value, ignoring folding whitespace.
func DecodeBase64(v string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(StripFWS(v))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w: bad base64 value", ErrPermanent)
	}
	return b, nil
}
