package dnsrep

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// Config is the `dns:` section of the configuration. Start from
// DefaultConfig and unmarshal over it; New also fills zero fields with the
// defaults.
type Config struct {
	// Servers are the recursive resolvers to ask, as "ip:port" (a bare IP
	// means port 53). Default: the nameservers of /etc/resolv.conf, or
	// 127.0.0.1:53 when it lists none.
	Servers []string `yaml:"servers"`
	// Timeout bounds one query to one server. Default 2s.
	Timeout time.Duration `yaml:"timeout"`
	// Attempts is how many rounds over Servers a query gets before it is
	// a timeout. Default 2.
	Attempts int         `yaml:"attempts"`
	Cache    CacheConfig `yaml:"cache"`
}

// CacheConfig bounds the answer cache.
type CacheConfig struct {
	// Size is the maximum number of cached answers (least recently used
	// are evicted). Default 100000; -1 disables the cache.
	Size int `yaml:"size"`
	// MinTTL is the floor applied to record and negative TTLs. Default 5s.
	MinTTL time.Duration `yaml:"min_ttl"`
	// MaxTTL is the ceiling: a record with a two-day TTL is held no longer.
	// Default 1h.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// ServfailTTL is how long SERVFAIL, REFUSED and timeouts are remembered,
	// so a dead list does not cost every message a full timeout. Default 5s;
	// it is never raised to MinTTL.
	ServfailTTL time.Duration `yaml:"servfail_ttl"`
}

// resolvConf is where the default servers come from.
const resolvConf = "/etc/resolv.conf"

// DefaultConfig returns the defaults. Servers is left empty: New reads
// /etc/resolv.conf when it is.
func DefaultConfig() Config {
	return Config{
		Timeout:  2 * time.Second,
		Attempts: 2,
		Cache: CacheConfig{
			Size:        100000,
			MinTTL:      5 * time.Second,
			MaxTTL:      time.Hour,
			ServfailTTL: 5 * time.Second,
		},
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.Attempts == 0 {
		c.Attempts = d.Attempts
	}
	if c.Cache == (CacheConfig{}) {
		c.Cache = d.Cache
	}
	if c.Cache.Size == 0 {
		c.Cache.Size = d.Cache.Size
	}
	return c
}

// Validate checks c; errors name the key and the bad value.
func (c Config) Validate() error {
	var errs []error
	for i, s := range c.Servers {
		if _, err := normaliseServer(s); err != nil {
			errs = append(errs, fmt.Errorf("dns.servers[%d]: %w", i, err))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("dns.timeout: must be > 0, got %s", c.Timeout))
	}
	if c.Attempts < 1 || c.Attempts > 10 {
		errs = append(errs, fmt.Errorf("dns.attempts: must be 1..10, got %d", c.Attempts))
	}
	if c.Cache.Size < -1 {
		errs = append(errs, fmt.Errorf("dns.cache.size: must be >= 0 (or -1 to disable), got %d", c.Cache.Size))
	}
	if c.Cache.MinTTL < 0 {
		errs = append(errs, fmt.Errorf("dns.cache.min_ttl: must be >= 0, got %s", c.Cache.MinTTL))
	}
	if c.Cache.MaxTTL < c.Cache.MinTTL {
		errs = append(errs, fmt.Errorf("dns.cache.max_ttl: must be >= min_ttl (%s), got %s", c.Cache.MinTTL, c.Cache.MaxTTL))
	}
	if c.Cache.ServfailTTL < 0 {
		errs = append(errs, fmt.Errorf("dns.cache.servfail_ttl: must be >= 0, got %s", c.Cache.ServfailTTL))
	}
	if len(errs) > 0 {
		return fmt.Errorf("dnsrep: config: %w", errors.Join(errs...))
	}
	return nil
}

// normaliseServer turns "ip" or "ip:port" into "ip:port".
func normaliseServer(s string) (string, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("want ip or ip:port, got %q", s)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("want an IP address (a resolver cannot resolve its own server), got %q", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("bad port in %q", s)
	}
	return netip.AddrPortFrom(ip, uint16(p)).String(), nil
}

// SystemServers returns the nameservers listed in a resolv.conf file as
// "ip:port", or ["127.0.0.1:53"] when the file is missing or lists none.
func SystemServers(path string) []string {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil || len(cc.Servers) == 0 {
		return []string{"127.0.0.1:53"}
	}
	var out []string
	for _, s := range cc.Servers {
		if n, err := normaliseServer(net.JoinHostPort(s, cc.Port)); err == nil {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return []string{"127.0.0.1:53"}
	}
	return out
}
