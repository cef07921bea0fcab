// Package engine assembles the pipeline: which check runs in which stage,
// written once here, and the headers a verdict adds. `vigil serve` and
// `vigil check` both use it, so a result seen offline is the result the MTA
// gets.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth"
	"github.com/vigilmail/vigil/filters/auth/authres"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/follow"
	"github.com/vigilmail/vigil/filters/headers"
	"github.com/vigilmail/vigil/filters/lists"
	"github.com/vigilmail/vigil/filters/nameservers"
	"github.com/vigilmail/vigil/filters/phishing"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/filters/weights"
)

// Options are what the engine is built from.
type Options struct {
	Policy     filters.Policy
	FailClosed []string
	Pipeline   *filters.Pipeline
	// AuthservID is our RFC 8601 authserv-id.
	AuthservID string
	// Limits bound a message read for learning as the milter bounds one
	// from the MTA: header fields and bytes (the body is bounded by
	// feedback.MaxInputMessage instead).
	Limits filters.Limits
	Log    *slog.Logger

	// Resolver is the process's one DNS resolver; nil disables every
	// DNS-based check (tests of DNS-free checks).
	Resolver   DNS
	Blocklists []dnsbl.List
	Budgets    dnsbl.Budgets
	// Nameservers bounds the nameservers check; the zero value means its
	// defaults (its keys were part of Budgets before).
	Nameservers nameservers.Config
	Auth        auth.Config
	Content     content.Config
	// Store is the feedback-learned reputation store; nil disables the
	// reputation check and learning.
	Store      store.Store
	Reputation reputation.Config
	Follow     follow.Config
	Bayes      bayes.Config
	// Weights learns symbol weights from the reports (when the store can
	// keep them: every backend can).
	Weights weights.Config
	// Phishing is the phishing check's configuration; the zero value
	// means its defaults.
	Phishing phishing.Config
	// Lists are the operator's allow, deny and score lists; ListsPoll is
	// how often their files are looked at (0: lists.DefaultPoll).
	Lists     []lists.List
	ListsPoll time.Duration
	// Settings are the policies of some recipients (settings: in the
	// configuration), each complete; Policy is everyone else's.
	Settings []filters.RcptPolicy
}

// DNS is what the engine needs of the resolver.
type DNS interface {
	dnsrep.Querier
	dnsrep.StdResolver
}

// Engine runs the pipeline and renders verdict headers. It implements
// milter.Engine.
type Engine struct {
	opts     Options
	pipeline *filters.Pipeline

	dnsbl  *dnsbl.Check
	cancel context.CancelFunc

	// Learning runs the fact-producing checks on a reported message.
	content *content.Check
	follow  *follow.Check
	// autolearn queues verdicts far past the thresholds for learning off
	// the message path (bbolt fsyncs); nil when auto-learning is off.
	autolearn chan autolearnJob
	ns        *nameservers.Check
	bayes     *bayes.Check
	// weights are the learned symbol weights; nil when off.
	weights *weights.Model
	lists   *lists.Check
	// rcpts finds each recipient's policy.
	rcpts *filters.RcptPolicies
}

