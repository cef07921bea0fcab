package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// Config is where the evidence is kept: the backend keys of the top-level
// `reputation:` section (the section also holds the reputation check's own
// keys, see reputation.Config).
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
	HalfLife filters.Duration `yaml:"half_life"`
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
	Timeout filters.Duration `yaml:"timeout"`
	// TTL expires keys not written for this long. Default 8 half-lives
	// (what is left then is under 0.4% of the evidence); 0 with a zero
	// half-life means never.
	TTL filters.Duration `yaml:"ttl"`
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
	WaitTimeout filters.Duration `yaml:"wait_timeout"`
}

// Redis persistence requirements (reputation.redis.persistence).
const (
	PersistenceWarn  = "warn"
	PersistenceFsync = "fsync"
	PersistenceOff   = "off"
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Backend: "bbolt",
		Path:    "/var/lib/vigil",
		Redis: RedisConfig{
			Addr:        "127.0.0.1:6379",
			Prefix:      "vigil:rep:",
			Timeout:     filters.Duration(200 * time.Millisecond),
			Persistence: PersistenceWarn,
			WaitTimeout: filters.Duration(time.Second),
		},
		HalfLife: filters.Duration(30 * 24 * time.Hour),
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
	return nil
}
