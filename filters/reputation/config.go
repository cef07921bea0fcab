package reputation

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the top-level `reputation:` key.
type Config struct {
	// Backend is "bbolt" (default: one node, file in Path) or "redis"
	// (shared by many nodes).
	Backend string `yaml:"backend"`
	// Path is the data directory of the bbolt file <Path>/reputation.db.
	// Default /var/lib/vigil.
	Path string `yaml:"path"`
	// Redis configures the redis backend.
	Redis RedisConfig `yaml:"redis"`
	// HalfLife is the time after which learned evidence counts half.
	// Default 30d; 0 disables decay.
	HalfLife Duration `yaml:"half_life"`
	// MinEvidence is the decayed spam+ham count a key needs before it
	// scores. Default 3.
	MinEvidence float64 `yaml:"min_evidence"`
	// Timeout bounds every store call on the message path. Default 200ms.
	Timeout Duration `yaml:"timeout"`
	// CacheTTL is how long counts read on the message path are reused.
	// Default 10s; 0 disables the cache.
	CacheTTL Duration `yaml:"cache_ttl"`
	// Caps are the largest score (absolute) each kind of key can give.
	Caps Caps `yaml:"caps"`
}

// RedisConfig is `reputation.redis:`.
type RedisConfig struct {
	// Addr is HOST:PORT, or unix:/path/to/socket. Default 127.0.0.1:6379.
	Addr string `yaml:"addr"`
	// Prefix starts every key Vigil writes. Default "vigil:rep:".
	Prefix string `yaml:"prefix"`
	// DB is the Redis database number. Default 0.
	DB int `yaml:"db"`
	// Password for AUTH; default none.
	Password string `yaml:"password"`
	// Timeout bounds dial, read and write. Default 200ms.
	Timeout Duration `yaml:"timeout"`
	// TTL expires keys not written for this long. Default 8 half-lives
	// (what is left then is under 0.4% of the evidence); 0 with a zero
	// half-life means never.
	TTL Duration `yaml:"ttl"`
	// Persistence is what Vigil asks of the server's own persistence
	// (CONFIG GET appendonly, appendfsync, save) before it acknowledges
	// feedback: "warn" (default) checks and logs what a Redis crash would
	// lose; "fsync" refuses feedback (503) unless the server runs
	// appendonly yes with appendfsync always, so every acknowledged report
	// is on disk; "off" does not ask (servers with CONFIG disabled).
	Persistence string `yaml:"persistence"`
	// WaitReplicas: after each learned report, wait (WAIT) until this many
	// replicas have it; when fewer confirm within WaitTimeout the report
	// is refused (503) and the reporter retries (learning again is a
	// no-op). Default 0 (do not wait).
	WaitReplicas int `yaml:"wait_replicas"`
	// WaitTimeout bounds that wait. Default 1s.
	WaitTimeout Duration `yaml:"wait_timeout"`
}

// Redis persistence requirements (reputation.redis.persistence).
const (
	PersistenceWarn  = "warn"
	PersistenceFsync = "fsync"
	PersistenceOff   = "off"
)

// Caps are the per-kind score caps (`reputation.caps:`). The IP cap must be
// the smallest: an address can be rented or stolen, so it is one input
// among many.
type Caps struct {
	IP      float64 `yaml:"ip"`      // default 1.0
	Net     float64 `yaml:"net"`     // default 1.0
	Sender  float64 `yaml:"sender"`  // default 3.0 (authenticated identities)
	Unauth  float64 `yaml:"unauth"`  // default 1.5 (unauthenticated identities)
	Domain  float64 `yaml:"domain"`  // default 3.0
	NS      float64 `yaml:"ns"`      // default 2.5 (host names and addresses)
	URL     float64 `yaml:"url"`     // default 3.0
	Content float64 `yaml:"content"` // default 4.0
	Image   float64 `yaml:"image"`   // default 3.0
}

func (c Caps) of(k Kind) float64 {
	switch k {
	case KindIP:
		return c.IP
	case KindNet:
		return c.Net
	case KindSender:
		return c.Sender
	case KindSenderUnauth:
		return c.Unauth
	case KindDomain:
		return c.Domain
	case KindNS, KindNSIP:
		return c.NS
	case KindURL, KindPage:
		return c.URL
	case KindContent:
		return c.Content
	case KindImage:
		return c.Image
	}
	return 0
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Backend: "bbolt",
		Path:    "/var/lib/vigil",
		Redis: RedisConfig{
			Addr:        "127.0.0.1:6379",
			Prefix:      "vigil:rep:",
			Timeout:     Duration(200 * time.Millisecond),
			Persistence: PersistenceWarn,
			WaitTimeout: Duration(time.Second),
		},
		HalfLife:    Duration(30 * 24 * time.Hour),
		MinEvidence: 3,
		Timeout:     Duration(200 * time.Millisecond),
		CacheTTL:    Duration(10 * time.Second),
		Caps: Caps{
			IP: 1, Net: 1, Sender: 3, Unauth: 1.5, Domain: 3, NS: 2.5, URL: 3, Content: 4, Image: 3,
		},
	}
}

