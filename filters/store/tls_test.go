package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store/storetest"
)

// testCA writes a CA certificate and a server certificate for 127.0.0.1
// signed by it into dir: ca.pem, server.pem, server.key.
func testCA(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	write("server.pem", "CERTIFICATE", srvDER)
	write("server.key", "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}

// TestRedisTLSAndACL: reputation.redis.tls with tls_ca and an ACL user
// (username, password) reach a server that takes only TLS; a server
// certificate the CA did not sign, a wrong password and a plain-text
// client are refused with ErrUnavailable.
func TestRedisTLSAndACL(t *testing.T) {
	dir := t.TempDir()
	pool := testCA(t, dir)
	srv := storetest.StartTLS(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"),
		&tls.Config{RootCAs: pool}, "--user", "default", "off", "--user", "vigil", "on", ">s3cret-pass", "~*", "&*", "+@all")
	open := func(mod func(*RedisConfig)) Store {
		cfg := DefaultConfig()
		cfg.Backend = "redis"
		cfg.Redis.Addr = srv.Addr()
		cfg.Redis.TLS, cfg.Redis.TLSCA = true, filepath.Join(dir, "ca.pem")
		cfg.Redis.Username, cfg.Redis.Password = "vigil", "s3cret-pass"
		cfg.Redis.Timeout = filters.Duration(2 * time.Second)
		cfg.Redis.Persistence = PersistenceOff
		mod(&cfg.Redis)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	ctx := context.Background()
	good := open(func(*RedisConfig) {})
	if out, err := good.Learn(ctx, "tls-1", Spam, someKeys); err != nil || out != Learned {
		t.Fatalf("learn over TLS as vigil: %q %v", out, err)
	}
	wantCounts(t, good, someKeys[0].ID(), 1, 0)

	refused := []struct {
		name string
		mod  func(*RedisConfig)
		says string
	}{
		{"system roots", func(r *RedisConfig) { r.TLSCA = "" }, "certificate"},
		{"wrong password", func(r *RedisConfig) { r.Password = "nope" }, "WRONGPASS"},
		{"default user", func(r *RedisConfig) { r.Username, r.Password = "", "" }, ""},
		{"no TLS", func(r *RedisConfig) { r.TLS, r.TLSCA = false, "" }, ""},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			s := open(tc.mod)
			_, err := s.Counts(ctx, []string{someKeys[0].ID()})
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Counts: %v, want ErrUnavailable saying %q", err, tc.says)
			}
		})
	}

	cfg := DefaultConfig()
	cfg.Backend = "redis"
	cfg.Redis.TLS, cfg.Redis.TLSCA = true, filepath.Join(dir, "missing.pem")
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "reputation.redis.tls_ca") {
		t.Fatalf("a missing tls_ca file: %v", err)
	}
}