// New builds the engine. The stage of every check is decided here.
func New(o Options) (*Engine, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	p := o.Pipeline
	fail := map[string]bool{}
	for _, n := range o.FailClosed {
		fail[n] = true
	}
	mode := func(name string) filters.ErrorMode {
		if fail[name] {
			return filters.FailClosed
		}
		return filters.FailOpen
	}
	add := func(s filters.StageID, c filters.Check) {
		p.Add(s, c, mode(c.Name()))
	}
	e := &Engine{opts: o, pipeline: p}
	rp, err := filters.NewRcptPolicies(o.Policy, o.Settings)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.rcpts = rp
	if o.AuthservID == "" {
		o.AuthservID = o.Auth.AuthservID
		e.opts.AuthservID = o.AuthservID
	}
	hc, err := headers.New(headers.Config{}, headers.Deps{})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	cc, err := content.New(o.Content, content.Deps{})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.content = cc

	// The stages, written once. Stage auth: what needs only the message
	// (and DNS for the sender's own records).
	add(filters.StageAuth, hc)
	add(filters.StageAuth, cc)
	if o.Resolver != nil {
		ac, err := auth.New(o.Auth, dnsrep.Std(o.Resolver))
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		add(filters.StageAuth, ac.SPF)
		add(filters.StageAuth, ac.DKIM)
		add(filters.StageAuth, ac.ARC)

		// Stage links: where the links lead; every hop is a linked domain
		// for the stages after it.
		if o.Follow.Enabled {
			deps := follow.Deps{Resolver: o.Resolver, Log: o.Log}
			// Results outlive the process (and, on Redis, the node) when
			// the store can hold them.
			if rs, ok := o.Store.(store.ResultStore); ok {
				deps.Results = rs
			}
			fc, err := follow.New(o.Follow, deps)
			if err != nil {
				return nil, fmt.Errorf("engine: %w", err)
			}
			add(filters.StageLinks, fc)
			e.follow = fc
		}

		// Stage policy: DMARC needs SPF and DKIM; the nameservers behind
		// the links need the content and the authenticated identities.
		add(filters.StagePolicy, ac.DMARC)
		if o.Nameservers == (nameservers.Config{}) {
			o.Nameservers = nameservers.DefaultConfig()
		}
		ns, err := nameservers.New(o.Nameservers, nameservers.Deps{Resolver: o.Resolver, Log: o.Log})
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		add(filters.StagePolicy, ns)
		e.ns = ns

		// Stage reputation: lists and learned reputation of everything
		// found so far.
		if len(o.Blocklists) > 0 {
			bl, err := dnsbl.New(dnsbl.Config{Lists: o.Blocklists, Budgets: o.Budgets}, dnsbl.Deps{Resolver: o.Resolver, Log: o.Log})
			if err != nil {
				return nil, fmt.Errorf("engine: %w", err)
			}
			add(filters.StageReputation, bl)
			e.dnsbl = bl
		}
	}
	// Stage policy: the phishing signals read the content (links, files,
	// QR codes), the authenticated domains and where followed links led.
	// It needs no DNS, so it runs without a resolver too.
	if o.Phishing.FeedCheck == 0 { // the zero value: no configuration given
		o.Phishing = phishing.DefaultConfig()
	}
	pc, err := phishing.New(o.Phishing, phishing.Deps{Log: o.Log})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	add(filters.StagePolicy, pc)
	if o.Store != nil {
		rc, err := reputation.New(o.Reputation, reputation.Deps{Store: o.Store, Log: o.Log})
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		add(filters.StageReputation, rc)
		if o.Bayes.Enabled {
			bc, err := bayes.New(o.Bayes, bayes.Deps{Store: o.Store, Log: o.Log})
			if err != nil {
				return nil, fmt.Errorf("engine: %w", err)
			}
			add(filters.StageReputation, bc)
			e.bayes = bc
		}
		if o.Bayes.Autolearn.Enabled {
			e.autolearn = make(chan autolearnJob, autolearnQueue)
		}
		if ws, ok := o.Store.(store.WeightStore); ok && o.Weights.Enabled {
			wm, err := weights.New(o.Weights, weightDeps(o, ws))
			if err != nil {
				return nil, fmt.Errorf("engine: %w", err)
			}
			e.weights = wm
		}
	}

	// The operator's lists come last: they match what every other check
	// found (authentication, links, nameservers).
	if len(o.Lists) > 0 {
		lc, err := lists.New(lists.Config{Lists: o.Lists}, lists.Deps{Log: o.Log, Poll: o.ListsPoll})
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		add(filters.StageReputation, lc)
		e.lists = lc
	}

	known := map[string]bool{}
	for _, cs := range p.Checks() {
		for _, c := range cs {
			known[c] = true
		}
	}
	for _, n := range o.FailClosed {
		if !known[n] {
			return nil, fmt.Errorf("engine: policy.fail_closed: unknown check %q", n)
		}
	}
	// A recipient's settings may disable a check this configuration does
	// not run (follow while it is off): any declared check will do.
	declared := map[string]bool{}
	for _, c := range filters.Checks() {
		declared[c.Name] = true
	}
	for i, st := range o.Settings {
		for _, n := range st.Disable {
			if !declared[n] {
				return nil, fmt.Errorf("engine: settings[%d].disable: unknown check %q", i, n)
			}
		}
	}
	return e, nil
}

