// Package config is Vigil's one typed configuration: the YAML keys of
// docs/config.md, their defaults, and validation whose errors name the key and
// the bad value. deploy/vigil.yaml documents every key with its default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/follow"
	"github.com/vigilmail/vigil/filters/lists"
	"github.com/vigilmail/vigil/filters/nameservers"
	"github.com/vigilmail/vigil/filters/phishing"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/weights"
	"github.com/vigilmail/vigil/milter"
)

// Config is the whole configuration.
type Config struct {
	Milter  Milter  `yaml:"milter"`
	Limits  Limits  `yaml:"limits"`
	Actions Actions `yaml:"actions"`
	// Scores overrides the score of symbols: the key is a symbol's name
	// (MISSING_MESSAGE_ID, SPAMHAUS_ZEN, a list's name), the value its new
	// score; 0 silences a symbol. Default: none, every symbol keeps its own.
	Scores map[string]float64 `yaml:"scores"`
	Policy Policy             `yaml:"policy"`
	Log    Log                `yaml:"log"`
	// DNS is the one resolver every check uses (dnsrep.Config).
	DNS dnsrep.Config `yaml:"dns"`
	// Blocklists are the DNS lists; each list's symbol is its name. The
	// built-in lists, with their return codes and why each scores what it
	// does, are in the example configuration.
	Blocklists []dnsbl.List `yaml:"blocklists"`
	// DNSBL is the dnsbl check's per-message budget and probes.
	DNSBL dnsbl.Budgets `yaml:"dnsbl"`
	// Nameservers bounds the NS resolution of the nameservers check.
	Nameservers nameservers.Config `yaml:"nameservers"`
	// Auth is SPF, DKIM, DMARC, ARC and the Authentication-Results id.
	Auth auth.Config `yaml:"auth"`
	// Content caps MIME and HTML extraction.
	Content content.Config `yaml:"content"`
	// Reputation is the feedback-learned store (bbolt in reputation.path
	// by default, or Redis).
	Reputation reputation.Config `yaml:"reputation"`
	// Bayes is the statistical content classifier (learned from feedback).
	Bayes bayes.Config `yaml:"bayes"`
	// Weights learns the weights of symbols from the same feedback.
	Weights weights.Config `yaml:"weights"`
	// Follow follows links to their landing pages (off by default).
	Follow follow.Config `yaml:"follow"`
	// Phishing is the phishing check: brands, look-alikes, credential
	// forms, dangerous files, QR codes, free hosting, feeds.
	Phishing phishing.Config `yaml:"phishing"`
	// Admin is the HTTP admin listener (feedback, DNS flush, metrics).
	Admin Admin `yaml:"admin"`
	// Lists are the operator's allow, deny and score lists; each list's
	// name is its symbol. Default none.
	Lists []lists.List `yaml:"lists"`
	// Settings are policies for some recipient domains and addresses
	// (dry run, thresholds, scores, disabled checks). Default none.
	Settings []Settings `yaml:"settings"`
	// Include are files merged over this one, in the order of their file
	// names (conf.d style): glob patterns, relative to this file's
	// directory. A mapping merges key by key; lists, settings and
	// blocklists merge entry by entry (an entry with the name of an
	// earlier one replaces it); other lists are replaced whole. Only the
	// main file includes. Default none.
	Include []string `yaml:"include"`

	// Warnings are what the file said that still works but should change
	// (deprecated keys); the commands log them once the logger exists.
	Warnings []string `yaml:"-"`
}

