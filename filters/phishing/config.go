package phishing

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/urlcheck"
)

// Config is the `phishing:` section.
type Config struct {
	// Enabled runs the check (default true).
	Enabled bool `yaml:"enabled"`
	// BuiltinBrands uses the shipped list of impersonated brands (default
	// true; see BuiltinBrands and the README).
	BuiltinBrands bool `yaml:"builtin_brands"`
	// Brands are added to the built-in ones; a brand of the same name as
	// a built-in one adds its domains and aliases to it (default none).
	Brands []Brand `yaml:"brands"`
	// OwnDomains are the operator's own registrable domains, protected as
	// a brand: look-alikes of them, mail claiming them with a Reply-To
	// elsewhere (default none).
	OwnDomains []string `yaml:"own_domains"`
	// OwnName is the name the operator's organisation is called by in
	// display names, protected with OwnDomains (default "", none).
	OwnName string `yaml:"own_name"`
	// RecipientDomains treats the registrable domains of the envelope
	// recipients as own domains too (default true): a look-alike of the
	// recipient's domain is the classic business e-mail compromise.
	RecipientDomains bool `yaml:"recipient_domains"`
	// Freemail, Shorteners and FreeHosting extend the shipped lists of
	// consumer mailbox domains, URL shorteners and free hosting
	// ("host", ".tenant-suffix" or "host/path") (default none).
	Freemail    []string `yaml:"freemail"`
	Shorteners  []string `yaml:"shorteners"`
	FreeHosting []string `yaml:"free_hosting"`
	// Feeds are local files of phishing URLs or domains (OpenPhish,
	// PhishTank and the like, one a line), matched against every link
	// after unwrapping and every redirect hop (default none).
	Feeds []Feed `yaml:"feeds"`
	// FeedCheck is how often a feed file is checked for change; a changed
	// file is read again (default 30s).
	FeedCheck filters.Duration `yaml:"feed_check"`
}

// Feed is one local list of phishing URLs or domains.
type Feed struct {
	// Name names the feed in PHISH_FEED's detail.
	Name string `yaml:"name"`
	// File is its path: one URL (kind url) or domain (kind domain) a
	// line; blank lines and lines starting with '#' are skipped.
	File string `yaml:"file"`
	// Kind is "url" (a link matches when it starts with a listed URL,
	// scheme and trailing slash aside) or "domain" (its host is a listed
	// domain or under one).
	Kind string `yaml:"kind"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Enabled:          true,
		BuiltinBrands:    true,
		Brands:           []Brand{},
		OwnDomains:       []string{},
		RecipientDomains: true,
		Freemail:         []string{},
		Shorteners:       []string{},
		FreeHosting:      []string{},
		Feeds:            []Feed{},
		FeedCheck:        filters.Duration(30 * time.Second),
	}
}

// Validate reports the first invalid key, named as in the file.
func (c Config) Validate() error {
	for i, b := range c.Brands {
		if strings.TrimSpace(b.Name) == "" {
			return fmt.Errorf("phishing: phishing.brands[%d].name: a brand needs a name", i)
		}
		for _, d := range b.Domains {
			if urlcheck.RegistrableDomain(d, urlcheck.Registry) == "" {
				return fmt.Errorf("phishing: phishing.brands[%d].domains: %q is not a registrable domain", i, d)
			}
		}
	}
	for _, d := range c.OwnDomains {
		if urlcheck.RegistrableDomain(d, urlcheck.Registry) == "" {
			return fmt.Errorf("phishing: phishing.own_domains: %q is not a registrable domain", d)
		}
	}
	for i, f := range c.Feeds {
		switch {
		case strings.TrimSpace(f.Name) == "":
			return fmt.Errorf("phishing: phishing.feeds[%d].name: a feed needs a name", i)
		case f.File == "":
			return fmt.Errorf("phishing: phishing.feeds[%d].file: a feed needs a file", i)
		case f.Kind != "url" && f.Kind != "domain":
			return fmt.Errorf("phishing: phishing.feeds[%d].kind: %q: want url or domain", i, f.Kind)
		}
	}
	if c.FeedCheck <= 0 {
		return fmt.Errorf("phishing: phishing.feed_check: %v must be positive", time.Duration(c.FeedCheck))
	}
	return nil
}