// Start begins background work (blocklist health probes, auto-learning)
// until Close.
func (e *Engine) Start() {
	if e.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if e.autolearn != nil {
		go e.autolearnLoop(ctx)
	}
	if e.lists != nil {
		go e.lists.Watch(ctx)
	}
	if p, ok := e.opts.Store.(pruner); ok {
		go e.pruneLoop(ctx, p)
	}
	if e.dnsbl == nil {
		return
	}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				e.opts.Log.Error("blocklist probe loop panicked", "panic", fmt.Sprint(r))
			}
		}()
		e.dnsbl.ProbeLoop(ctx)
	}()
}

// Close stops background work.
func (e *Engine) Close() {
	if e.cancel != nil {
		e.cancel()
	}
}

// ListEntries returns the number of entries of each operator list (for
// metrics); nil without lists.
func (e *Engine) ListEntries() map[string]int {
	if e.lists == nil {
		return nil
	}
	return e.lists.Entries()
}

// ListReloads returns how many changed list files were read again and
// how many were refused (for metrics).
func (e *Engine) ListReloads() (reloads, refused int64) {
	if e.lists == nil {
		return 0, 0
	}
	return e.lists.Reloads.Load(), e.lists.ReloadsRefused.Load()
}

// ListHealth probes every blocklist now and returns the table (doctor).
func (e *Engine) ListHealth(ctx context.Context) []dnsrep.ListHealth {
	if e.dnsbl == nil {
		return nil
	}
	return e.dnsbl.Probe(ctx)
}

// Pipeline exposes the pipeline (for doctor and tests).
func (e *Engine) Pipeline() *filters.Pipeline { return e.pipeline }

// Judge runs the pipeline and decides: each recipient under its own
// settings, the transaction as filters.DecideRecipients says. A check
// every recipient's settings disable does not run.
func (e *Engine) Judge(ctx context.Context, m *filters.Message) filters.Verdict {
	if m.HeadersOverflow != "" {
		return filters.RefuseUnread(m, e.opts.Policy)
	}
	syms := e.pipeline.RunWithout(ctx, m, e.rcpts.Skipped(m.Envelope.Rcpts))
	v := filters.DecideRecipients(syms, m.Envelope.Rcpts, e.policies(ctx))
	if e.autolearn != nil {
		if spam, ok := bayes.AutoLearn(e.opts.Bayes.Autolearn, m, v); ok {
			// The milter releases the body spool once the verdict is sent:
			// learn from a copy.
			if c, ok := snapshot(m); ok {
				select {
				case e.autolearn <- autolearnJob{m: c, spam: spam}:
				default: // queue full: skip rather than hold mail
				}
			}
		}
	}
	return v
}

// policies are the recipients' policies with the learned weights as they
// are now; when they cannot be read the message is judged on hand-set
// scores.
func (e *Engine) policies(ctx context.Context) *filters.RcptPolicies {
	if e.weights == nil {
		return e.rcpts
	}
	snap, err := e.weights.Current(ctx)
	if err != nil {
		e.opts.Log.Debug("learned weights unavailable; hand-set scores used", "err", err)
		return e.rcpts
	}
	return e.rcpts.WithWeights(snap)
}

// Weights returns the learned weights as they are now; nil (and no error)
// when learning weights is off.
func (e *Engine) Weights(ctx context.Context) (*weights.Snapshot, error) {
	if e.weights == nil {
		return nil, nil
	}
	return e.weights.Current(ctx)
}

// ErrWeightsOff is returned by WeightListing when weights are not learned
// (weights.enabled off, or no store).
var ErrWeightsOff = errors.New("engine: learned weights are off (weights.enabled, or no store)")

// WeightListing lists the learned weights.
func (e *Engine) WeightListing(ctx context.Context) (weights.Listing, error) {
	snap, err := e.Weights(ctx)
	if err != nil {
		return weights.Listing{}, err
	}
	if snap == nil {
		return weights.Listing{}, ErrWeightsOff
	}
	return snap.Listing(), nil
}

// JudgeSaved judges a saved message (a file from a mailbox, labelled mail
// replayed by vigil eval): parsed within the milter's limits, its envelope
// recovered from its trace as learning recovers it (the client address of
// the topmost Received field, the MAIL FROM from Return-Path), so the keys
// it is judged on are the keys its report would teach.
func (e *Engine) JudgeSaved(ctx context.Context, r io.Reader) (*filters.Message, filters.Verdict, error) {
	m, err := filters.ParseMessageWith(r, e.opts.Limits)
	if err != nil {
		return nil, filters.Verdict{}, fmt.Errorf("engine: %w", err)
	}
	feedback.TraceEnvelope(m, nil)
	return m, e.Judge(ctx, m), nil
}

