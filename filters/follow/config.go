package follow

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Mode says which URLs of a message are followed.
type Mode string

const (
	// ModeRedirectors follows only URLs on known shortener and redirector
	// hosts (DefaultRedirectors plus redirector_hosts): cheap, and where
	// the real destination is hidden.
	ModeRedirectors Mode = "redirectors"
	// ModeAll follows every http/https URL, up to max_urls.
	ModeAll Mode = "all"
)

// Config is the top-level `follow:` key.
type Config struct {
	// Enabled turns link following on. Default false: it makes outbound
	// HTTP requests to addresses chosen by senders.
	Enabled bool `yaml:"enabled"`
	// Mode is redirectors (default) or all.
	Mode Mode `yaml:"mode"`
	// RedirectorHosts are added to the built-in shorteners and
	// redirectors (a host matches itself and its subdomains).
	RedirectorHosts []string `yaml:"redirector_hosts"`
	// MaxURLs is the number of URLs followed per message. Default 10.
	MaxURLs int `yaml:"max_urls"`
	// MaxHops is the number of redirects followed per URL. Default 10.
	MaxHops int `yaml:"max_hops"`
	// Timeout bounds one URL, all its hops. Default 3s.
	Timeout time.Duration `yaml:"timeout"`
	// MessageBudget bounds all URLs of one message (and never exceeds the
	// check's own deadline, limits.check_timeout). Default 4s.
	MessageBudget time.Duration `yaml:"message_budget"`
	// MaxBody caps the bytes read of one response. Default 524288.
	MaxBody int64 `yaml:"max_body"`
	// PerHostConcurrency bounds concurrent requests to one host across all
	// messages. Default 2.
	PerHostConcurrency int `yaml:"per_host_concurrency"`
	// Workers is the number of URLs followed at once per message. Default 4.
	Workers int `yaml:"workers"`
	// AllowNetworks exempts these CIDRs from the address guard (loopback,
	// private, link-local, CGNAT, ... are refused otherwise). Default none.
	AllowNetworks []string `yaml:"allow_networks"`
	// AllowPorts are the ports connected to. Default [80, 443].
	AllowPorts []int `yaml:"allow_ports"`
	// UserAgent is sent with every request. Default
	// "Mozilla/5.0 (compatible; Vigil-LinkCheck/1.0)".
	UserAgent string `yaml:"user_agent"`
	// CacheTTL is how long a followed URL's result is reused. Default 1h.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// CacheSize bounds the in-memory result cache. Default 10000.
	CacheSize int `yaml:"cache_size"`
	// Images fetches the remote images of a message (img src, CSS url())
	// through the same guard, and hashes them like inline ones. Default
	// false, and it needs enabled: fetching an image tells its sender
	// that the address is read, at the moment it is (that is what
	// tracking pixels are for), and an image fetched while the message is
	// still being delivered is fetched for every recipient.
	Images bool `yaml:"images"`
	// MaxImages is the number of remote images fetched per message.
	// Default 3.
	MaxImages int `yaml:"max_images"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Enabled:            false,
		Mode:               ModeRedirectors,
		MaxURLs:            10,
		MaxHops:            10,
		Timeout:            3 * time.Second,
		MessageBudget:      4 * time.Second,
		MaxBody:            512 << 10,
		PerHostConcurrency: 2,
		Workers:            4,
		AllowPorts:         []int{80, 443},
		UserAgent:          "Mozilla/5.0 (compatible; Vigil-LinkCheck/1.0)",
		CacheTTL:           time.Hour,
		CacheSize:          10000,
		Images:             false,
		MaxImages:          3,
	}
}

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	bad := func(key string, v any, why string) error {
		return fmt.Errorf("follow.%s: %v: %s", key, v, why)
	}
	switch c.Mode {
	case ModeAll, ModeRedirectors:
	default:
		return bad("mode", fmt.Sprintf("%q", c.Mode), "want all or redirectors")
	}
	for _, p := range []struct {
		key string
		v   int64
	}{
		{"max_urls", int64(c.MaxURLs)}, {"max_hops", int64(c.MaxHops)}, {"max_body", c.MaxBody},
		{"per_host_concurrency", int64(c.PerHostConcurrency)}, {"workers", int64(c.Workers)},
		{"cache_size", int64(c.CacheSize)}, {"max_images", int64(c.MaxImages)},
	} {
		if p.v <= 0 {
			return bad(p.key, p.v, "must be positive")
		}
	}
	for _, p := range []struct {
		key string
		v   time.Duration
	}{{"timeout", c.Timeout}, {"message_budget", c.MessageBudget}} {
		if p.v <= 0 {
			return bad(p.key, p.v, "must be positive")
		}
	}
	if c.CacheTTL < 0 {
		return bad("cache_ttl", c.CacheTTL, "must not be negative (0 disables the cache)")
	}
	if c.Images && !c.Enabled {
		return bad("images", true, "needs follow.enabled: true")
	}
	if c.MaxHops > 50 {
		return bad("max_hops", c.MaxHops, "must not exceed 50")
	}
	if c.Workers > 32 {
		return bad("workers", c.Workers, "must not exceed 32")
	}
	if _, err := c.allowNetworks(); err != nil {
		return err
	}
	for _, p := range c.AllowPorts {
		if p < 1 || p > 65535 {
			return bad("allow_ports", p, "not a TCP port")
		}
	}
	if len(c.AllowPorts) == 0 {
		return bad("allow_ports", "[]", "must list at least one port")
	}
	for _, h := range c.RedirectorHosts {
		if h = strings.TrimSpace(h); h == "" || strings.ContainsAny(h, "/: ") {
			return bad("redirector_hosts", fmt.Sprintf("%q", h), "want a host name")
		}
	}
	if strings.ContainsAny(c.UserAgent, "\r\n") {
		return bad("user_agent", fmt.Sprintf("%q", c.UserAgent), "must be one line")
	}
	return nil
}

func (c Config) allowNetworks() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.AllowNetworks {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("follow.allow_networks: %q: want a CIDR such as 127.0.0.0/8", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// DefaultRedirectors are URL shorteners and open redirector hosts whose
// links hide their destination.
var DefaultRedirectors = []string{
	"bit.ly", "bitly.com", "t.co", "tinyurl.com", "goo.gl", "ow.ly", "is.gd", "buff.ly",
	"rebrand.ly", "cutt.ly", "s.id", "t.ly", "lnkd.in", "rb.gy", "shorturl.at", "tiny.cc",
	"v.gd", "bl.ink", "short.io", "shorte.st", "adf.ly", "soo.gd", "qrco.de", "qr.ae",
	"t.me", "trib.al", "dlvr.it", "fb.me", "amzn.to", "youtu.be", "aka.ms", "1drv.ms",
	"x.co", "mcaf.ee", "surl.li", "urlz.fr", "shorturl.asia", "clck.ru", "u.to", "did.li",
	"tr.im", "bit.do", "po.st", "snip.ly", "linktr.ee", "l.ead.me", "page.link",
}
