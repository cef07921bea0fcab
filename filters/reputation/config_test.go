package reputation

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/filters/store"
)

func TestConfigYAML(t *testing.T) {
	src := `
backend: redis
path: /srv/vigil
redis: {addr: "10.0.0.2:6379", prefix: "rep:", timeout: 150ms}
half_life: 14d
min_evidence: 5
caps: {ip: 0.5, content: 5}
`
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Backend != "redis" || cfg.Redis.Prefix != "rep:" || time.Duration(cfg.Redis.Timeout) != 150*time.Millisecond ||
		time.Duration(cfg.HalfLife) != 14*24*time.Hour || cfg.MinEvidence != 5 || cfg.Caps.IP != 0.5 || cfg.Caps.Content != 5 ||
		cfg.Caps.Domain != 3 || time.Duration(cfg.Timeout) != 200*time.Millisecond {
		t.Fatalf("decoded %+v", cfg)
	}
	if cfg.RedisTTL() != 8*14*24*time.Hour {
		t.Fatalf("RedisTTL = %v", cfg.RedisTTL())
	}
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(cfg); err != nil || !strings.Contains(buf.String(), "half_life: 336h0m0s") {
		t.Fatalf("encode: %v\n%s", err, buf.String())
	}

	cl := DefaultConfig()
	dec = yaml.NewDecoder(strings.NewReader(`
backend: redis
redis: {mode: cluster, addrs: ["10.0.0.1:7000", "10.0.0.2:7000"], username: vigil, password: s3cret, tls: true}
`))
	dec.KnownFields(true)
	if err := dec.Decode(&cl); err != nil {
		t.Fatal(err)
	}
	if err := cl.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cl.Redis.Servers(); len(got) != 2 || cl.Redis.Mode != store.ModeCluster || cl.Redis.Username != "vigil" || !cl.Redis.TLS {
		t.Fatalf("decoded %+v", cl.Redis)
	}

	bad := DefaultConfig()
	dec = yaml.NewDecoder(strings.NewReader("half_life: soon\n"))
	if err := dec.Decode(&bad); err == nil || !strings.Contains(err.Error(), `bad duration "soon"`) {
		t.Fatalf("bad duration: %v", err)
	}
	dec = yaml.NewDecoder(strings.NewReader("redis: {adr: x}\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&bad); err == nil || !strings.Contains(err.Error(), "adr") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"backend", func(c *Config) { c.Backend = "x" }, `reputation.backend: unknown "x"`},
		{"path", func(c *Config) { c.Path = "" }, "reputation.path"},
		{"redis addr", func(c *Config) { c.Backend = "redis"; c.Redis.Addr = "localhost" }, `reputation.redis.addr: "localhost"`},
		{"redis timeout", func(c *Config) { c.Backend = "redis"; c.Redis.Timeout = 0 }, "reputation.redis.timeout"},
		{"redis mode", func(c *Config) { c.Backend = "redis"; c.Redis.Mode = "ring" }, `reputation.redis.mode: unknown "ring"`},
		{"standalone with several servers", func(c *Config) {
			c.Backend = "redis"
			c.Redis.Addrs = []string{"10.0.0.1:6379", "10.0.0.2:6379"}
		}, "reputation.redis.addrs: 2 addresses for mode standalone"},
		{"bad address in addrs", func(c *Config) {
			c.Backend, c.Redis.Mode = "redis", store.ModeCluster
			c.Redis.Addrs = []string{"10.0.0.1:7000", "10.0.0.2"}
		}, `reputation.redis.addrs: "10.0.0.2" is not HOST:PORT`},
		{"sentinel without master name", func(c *Config) {
			c.Backend, c.Redis.Mode = "redis", store.ModeSentinel
			c.Redis.Addrs = []string{"10.0.0.1:26379"}
		}, "reputation.redis.master_name: empty"},
		{"master name outside sentinel", func(c *Config) { c.Backend = "redis"; c.Redis.MasterName = "vigil" }, `reputation.redis.master_name: "vigil" is for mode sentinel`},
		{"cluster db", func(c *Config) {
			c.Backend, c.Redis.Mode = "redis", store.ModeCluster
			c.Redis.Addr, c.Redis.DB = "10.0.0.1:7000", 2
		}, "reputation.redis.db: 2: a Redis Cluster has only database 0"},
		{"cluster prefix with a hash tag", func(c *Config) {
			c.Backend, c.Redis.Mode = "redis", store.ModeCluster
			c.Redis.Addr, c.Redis.Prefix = "10.0.0.1:7000", "{vigil}:"
		}, `reputation.redis.prefix: "{vigil}:": no { or } in mode cluster`},
		{"cluster over a unix socket", func(c *Config) {
			c.Backend, c.Redis.Mode = "redis", store.ModeCluster
			c.Redis.Addr = "unix:/run/redis.sock"
		}, "a unix socket is for mode standalone only"},
		{"tls_ca without tls", func(c *Config) { c.Backend = "redis"; c.Redis.TLSCA = "/etc/ca.pem" }, `reputation.redis.tls_ca: "/etc/ca.pem" is set but reputation.redis.tls is false`},
		{"half life", func(c *Config) { c.HalfLife = -1 }, "reputation.half_life"},
		{"min evidence", func(c *Config) { c.MinEvidence = -1 }, "reputation.min_evidence"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "reputation.timeout"},
		{"negative cap", func(c *Config) { c.Caps.URL = -1 }, "reputation.caps.url"},
		{"ip cap not smallest", func(c *Config) { c.Caps.IP = 2 }, "reputation.caps.ip: 2 exceeds reputation.caps.net"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := store.ParseClass("spam"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ParseClass("eggs"); err == nil {
		t.Fatal("ParseClass accepted eggs")
	}
}