// Admin is the admin: section. Off unless listen is set.
type Admin struct {
	// Listen is HOST:PORT; "" (default) disables the admin listener.
	// Keep it on loopback: it accepts feedback that moves reputation.
	Listen string `yaml:"listen"`
	// Token is the bearer token every request but /healthz needs, at least
	// MinTokenLength characters.
	Token string `yaml:"token"`
	// TokenFile reads the token from a file instead (first line).
	TokenFile string `yaml:"token_file"`
	// MaxBody caps one reported message: a larger one is refused with 413.
	// Default 64MiB.
	MaxBody ByteSize `yaml:"max_body"`
	// MaxConcurrent bounds the reports learned at once; more wait briefly,
	// then get 503 with Retry-After. Memory for learning is about
	// max_concurrent × max_body. Default 2.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// MinTokenLength is the shortest admin token accepted: a bearer token
// guards feedback that moves reputation, and a short one is guessed.
const MinTokenLength = 16

// Milter is the milter: section.
type Milter struct {
	// Listen: inet:HOST:PORT, inet6:[HOST]:PORT or unix:PATH.
	// Default inet:127.0.0.1:11340 (loopback only).
	Listen string `yaml:"listen"`
	// ReadTimeout: longest wait for the MTA's next packet. Default 10m
	// (longer than Postfix's smtpd_timeout of 300s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout: longest wait to send a reply. Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// ProgressInterval: progress notices while a verdict takes long. Default 10s.
	ProgressInterval time.Duration `yaml:"progress_interval"`
	// ShutdownTimeout: how long SIGTERM waits for in-flight messages. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Limits is the limits: section.
type Limits struct {
	// MaxMessageSize: larger bodies are judged on headers and envelope
	// only (symbol MESSAGE_TOO_BIG). Default 50MiB.
	MaxMessageSize ByteSize `yaml:"max_message_size"`
	// SpoolMemory: bodies up to this stay in memory. Default 1MiB.
	SpoolMemory ByteSize `yaml:"spool_memory"`
	// SpoolDir: where larger bodies spill (unlinked temp files). Default: $TMPDIR.
	SpoolDir string `yaml:"spool_dir"`
	// MaxPacket: largest milter packet accepted. Default 2MiB.
	MaxPacket ByteSize `yaml:"max_packet"`
	// MaxHeaders / MaxHeaderBytes: header block caps. Default 1000 / 1MiB.
	MaxHeaders     int      `yaml:"max_headers"`
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxRecipients kept per message. Default 1000.
	MaxRecipients int `yaml:"max_recipients"`
	// CheckTimeout bounds each check. Default 5s.
	CheckTimeout time.Duration `yaml:"check_timeout"`
	// MessageTimeout bounds the whole pipeline for one message. Default 15s.
	MessageTimeout time.Duration `yaml:"message_timeout"`
}

// Actions is the actions: section: score thresholds (inclusive).
type Actions struct {
	// Tag: X-Spam-Flag: YES at this score. Default 5.
	Tag float64 `yaml:"tag"`
	// Quarantine: milter quarantine at this score; 0 = off. Default 0.
	Quarantine float64 `yaml:"quarantine"`
	// Reject: 550 5.7.1 at this score. Default 15.
	Reject float64 `yaml:"reject"`
}

// Policy is the policy: section.
type Policy struct {
	// DryRun never rejects, quarantines or tempfails: headers are added and
	// the would-be action is logged. Default false.
	DryRun bool `yaml:"dry_run"`
	// FailClosed lists checks whose errors tempfail the message instead of
	// being ignored. Default none (fail open).
	FailClosed []string `yaml:"fail_closed"`
}

// Log is the log: section.
type Log struct {
	// Level: debug, info, warn, error. Default info.
	Level string `yaml:"level"`
	// Format: text or json. Default text.
	Format string `yaml:"format"`
}

// Default returns the built-in defaults (what `vigil serve` runs with no file).
func Default() Config {
	return Config{
		Milter: Milter{
			Listen:           "inet:127.0.0.1:11340",
			ReadTimeout:      10 * time.Minute,
			WriteTimeout:     10 * time.Second,
			ProgressInterval: 10 * time.Second,
			ShutdownTimeout:  30 * time.Second,
		},
		Limits: Limits{
			MaxMessageSize: 50 << 20,
			SpoolMemory:    1 << 20,
			MaxPacket:      2 << 20,
			MaxHeaders:     1000,
			MaxHeaderBytes: 1 << 20,
			MaxRecipients:  1000,
			CheckTimeout:   5 * time.Second,
			MessageTimeout: 15 * time.Second,
		},
		Actions:     Actions{Tag: 5, Quarantine: 0, Reject: 15},
		Scores:      map[string]float64{},
		Log:         Log{Level: "info", Format: "text"},
		DNS:         dnsrep.DefaultConfig(),
		Blocklists:  dnsbl.DefaultLists(),
		DNSBL:       dnsbl.DefaultBudgets(),
		Nameservers: nameservers.DefaultConfig(),
		Auth:        auth.DefaultConfig(),
		Content:     content.DefaultConfig(),
		Reputation:  reputation.DefaultConfig(),
		Follow:      follow.DefaultConfig(),
		Bayes:       bayes.DefaultConfig(),
		Weights:     weights.DefaultConfig(),
		Phishing:    phishing.DefaultConfig(),
		Admin:       Admin{MaxBody: 64 << 20, MaxConcurrent: 2},
		Lists:       []lists.List{},
		Settings:    []Settings{},
		Include:     []string{},
	}
}

// ErrNoSettings is returned for a file that holds no setting at all (empty,
// blank or only comments): most likely a file caught half-written, which
// must not silently become "the defaults" (blocklists, DNS servers and
// thresholds reverting on a reload). Run without --config for the defaults.
var ErrNoSettings = errors.New("the file holds no settings (empty or only comments); start without --config to run on the built-in defaults")

// Load reads a config file over the defaults. path "" returns the defaults.
func Load(path string) (Config, error) {
	if path == "" {
		c := Default()
		return c, c.Validate()
	}
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes))
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := parse(data, path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", path, errors.Unwrap(err))
	}
	return c, nil
}

