package weights

import (
	"fmt"
	"math"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// Config is the top-level `weights:` section.
type Config struct {
	// Enabled learns symbol weights from every report and uses them once
	// MinReports reports were learned. Default true (see README.md: on the
	// measured corpora the learned weights catch more spam at the same
	// false positives than the hand-set ones).
	Enabled bool `yaml:"enabled"`
	// MinReports is how many reports (decayed like every count) the model
	// must have learned before its weights are used at all; below it every
	// symbol keeps its hand-set score. From MinReports to twice that the
	// learned weights are blended in linearly, and used alone beyond.
	// Default 200.
	MinReports float64 `yaml:"min_reports"`
	// Rate is the learning rate: how far one report moves a weight, in
	// score points per unit of error. Default 0.1.
	Rate float64 `yaml:"rate"`
	// Temperature is how many score points around the tag threshold make
	// the model's odds of spam change by a factor e: the smaller, the more
	// it learns only from messages near the threshold. Default 1.
	Temperature float64 `yaml:"temperature"`
	// HamCost is how much more a ham report counts than a spam report,
	// after the classes are balanced by their report counts: a false
	// positive costs more than a missed spam. Default 100.
	HamCost float64 `yaml:"ham_cost"`
	// MaxShift bounds how far a learned weight may move from the symbol's
	// hand-set weight (in score points). A weight never changes sign: a
	// symbol that is evidence of spam stays so. Default 4.
	MaxShift float64 `yaml:"max_shift"`
	// CacheTTL is how long the weights read from the store are used before
	// they are read again (a report learned by this process refreshes them
	// at once). Default 10s.
	CacheTTL filters.Duration `yaml:"cache_ttl"`
	// Timeout bounds the store read on the message path. Default 200ms;
	// when it fails the hand-set scores are used.
	Timeout filters.Duration `yaml:"timeout"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Enabled:     true,
		MinReports:  200,
		Rate:        0.1,
		Temperature: 1,
		HamCost:     100,
		MaxShift:    4,
		CacheTTL:    filters.Duration(10 * time.Second),
		Timeout:     filters.Duration(200 * time.Millisecond),
	}
}

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(c.MinReports) || c.MinReports < 0:
		return fmt.Errorf("weights: weights.min_reports: %v must be a finite number >= 0", c.MinReports)
	case !finite(c.Rate) || c.Rate <= 0 || c.Rate > 10:
		return fmt.Errorf("weights: weights.rate: %v is outside (0, 10]", c.Rate)
	case !finite(c.Temperature) || c.Temperature <= 0 || c.Temperature > 100:
		return fmt.Errorf("weights: weights.temperature: %v is outside (0, 100]", c.Temperature)
	case !finite(c.HamCost) || c.HamCost <= 0 || c.HamCost > 1000:
		return fmt.Errorf("weights: weights.ham_cost: %v is outside (0, 1000]", c.HamCost)
	case !finite(c.MaxShift) || c.MaxShift < 0 || c.MaxShift > 100:
		return fmt.Errorf("weights: weights.max_shift: %v is outside [0, 100]", c.MaxShift)
	case c.CacheTTL < 0:
		return fmt.Errorf("weights: weights.cache_ttl: %s is negative", c.CacheTTL)
	case c.Timeout <= 0:
		return fmt.Errorf("weights: weights.timeout: %s must be positive", c.Timeout)
	}
	return nil
}
