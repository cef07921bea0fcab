package bayes

import (
	"fmt"
	"math"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// Config is the top-level `bayes:` key.
type Config struct {
	// Enabled turns the check on. Default true; it stays silent anyway
	// until MinSpam and MinHam messages have been learned.
	Enabled bool `yaml:"enabled"`
	// MinSpam and MinHam are the numbers of learned spam and ham messages
	// (decayed like every count) before the classifier speaks. Default 50
	// each.
	MinSpam float64 `yaml:"min_spam"`
	MinHam  float64 `yaml:"min_ham"`
	// SpamThreshold and HamThreshold bound the unsure band: a probability
	// at or above SpamThreshold is BAYES_SPAM, at or below HamThreshold
	// BAYES_HAM, anything in between scores nothing. Defaults 0.5 and 0.5:
	// no unsure band, the score says how sure.
	SpamThreshold float64 `yaml:"spam_threshold"`
	HamThreshold  float64 `yaml:"ham_threshold"`
	// SpamFull and HamFull are the probabilities at which BAYES_SPAM and
	// BAYES_HAM reach their full scores. From the threshold to there the
	// score grows linearly in log-odds. Defaults 0.99995 and 0.00005
	// (log-odds ±10).
	SpamFull float64 `yaml:"spam_full"`
	HamFull  float64 `yaml:"ham_full"`
	// MaxScore is the score of BAYES_SPAM at spam_full and above (default
	// 7.5: at 0.9987 it reaches the tag threshold 5 on its own); MinScore
	// the score of BAYES_HAM at ham_full and below (default -5).
	MaxScore float64 `yaml:"max_score"`
	MinScore float64 `yaml:"min_score"`
	// MaxTokens caps the unique tokens taken from one message (default
	// 2000): it bounds the store read and the learned record.
	MaxTokens int `yaml:"max_tokens"`
	// Timeout bounds the store read on the message path (default 200ms).
	Timeout filters.Duration `yaml:"timeout"`
	// Autolearn learns verdicts far past the thresholds (off by default).
	Autolearn AutolearnConfig `yaml:"autolearn"`
}

// AutolearnConfig is `bayes.autolearn:`.
type AutolearnConfig struct {
	// Enabled turns auto-learning on. Default false.
	Enabled bool `yaml:"enabled"`
	// SpamScore: a message whose score without the BAYES_* symbols is at
	// least this is learned as spam (default 12).
	SpamScore float64 `yaml:"spam_score"`
	// HamScore: a message whose score without the BAYES_* symbols is at
	// most this is learned as ham (default -2).
	HamScore float64 `yaml:"ham_score"`
}

// DefaultConfig returns the documented defaults. The thresholds were
// chosen by 5-fold cross-validation inside the training folders of the
// SpamAssassin corpus (easy_ham, hard_ham, spam), see README.md.
func DefaultConfig() Config {
	return Config{
		Enabled:       true,
		MinSpam:       50,
		MinHam:        50,
		SpamThreshold: 0.5,
		HamThreshold:  0.5,
		SpamFull:      0.99995,
		HamFull:       0.00005,
		MaxScore:      7.5,
		MinScore:      -5.0,
		MaxTokens:     2000,
		Timeout:       filters.Duration(200 * time.Millisecond),
		Autolearn: AutolearnConfig{
			Enabled:   false,
			SpamScore: 12,
			HamScore:  -2,
		},
	}
}

// Validate reports the first invalid key, named as in the config file.
func (c Config) Validate() error {
	finite := func(key string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bayes: bayes.%s: %v is not a number", key, v)
		}
		return nil
	}
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"min_spam", c.MinSpam}, {"min_ham", c.MinHam},
		{"spam_threshold", c.SpamThreshold}, {"ham_threshold", c.HamThreshold},
		{"spam_full", c.SpamFull}, {"ham_full", c.HamFull},
		{"max_score", c.MaxScore}, {"min_score", c.MinScore},
		{"autolearn.spam_score", c.Autolearn.SpamScore}, {"autolearn.ham_score", c.Autolearn.HamScore},
	} {
		if err := finite(f.key, f.v); err != nil {
			return err
		}
	}
	switch {
	case c.MinSpam < 1:
		return fmt.Errorf("bayes: bayes.min_spam: %v is below the minimum 1", c.MinSpam)
	case c.MinHam < 1:
		return fmt.Errorf("bayes: bayes.min_ham: %v is below the minimum 1", c.MinHam)
	case c.SpamThreshold < 0.5 || c.SpamThreshold > 1:
		return fmt.Errorf("bayes: bayes.spam_threshold: %v is outside [0.5, 1]", c.SpamThreshold)
	case c.HamThreshold < 0 || c.HamThreshold > 0.5:
		return fmt.Errorf("bayes: bayes.ham_threshold: %v is outside [0, 0.5]", c.HamThreshold)
	case c.SpamFull < c.SpamThreshold || c.SpamFull > 1:
		return fmt.Errorf("bayes: bayes.spam_full: %v is outside [spam_threshold %v, 1]", c.SpamFull, c.SpamThreshold)
	case c.HamFull > c.HamThreshold || c.HamFull < 0:
		return fmt.Errorf("bayes: bayes.ham_full: %v is outside [0, ham_threshold %v]", c.HamFull, c.HamThreshold)
	case c.MaxScore < 0 || c.MaxScore > 100:
		return fmt.Errorf("bayes: bayes.max_score: %v is outside [0, 100]", c.MaxScore)
	case c.MinScore > 0 || c.MinScore < -100:
		return fmt.Errorf("bayes: bayes.min_score: %v is outside [-100, 0]", c.MinScore)
	case c.MaxTokens < 10 || c.MaxTokens > 100000:
		return fmt.Errorf("bayes: bayes.max_tokens: %d is outside [10, 100000]", c.MaxTokens)
	case c.Timeout <= 0:
		return fmt.Errorf("bayes: bayes.timeout: %v must be positive", time.Duration(c.Timeout))
	case c.Autolearn.Enabled && c.Autolearn.HamScore >= c.Autolearn.SpamScore:
		return fmt.Errorf("bayes: bayes.autolearn.ham_score: %v is not below bayes.autolearn.spam_score %v",
			c.Autolearn.HamScore, c.Autolearn.SpamScore)
	}
	return nil
}