// Parse reads YAML over the defaults and validates the result. Its
// include: patterns are relative to the current directory.
func Parse(r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes))
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return parse(data, "")
}

// parse reads the main file's data (at path, "" when it has none) over
// the defaults, merges its include: files over it, and validates.
func parse(data []byte, path string) (Config, error) {
	c := Default()
	if len(bytes.TrimSpace(data)) == 0 {
		return Config{}, fmt.Errorf("config: %w", ErrNoSettings)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, fmt.Errorf("config: %w", syntaxError(data, err))
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && (len(root.Content) == 0 || root.Content[0].Tag == "!!null")) {
		return Config{}, fmt.Errorf("config: %w", ErrNoSettings)
	}
	warnings := moveDeprecated(&root)
	kc := keyChecker{lines: map[string]int{}}
	kc.check(&root, reflect.TypeOf(c), "")
	inc, incWarnings, incErrs := mergeIncludes(&root, path)
	if errs := append(kc.errs, incErrs...); len(errs) > 0 {
		return Config{}, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	if err := root.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", cleanYAMLError(err))
	}
	c.Warnings = append(warnings, incWarnings...)
	if err := c.Validate(); err != nil {
		return Config{}, withPositions(err, kc.lines, inc)
	}
	return c, nil
}

func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return err
}

// Validate checks every value; the error names the key and the bad value.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, v any, why string) {
		errs = append(errs, fmt.Errorf("%s: %v: %s", key, v, why))
	}
	if _, _, err := milter.ParseListen(c.Milter.Listen); err != nil {
		bad("milter.listen", fmt.Sprintf("%q", c.Milter.Listen), "want inet:HOST:PORT, inet6:[HOST]:PORT or unix:PATH")
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, d, "must be positive")
		}
	}
	positive("milter.read_timeout", c.Milter.ReadTimeout)
	positive("milter.write_timeout", c.Milter.WriteTimeout)
	positive("milter.progress_interval", c.Milter.ProgressInterval)
	positive("milter.shutdown_timeout", c.Milter.ShutdownTimeout)
	positive("limits.check_timeout", c.Limits.CheckTimeout)
	positive("limits.message_timeout", c.Limits.MessageTimeout)
	if c.Limits.CheckTimeout > c.Limits.MessageTimeout {
		bad("limits.check_timeout", c.Limits.CheckTimeout, fmt.Sprintf("must not exceed limits.message_timeout (%s)", c.Limits.MessageTimeout))
	}
	if c.Limits.MaxMessageSize <= 0 {
		bad("limits.max_message_size", c.Limits.MaxMessageSize, "must be positive")
	}
	if c.Limits.SpoolMemory < 0 {
		bad("limits.spool_memory", c.Limits.SpoolMemory, "must not be negative")
	}
	if c.Limits.MaxPacket < 64<<10 || c.Limits.MaxPacket > 64<<20 {
		bad("limits.max_packet", c.Limits.MaxPacket, "must be between 64KiB and 64MiB (MTAs send chunks up to 1MiB)")
	}
	if c.Limits.MaxHeaders <= 0 {
		bad("limits.max_headers", c.Limits.MaxHeaders, "must be positive")
	}
	if c.Limits.MaxHeaderBytes <= 0 {
		bad("limits.max_header_bytes", c.Limits.MaxHeaderBytes, "must be positive")
	}
	if c.Limits.MaxRecipients <= 0 {
		bad("limits.max_recipients", c.Limits.MaxRecipients, "must be positive")
	}
	if c.Actions.Tag <= 0 {
		bad("actions.tag", c.Actions.Tag, "must be positive")
	}
	if c.Actions.Reject <= c.Actions.Tag {
		bad("actions.reject", c.Actions.Reject, fmt.Sprintf("must be greater than actions.tag (%v)", c.Actions.Tag))
	}
	if c.Actions.Quarantine != 0 && (c.Actions.Quarantine < c.Actions.Tag || c.Actions.Quarantine > c.Actions.Reject) {
		bad("actions.quarantine", c.Actions.Quarantine, fmt.Sprintf("must be 0 (off) or between actions.tag (%v) and actions.reject (%v)", c.Actions.Tag, c.Actions.Reject))
	}
	names := make([]string, 0, len(c.Scores))
	for k := range c.Scores {
		names = append(names, k)
	}
	sort.Strings(names)
	known := c.knownSymbols()
	for _, k := range names {
		if why := unknownScore(k, known); why != "" {
			bad("scores."+k, c.Scores[k], why)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", fmt.Sprintf("%q", c.Log.Level), "want debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", fmt.Sprintf("%q", c.Log.Format), "want text or json")
	}
	if err := c.DNS.Validate(); err != nil {
		errs = append(errs, unprefix(err))
	}
	if err := dnsbl.ValidateLists(c.Blocklists); err != nil {
		errs = append(errs, each(err)...)
	}
	if err := c.DNSBL.Validate(); err != nil {
		errs = append(errs, unprefix(err))
	}
	for _, v := range []interface{ Validate() error }{c.Nameservers, c.Auth, c.Content, c.Reputation, c.Follow, c.Bayes, c.Phishing, c.Weights} {
		if err := v.Validate(); err != nil {
			errs = append(errs, unprefix(err))
		}
	}
	if c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			bad("admin.listen", fmt.Sprintf("%q", c.Admin.Listen), "want HOST:PORT")
		}
		if c.Admin.Token == "" && c.Admin.TokenFile == "" {
			bad("admin.token", `""`, "admin.listen is set: a token (or admin.token_file) is required")
		}
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < MinTokenLength {
		// The value is a secret: say how long it is, never what it is.
		bad("admin.token", fmt.Sprintf("(%d characters)", len(c.Admin.Token)), fmt.Sprintf("too short: use at least %d random characters", MinTokenLength))
	}
	if c.Admin.MaxBody <= 0 {
		bad("admin.max_body", c.Admin.MaxBody, "must be positive")
	}
	if c.Admin.MaxConcurrent <= 0 {
		bad("admin.max_concurrent", c.Admin.MaxConcurrent, "must be positive")
	}
	if err := c.validateLists(); err != nil {
		errs = append(errs, each(err)...)
	}
	c.validateSettings(bad, known)
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// each is the errors a section joined, each unprefixed, so that each
// gets the line of its own key.
func each(err error) []error {
	inner := err
	if u := errors.Unwrap(err); u != nil {
		inner = u
	}
	j, ok := inner.(interface{ Unwrap() []error })
	if !ok {
		return []error{unprefix(err)}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, unprefix(e))
	}
	return out
}

