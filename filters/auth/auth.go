// Package auth wires the authentication checks "spf", "dkim", "arc" and
// "dmarc" (which reads the facts of the first two) over one dnsrep
// resolver, configured by the auth: section.
package auth

import (
	"fmt"
	"os"
	"strings"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters/auth/arc"
	"github.com/vigilmail/vigil/filters/auth/dkim"
	"github.com/vigilmail/vigil/filters/auth/dmarc"
	"github.com/vigilmail/vigil/filters/auth/spf"
)

// Config is the auth: section of the configuration file.
//
//	auth:
//	  authserv_id: mx.example.org   # default: the host name
//	  dkim:  {max_signatures: 5}
//	  dmarc: {enforce: true}
//	  arc:   {trusted_sealers: []}
//
// Decode it into DefaultConfig() so absent keys keep their defaults.
type Config struct {
	// AuthservID names this host in Authentication-Results (RFC 8601 §2.5);
	// incoming fields that claim it are removed. Default: this host's name.
	AuthservID string       `yaml:"authserv_id"`
	DKIM       dkim.Config  `yaml:"dkim"`
	DMARC      dmarc.Config `yaml:"dmarc"`
	ARC        arc.Config   `yaml:"arc"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return Config{
		AuthservID: host,
		DKIM:       dkim.DefaultConfig(),
		DMARC:      dmarc.DefaultConfig(),
		ARC:        arc.Config{},
	}
}

// Validate checks the section; errors name the key and the bad value.
func (c Config) Validate() error {
	if c.AuthservID == "" || strings.ContainsAny(c.AuthservID, " \t\r\n;()\"") {
		return fmt.Errorf("auth: auth.authserv_id: %q is not a host name", c.AuthservID)
	}
	if err := c.DKIM.Validate(); err != nil {
		return err
	}
	return c.ARC.Validate()
}

// Checks are the authentication checks.
type Checks struct {
	SPF   *spf.Check
	DKIM  *dkim.Check
	ARC   *arc.Check
	DMARC *dmarc.Check
}

// New builds the checks over one resolver.
func New(cfg Config, r dnsrep.StdResolver) (*Checks, error) {
	var cs Checks
	var err error
	if cs.SPF, err = spf.New(spf.Config{}, spf.Deps{Resolver: r}); err != nil {
		return nil, err
	}
	if cs.DKIM, err = dkim.New(cfg.DKIM, dkim.Deps{Resolver: r}); err != nil {
		return nil, err
	}
	if cs.ARC, err = arc.New(cfg.ARC, arc.Deps{Resolver: r}); err != nil {
		return nil, err
	}
	if cs.DMARC, err = dmarc.New(cfg.DMARC, dmarc.Deps{Resolver: r, TrustedARC: cs.ARC.TrustedForwarder}); err != nil {
		return nil, err
	}
	return &cs, nil
}
