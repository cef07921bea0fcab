package reputation

import (
	"fmt"
	"math"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// Config is the top-level `reputation:` section: where the evidence is
// kept (store.Config, inline) and how the check scores it.
type Config struct {
	store.Config `yaml:",inline"`
	// MinEvidence is the decayed spam+ham count a key needs before it
	// scores. Default 3.
	MinEvidence float64 `yaml:"min_evidence"`
	// Timeout bounds every store call on the message path. Default 200ms.
	Timeout filters.Duration `yaml:"timeout"`
	// CacheTTL is how long counts read on the message path are reused.
	// Default 10s; 0 disables the cache.
	CacheTTL filters.Duration `yaml:"cache_ttl"`
	// Caps are the largest score (absolute) each kind of key can give.
	Caps Caps `yaml:"caps"`
	// SharedDomains: a nameserver, nameserver address, client address or
	// network seen behind more than this many distinct registrable domains
	// in reports is shared infrastructure, and its lean is scaled by
	// sqrt(shared_domains/domains). Default 10; 0 turns the discount off.
	SharedDomains float64 `yaml:"shared_domains"`
	// Scope is whose reports judge a message: global (every report counts
	// for every recipient) or rcpt_domain (a report given with its
	// recipient domain counts for that domain only, and a recipient
	// domain's own counts come before the global ones). Default global.
	Scope Scope `yaml:"scope"`
}

// Scope is reputation.scope.
type Scope string

const (
	// ScopeGlobal: every report counts for every recipient.
	ScopeGlobal Scope = "global"
	// ScopeRcptDomain: a report given with its recipient domain counts
	// for that domain apart (a provider's customer's "not spam" whitelists
	// nothing for the others); reports without one count for everyone.
	ScopeRcptDomain Scope = "rcpt_domain"
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
	Image   float64 `yaml:"image"`   // default 3.0 (a picture, exactly or nearly)
	// ImageOnly caps a picture's evidence in image-heavy mail, where the
	// pictures are the message as the text is in other mail (default 4.0,
	// as content).
	ImageOnly float64 `yaml:"image_only"`
}

func (c Caps) of(k store.Kind) float64 {
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
	case KindImage, KindImageBand:
		return c.Image
	}
	return 0
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Config:      store.DefaultConfig(),
		MinEvidence: 3,
		Timeout:     filters.Duration(200 * time.Millisecond),
		CacheTTL:    filters.Duration(10 * time.Second),
		Scope:       ScopeGlobal,
		Caps: Caps{
			IP: 1, Net: 1, Sender: 3, Unauth: 1.5, Domain: 3, NS: 2.5, URL: 3, Content: 4, Image: 3, ImageOnly: 4,
		},
		SharedDomains: 10,
	}
}

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.MinEvidence < 0 || math.IsNaN(c.MinEvidence) {
		return fmt.Errorf("reputation.min_evidence: %v is negative", c.MinEvidence)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("reputation.timeout: %s must be positive", c.Timeout)
	}
	if c.Scope != ScopeGlobal && c.Scope != ScopeRcptDomain {
		return fmt.Errorf("reputation.scope: %q: want global or rcpt_domain", c.Scope)
	}
	if c.CacheTTL < 0 {
		return fmt.Errorf("reputation.cache_ttl: %s is negative", c.CacheTTL)
	}
	if c.SharedDomains < 0 || math.IsNaN(c.SharedDomains) || math.IsInf(c.SharedDomains, 0) {
		return fmt.Errorf("reputation.shared_domains: %v must be a finite number >= 0", c.SharedDomains)
	}
	caps := []struct {
		name string
		v    float64
	}{
		{"ip", c.Caps.IP}, {"net", c.Caps.Net}, {"sender", c.Caps.Sender}, {"unauth", c.Caps.Unauth},
		{"domain", c.Caps.Domain}, {"ns", c.Caps.NS}, {"url", c.Caps.URL}, {"content", c.Caps.Content},
		{"image", c.Caps.Image}, {"image_only", c.Caps.ImageOnly},
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