// unprefix drops the "pkg: config: " prefixes of a section's validation
// error so the message starts with the key.
func unprefix(err error) error {
	msg := err.Error()
	for _, p := range []string{"dnsrep: ", "dnsbl: ", "nameservers: ", "config: ", "auth: ", "content: ", "reputation: ", "follow: ", "bayes: ", "phishing: ", "lists: ", "weights: "} {
		for strings.HasPrefix(msg, p) {
			msg = strings.TrimPrefix(msg, p)
		}
	}
	return errors.New(msg)
}

func validSymbol(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// MilterConfig is the milter package's view of the configuration.
func (c *Config) MilterConfig() milter.Config {
	return milter.Config{
		Listen:           c.Milter.Listen,
		ReadTimeout:      c.Milter.ReadTimeout,
		WriteTimeout:     c.Milter.WriteTimeout,
		MaxPacket:        uint32(c.Limits.MaxPacket),
		MaxMessageSize:   int64(c.Limits.MaxMessageSize),
		SpoolMemory:      int64(c.Limits.SpoolMemory),
		SpoolDir:         c.Limits.SpoolDir,
		MaxHeaders:       c.Limits.MaxHeaders,
		MaxHeaderBytes:   int(c.Limits.MaxHeaderBytes),
		MaxRecipients:    c.Limits.MaxRecipients,
		ProgressInterval: c.Milter.ProgressInterval,
	}
}

// MessageLimits bound a message read outside the milter (check, learn, the
// admin listener) exactly as the milter bounds one from the MTA.
func (c *Config) MessageLimits() filters.Limits {
	return filters.Limits{
		MaxHeaders:     c.Limits.MaxHeaders,
		MaxHeaderBytes: int64(c.Limits.MaxHeaderBytes),
		MaxBody:        int64(c.Limits.MaxMessageSize),
	}
}

// FiltersPolicy is the verdict policy.
func (c *Config) FiltersPolicy() filters.Policy {
	return filters.Policy{
		Tag:        c.Actions.Tag,
		Quarantine: c.Actions.Quarantine,
		Reject:     c.Actions.Reject,
		Scores:     c.Scores,
		DryRun:     c.Policy.DryRun,
	}
}