// spamHeaders are the names we add; incoming copies are forgeries.
var spamHeaders = map[string]bool{
	"x-spam-status": true,
	"x-spam-score":  true,
	"x-spam-flag":   true,
	"x-spam-level":  true,
}

// Headers returns the fields to add for v: Authentication-Results,
// X-Spam-Status, X-Spam-Score and, when tagged, X-Spam-Flag: YES.
func (e *Engine) Headers(m *filters.Message, v filters.Verdict) []filters.Header {
	var out []filters.Header
	out = append(out, filters.Header{Name: "Authentication-Results", Value: authres.Format(e.opts.AuthservID, m.Facts.Auth)})
	yes := "No"
	if v.WouldBe != filters.Accept {
		yes = "Yes"
	}
	score := strconv.FormatFloat(v.Score, 'f', 2, 64)
	status := fmt.Sprintf("%s, score=%s required=%s tests=%s", yes, score,
		strconv.FormatFloat(v.Threshold, 'f', 2, 64), foldList(v.SymbolNames()))
	out = append(out,
		filters.Header{Name: "X-Spam-Status", Value: status},
		filters.Header{Name: "X-Spam-Score", Value: score},
	)
	if v.WouldBe != filters.Accept {
		out = append(out, filters.Header{Name: "X-Spam-Flag", Value: "YES"})
	}
	return out
}

// foldList joins symbol names with commas, folding long lines (RFC 5322
// §2.1.1: lines SHOULD stay under 78 characters).
func foldList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	var b strings.Builder
	line := 40 // room taken by "X-Spam-Status: Yes, score=... tests="
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
			line++
			if line+len(n) > 76 {
				b.WriteString("\r\n\t")
				line = 8
			}
		}
		b.WriteString(n)
		line += len(n)
	}
	return b.String()
}

// Forged reports incoming headers that claim to be ours.
func (e *Engine) Forged(name, value string) bool {
	k := strings.ToLower(name)
	if spamHeaders[k] {
		return true
	}
	if k == "authentication-results" {
		return authres.ClaimsID(value, e.opts.AuthservID)
	}
	return false
}

// autolearnMaxBody bounds the body copied for auto-learning.
const autolearnMaxBody = 1 << 20

// snapshot copies what learning reads of m (headers, body, facts) so it
// outlives the milter's spool.
func snapshot(m *filters.Message) (*filters.Message, bool) {
	c := &filters.Message{
		Envelope: m.Envelope,
		Headers:  append([]filters.Header(nil), m.Headers...),
		Size:     m.Size,
		Received: m.Received,
		Facts:    m.Facts,
	}
	if m.Body != nil {
		if m.Body.Size() > autolearnMaxBody {
			return nil, false
		}
		b, err := io.ReadAll(m.Body.Reader())
		if err != nil {
			return nil, false
		}
		c.Body = filters.BytesBody(b)
	}
	return c, true
}

// pruner is the bbolt store's housekeeping (Redis expires keys itself).
type pruner interface {
	Prune(ctx context.Context, before time.Time, minTotal float64) (records, counts int, err error)
}

// pruneEvery is how often the embedded store drops what has decayed away.
const pruneEvery = 24 * time.Hour

// pruneLoop prunes the store a minute after start and then daily: message
// records older than eight half-lives (their evidence is under 0.4%) and
// counts decayed below 0.05, and expired link results.
func (e *Engine) pruneLoop(ctx context.Context, p pruner) {
	defer func() {
		if r := recover(); r != nil {
			e.opts.Log.Error("store prune panicked", "panic", fmt.Sprint(r))
		}
	}()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hl := time.Duration(e.opts.Reputation.HalfLife)
		if hl > 0 {
			records, counts, err := p.Prune(ctx, time.Now().Add(-8*hl), 0.05)
			if err != nil {
				e.opts.Log.Warn("store prune failed", "err", err)
			} else {
				e.opts.Log.Info("store pruned", "records", records, "counts", counts)
			}
		}
		t.Reset(pruneEvery)
	}
}
