package store

import (
	"fmt"
	"net"
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
	// Mode is how the servers are found: "standalone" (default: one
	// server, Addrs or Addr), "sentinel" (Addrs are the sentinels, which
	// name the current master of MasterName) or "cluster" (Addrs are some
	// nodes of a Redis Cluster; the others are discovered).
	Mode string `yaml:"mode"`
	// Addrs are the servers of Mode, each HOST:PORT; when empty, Addr.
	// Default empty.
	Addrs []string `yaml:"addrs"`
	// Addr is HOST:PORT, or unix:/path/to/socket: the server when Addrs is
	// empty. Default 127.0.0.1:6379.
	Addr string `yaml:"addr"`
	// MasterName is the name the sentinels monitor the master under (mode
	// sentinel). Default empty.
	MasterName string `yaml:"master_name"`
	// Prefix starts every key Vigil writes. Default "vigil:rep:".
	Prefix string `yaml:"prefix"`
	// DB is the Redis database number. Default 0 (the only one a cluster
	// has).
	DB int `yaml:"db"`
	// Username for AUTH with an ACL user (Redis 6); default none (the
	// default user).
	Username string `yaml:"username"`
	// Password for AUTH; default none.
	Password string `yaml:"password"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// (mode sentinel), which may have their own; default none.
	SentinelUsername string `yaml:"sentinel_username"`
	SentinelPassword string `yaml:"sentinel_password"`
	// TLS connects with TLS (1.2 or later), verifying the server's
	// certificate against the system's roots or TLSCA. Default false.
	TLS bool `yaml:"tls"`
	// TLSCA is a PEM file of the CA certificates to trust instead of the
	// system's (a private CA). Default empty.
	TLSCA string `yaml:"tls_ca"`
	// Timeout bounds dial, read and write. Default 200ms.
	Timeout filters.Duration `yaml:"timeout"`
	// TTL expires keys not written for this long. Default 8 half-lives
	// (what is left then is under 0.4% of the evidence); 0 with a zero
	// half-life means never.
	TTL filters.Duration `yaml:"ttl"`
	// OnceTTL expires keys holding the evidence of one report at most
	// (spam+ham <= 1): most keys (two thirds in the sizing measurement)
	// are seen once and never again. Default 0: the same as TTL.
	OnceTTL filters.Duration `yaml:"once_ttl"`
	// RecordTTL expires the records of learned messages, which make
	// learning idempotent and let a message move to the other class:
	// after it, the same report counts again and a move no longer takes
	// the first report back. Default 0: the same as TTL.
	RecordTTL filters.Duration `yaml:"record_ttl"`
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

// Redis deployments (reputation.redis.mode).
const (
	ModeStandalone = "standalone"
	ModeSentinel   = "sentinel"
	ModeCluster    = "cluster"
)

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
			Mode:        ModeStandalone,
			Addr:        "127.0.0.1:6379",
			Prefix:      "vigil:rep:",
			Timeout:     filters.Duration(200 * time.Millisecond),
			Persistence: PersistenceWarn,
			WaitTimeout: filters.Duration(time.Second),
		},
		HalfLife: filters.Duration(30 * 24 * time.Hour),
	}
}

// Servers are the addresses to connect to: Addrs, or else Addr.
func (r RedisConfig) Servers() []string {
	if len(r.Addrs) > 0 {
		return r.Addrs
	}
	return []string{r.Addr}
}

// mode is Mode, standalone when unset (a Config built in code).
func (r RedisConfig) mode() string {
	if r.Mode == "" {
		return ModeStandalone
	}
	return r.Mode
}

// validateServers checks mode, addresses and what goes with them.
func (r RedisConfig) validateServers() error {
	key := "reputation.redis.addr"
	if len(r.Addrs) > 0 {
		key = "reputation.redis.addrs"
	}
	servers := r.Servers()
	for _, a := range servers {
		if a == "" {
			return fmt.Errorf("%s: empty address", key)
		}
		if strings.HasPrefix(a, "unix:") {
			if r.mode() != ModeStandalone {
				return fmt.Errorf("%s: %q: a unix socket is for mode standalone only (sentinels and cluster nodes are found over TCP)", key, a)
			}
			if r.TLS {
				return fmt.Errorf("%s: %q: a unix socket does not take reputation.redis.tls", key, a)
			}
			continue
		}
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
			return fmt.Errorf("%s: %q is not HOST:PORT or unix:/path", key, a)
		}
	}
	switch r.mode() {
	case ModeStandalone:
		if len(servers) != 1 {
			return fmt.Errorf("%s: %d addresses for mode standalone, which takes one (mode: sentinel or cluster for several)", key, len(servers))
		}
		if r.MasterName != "" {
			return fmt.Errorf("reputation.redis.master_name: %q is for mode sentinel (mode is standalone)", r.MasterName)
		}
	case ModeSentinel:
		if r.MasterName == "" {
			return fmt.Errorf("reputation.redis.master_name: empty (mode sentinel needs the name the sentinels monitor)")
		}
	case ModeCluster:
		if r.DB != 0 {
			return fmt.Errorf("reputation.redis.db: %d: a Redis Cluster has only database 0", r.DB)
		}
		if r.MasterName != "" {
			return fmt.Errorf("reputation.redis.master_name: %q is for mode sentinel (mode is cluster)", r.MasterName)
		}
		// Vigil places hash tags itself (filters/store README, "Keys").
		if strings.ContainsAny(r.Prefix, "{}") {
			return fmt.Errorf("reputation.redis.prefix: %q: no { or } in mode cluster (they would make a hash tag and put every key in one slot)", r.Prefix)
		}
	default:
		return fmt.Errorf("reputation.redis.mode: unknown %q (want standalone, sentinel or cluster)", r.Mode)
	}
	if r.TLSCA != "" && !r.TLS {
		return fmt.Errorf("reputation.redis.tls_ca: %q is set but reputation.redis.tls is false", r.TLSCA)
	}
	return nil
}

// RedisTTL is the effective key expiry of the redis backend.
func (c Config) RedisTTL() time.Duration {
	if c.Redis.TTL > 0 {
		return time.Duration(c.Redis.TTL)
	}
	return 8 * time.Duration(c.HalfLife)
}

// RedisOnceTTL is the effective expiry of keys with one report's evidence.
func (c Config) RedisOnceTTL() time.Duration {
	if c.Redis.OnceTTL > 0 {
		return time.Duration(c.Redis.OnceTTL)
	}
	return c.RedisTTL()
}

// RedisRecordTTL is the effective expiry of learned-message records.
func (c Config) RedisRecordTTL() time.Duration {
	if c.Redis.RecordTTL > 0 {
		return time.Duration(c.Redis.RecordTTL)
	}
	return c.RedisTTL()
}

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	switch c.Backend {
	case "bbolt":
		if c.Path == "" {
			return fmt.Errorf("reputation.path: empty (the bbolt backend needs a data directory)")
		}
	case "redis":
		if err := c.Redis.validateServers(); err != nil {
			return err
		}
		if c.Redis.Timeout <= 0 {
			return fmt.Errorf("reputation.redis.timeout: %s must be positive", c.Redis.Timeout)
		}
		if c.Redis.TTL < 0 {
			return fmt.Errorf("reputation.redis.ttl: %s is negative", c.Redis.TTL)
		}
		if c.Redis.OnceTTL < 0 {
			return fmt.Errorf("reputation.redis.once_ttl: %s is negative", c.Redis.OnceTTL)
		}
		if c.Redis.RecordTTL < 0 {
			return fmt.Errorf("reputation.redis.record_ttl: %s is negative", c.Redis.RecordTTL)
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
