package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/lists"
	"github.com/vigilmail/vigil/urlcheck"
)

// Settings is one entry of `settings:`: how the mail of some recipients
// is judged. A key left out keeps the value of the configuration's
// top level (actions, policy.dry_run, scores).
type Settings struct {
	// Name names the entry in the log and in `check --json`
	// (letters, digits, '.', '-', '_').
	Name string `yaml:"name"`
	// RcptDomains are recipient domains, each matching itself and its
	// subdomains. Default none.
	RcptDomains []string `yaml:"rcpt_domains"`
	// Rcpts are recipient addresses. An entry naming the address wins
	// over one naming its domain, and the longest domain over a shorter
	// one. Default none.
	Rcpts []string `yaml:"rcpts"`
	// DryRun: like policy.dry_run, for these recipients. Default: as
	// policy.dry_run.
	DryRun *bool `yaml:"dry_run"`
	// Actions are these recipients' thresholds; a threshold left out is
	// the top-level one. Default: as actions.
	Actions SettingsActions `yaml:"actions"`
	// Scores override symbol scores for these recipients, over the
	// top-level scores. Default none.
	Scores map[string]float64 `yaml:"scores"`
	// Disable names checks whose symbols do not count for these
	// recipients (the check column of the symbols documentation); a
	// check every recipient of a message disables does not run. Default
	// none.
	Disable []string `yaml:"disable"`
}

// SettingsActions are the thresholds of a settings entry.
type SettingsActions struct {
	// Tag: default actions.tag.
	Tag *float64 `yaml:"tag"`
	// Quarantine: default actions.quarantine (0 = off).
	Quarantine *float64 `yaml:"quarantine"`
	// Reject: default actions.reject.
	Reject *float64 `yaml:"reject"`
}

var settingsName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validateSettings checks the settings entries; errors name the key.
func (c *Config) validateSettings(bad func(key string, v any, why string), known map[string]bool) {
	names := map[string]int{}
	addrs := map[string]string{}
	domains := map[string]string{}
	for i, s := range c.Settings {
		key := fmt.Sprintf("settings[%d]", i)
		if !settingsName.MatchString(s.Name) {
			bad(key+".name", fmt.Sprintf("%q", s.Name), "want letters, digits, '.', '-' or '_'")
		} else if j, dup := names[s.Name]; dup {
			bad(key+".name", fmt.Sprintf("%q", s.Name), fmt.Sprintf("already the name of settings[%d]", j))
		} else {
			names[s.Name] = i
		}
		if len(s.RcptDomains) == 0 && len(s.Rcpts) == 0 {
			bad(key, s.Name, "no rcpt_domains and no rcpts: it would apply to nobody")
		}
		for j, d := range s.RcptDomains {
			k := fmt.Sprintf("%s.rcpt_domains[%d]", key, j)
			n := urlcheck.DomainName(d)
			switch {
			case n == "":
				bad(k, fmt.Sprintf("%q", d), "not a domain")
			case domains[n] != "":
				bad(k, fmt.Sprintf("%q", d), "already in "+domains[n])
			default:
				domains[n] = k
			}
		}
		for j, a := range s.Rcpts {
			k := fmt.Sprintf("%s.rcpts[%d]", key, j)
			local, dom, ok := strings.Cut(a, "@")
			n := strings.ToLower(a)
			switch {
			case !ok || local == "" || urlcheck.DomainName(dom) == "":
				bad(k, fmt.Sprintf("%q", a), "not an address (user@domain)")
			case addrs[n] != "":
				bad(k, fmt.Sprintf("%q", a), "already in "+addrs[n])
			default:
				addrs[n] = k
			}
		}
		p := c.settingsPolicy(s)
		if p.Tag <= 0 {
			bad(key+".actions.tag", p.Tag, "must be positive")
		}
		if p.Reject <= p.Tag {
			bad(key+".actions.reject", p.Reject, fmt.Sprintf("must be greater than its tag threshold (%v)", p.Tag))
		}
		if p.Quarantine != 0 && (p.Quarantine < p.Tag || p.Quarantine > p.Reject) {
			bad(key+".actions.quarantine", p.Quarantine, fmt.Sprintf("must be 0 (off) or between its tag (%v) and reject (%v) thresholds", p.Tag, p.Reject))
		}
		for _, sym := range sortedKeys(s.Scores) {
			if why := unknownScore(sym, known); why != "" {
				bad(key+".scores."+sym, s.Scores[sym], why)
			}
		}
		for j, d := range s.Disable {
			if _, ok := checkNames()[d]; !ok {
				bad(fmt.Sprintf("%s.disable[%d]", key, j), fmt.Sprintf("%q", d), "not a check (want one of "+strings.Join(sortedKeys(checkNames()), ", ")+")")
			}
		}
	}
}

// checkNames are the checks Vigil declares (the catalogue).
func checkNames() map[string]bool {
	out := map[string]bool{}
	for _, c := range filters.Checks() {
		out[c.Name] = true
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// settingsPolicy is the complete policy of a settings entry: its keys
// over the top-level ones.
func (c *Config) settingsPolicy(s Settings) filters.Policy {
	p := c.FiltersPolicy()
	if s.DryRun != nil {
		p.DryRun = *s.DryRun
	}
	if s.Actions.Tag != nil {
		p.Tag = *s.Actions.Tag
	}
	if s.Actions.Quarantine != nil {
		p.Quarantine = *s.Actions.Quarantine
	}
	if s.Actions.Reject != nil {
		p.Reject = *s.Actions.Reject
	}
	if len(s.Scores) > 0 {
		scores := make(map[string]float64, len(c.Scores)+len(s.Scores))
		for k, v := range c.Scores {
			scores[k] = v
		}
		for k, v := range s.Scores {
			scores[k] = v
		}
		p.Scores = scores
	}
	return p
}

// RcptPolicies are the settings entries as the engine uses them, each
// with its complete policy.
func (c *Config) RcptPolicies() []filters.RcptPolicy {
	out := make([]filters.RcptPolicy, 0, len(c.Settings))
	for _, s := range c.Settings {
		out = append(out, filters.RcptPolicy{
			Name:    s.Name,
			Policy:  c.settingsPolicy(s),
			Disable: s.Disable,
			Domains: s.RcptDomains,
			Rcpts:   s.Rcpts,
		})
	}
	return out
}

// validateLists checks the lists: entries, and that no list takes the
// name of another symbol (a check's, a blocklist's, even one switched
// off).
func (c *Config) validateLists() error {
	return lists.Validate(c.Lists, c.symbolOwner)
}