// RedisTTL is the effective key expiry of the redis backend.
func (c Config) RedisTTL() time.Duration {
	if c.Redis.TTL > 0 {
		return time.Duration(c.Redis.TTL)
	}
	return 8 * time.Duration(c.HalfLife)
}

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	switch c.Backend {
	case "bbolt":
		if c.Path == "" {
			return fmt.Errorf("reputation.path: empty (the bbolt backend needs a data directory)")
		}
	case "redis":
		if c.Redis.Addr == "" {
			return fmt.Errorf("reputation.redis.addr: empty")
		}
		if !strings.HasPrefix(c.Redis.Addr, "unix:") {
			if _, port, ok := strings.Cut(c.Redis.Addr, ":"); !ok || port == "" {
				return fmt.Errorf("reputation.redis.addr: %q is not HOST:PORT or unix:/path", c.Redis.Addr)
			}
		}
		if c.Redis.Timeout <= 0 {
			return fmt.Errorf("reputation.redis.timeout: %s must be positive", c.Redis.Timeout)
		}
		if c.Redis.TTL < 0 {
			return fmt.Errorf("reputation.redis.ttl: %s is negative", c.Redis.TTL)
		}
		if c.Redis.DB < 0 {
			return fmt.Errorf("reputation.redis.db: %d is negative", c.Redis.DB)
		}
		switch c.Redis.Persistence {
		case PersistenceWarn, PersistenceFsync, PersistenceOff:
		default:
			return fmt.Errorf("reputation.redis.persistence: unknown %q (want warn, fsync or off)", c.Redis.Persistence)
		}
		if c.Redis.WaitReplicas < 0 {
			return fmt.Errorf("reputation.redis.wait_replicas: %d is negative", c.Redis.WaitReplicas)
		}
		if c.Redis.WaitReplicas > 0 && c.Redis.WaitTimeout <= 0 {
			return fmt.Errorf("reputation.redis.wait_timeout: %s must be positive with wait_replicas", c.Redis.WaitTimeout)
		}
	default:
		return fmt.Errorf("reputation.backend: unknown %q (want bbolt or redis)", c.Backend)
	}
	if c.HalfLife < 0 {
		return fmt.Errorf("reputation.half_life: %s is negative", c.HalfLife)
	}
	if c.MinEvidence < 0 || math.IsNaN(c.MinEvidence) {
		return fmt.Errorf("reputation.min_evidence: %v is negative", c.MinEvidence)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("reputation.timeout: %s must be positive", c.Timeout)
	}
	if c.CacheTTL < 0 {
		return fmt.Errorf("reputation.cache_ttl: %s is negative", c.CacheTTL)
	}
	caps := []struct {
		name string
		v    float64
	}{
		{"ip", c.Caps.IP}, {"net", c.Caps.Net}, {"sender", c.Caps.Sender}, {"unauth", c.Caps.Unauth},
		{"domain", c.Caps.Domain}, {"ns", c.Caps.NS}, {"url", c.Caps.URL}, {"content", c.Caps.Content},
		{"image", c.Caps.Image},
	}
	for _, cp := range caps {
		if cp.v < 0 || math.IsNaN(cp.v) || math.IsInf(cp.v, 0) {
			return fmt.Errorf("reputation.caps.%s: %v must be a finite number >= 0", cp.name, cp.v)
		}
	}
	for _, cp := range caps[1:] {
		if c.Caps.IP > cp.v {
			return fmt.Errorf("reputation.caps.ip: %v exceeds reputation.caps.%s (%v); the IP cap must be the smallest", c.Caps.IP, cp.name, cp.v)
		}
	}
	return nil
}

// Duration is a time.Duration that YAML writes as "30s", "720h" or "30d".
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration accepts time.ParseDuration syntax plus a whole number of
// days ("30d").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return Duration(time.Duration(days) * 24 * time.Hour), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return Duration(v), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 30s or 30d", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
