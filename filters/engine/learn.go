package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/urlcheck"
)

// ErrNoStore is returned by Learn when no reputation store is configured.
var ErrNoStore = errors.New("engine: no reputation store configured")

// LearnOutcome is what learning one raw message did.
type LearnOutcome struct {
	reputation.LearnResult
	// ARF is set when the input was an RFC 5965 feedback report and the
	// enclosed original was learned instead.
	ARF bool `json:"arf,omitempty"`
	// Bayes is what the classifier learned (nil when it is off).
	Bayes *bayes.LearnResult `json:"bayes,omitempty"`
	// Weights is what the symbol weights learned ("" when they are off).
	Weights store.Outcome `json:"weights,omitempty"`
}

// autolearnQueue bounds the verdicts waiting to be auto-learned.
const autolearnQueue = 256

type autolearnJob struct {
	m    *filters.Message
	spam bool
}

// autolearnLoop learns queued verdicts into the classifier until ctx ends.
func (e *Engine) autolearnLoop(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			e.opts.Log.Error("autolearn panicked", "panic", fmt.Sprint(r))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.autolearn:
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			res, err := bayes.Learn(lctx, e.opts.Store, j.m, j.spam, e.opts.Bayes)
			cancel()
			if err != nil {
				e.opts.Log.Warn("autolearn failed", "queue_id", j.m.Envelope.QueueID, "err", err)
				continue
			}
			e.opts.Log.Debug("autolearned", "queue_id", j.m.Envelope.QueueID, "class", res.Class, "outcome", res.Outcome)
		}
	}
}

// Errors of learning a report, for the admin listener to answer with the
// right status: the input is not a message (400), it is too large (413).
// A store that cannot take the report fails with store.ErrUnavailable
// (503, retry later).
var (
	ErrNotMessage = errors.New("engine: not an RFC 5322 message")
	ErrTooLarge   = errors.New("engine: message too large")
)

// LearnRaw learns one raw message as spam or ham; see LearnFrom.
func (e *Engine) LearnRaw(ctx context.Context, raw []byte, class store.Class) (LearnOutcome, error) {
	return e.LearnFrom(ctx, bytes.NewReader(raw), class)
}

// LearnFrom reads one message from r and learns it as spam or ham
// (PrepareReport, then LearnReport).
func (e *Engine) LearnFrom(ctx context.Context, r io.Reader, class store.Class) (LearnOutcome, error) {
	return e.LearnFromFor(ctx, r, class, "")
}

// LearnFromFor is LearnFrom for a report from a user of the recipient
// domain rcptDomain ("" when not known). With reputation.scope:
// rcpt_domain its reputation keys count for that domain only
// (reputation.LearnFor); with the global scope, and without a domain,
// for every recipient. The classifier and the symbol weights are shared
// by every domain either way: they need more reports than most domains
// give them.
func (e *Engine) LearnFromFor(ctx context.Context, r io.Reader, class store.Class, rcptDomain string) (LearnOutcome, error) {
	scope := ""
	if e.opts.Reputation.Scope == reputation.ScopeRcptDomain {
		d, err := ScopeDomain(rcptDomain)
		if err != nil {
			return LearnOutcome{}, err
		}
		scope = d
	}
	rep, err := e.PrepareReport(ctx, r, class)
	if err != nil {
		return LearnOutcome{ARF: rep != nil && rep.arf}, err
	}
	rep.scope = scope
	return e.LearnReport(ctx, rep)
}

// Report is a reported message made ready to be learned: parsed, its
// facts found, and judged as it would be now. Preparing only reads the
// store; LearnReport writes it.
type Report struct {
	m     *filters.Message
	class store.Class
	arf   bool
	// scope is the recipient domain whose reputation the report teaches
	// ("" for every recipient's).
	scope string
	// syms are the message's symbols before weights and overrides, for
	// the weight model (nil when it is off).
	syms []filters.Symbol
}

// PrepareReport reads one message from r, as spam or ham. The message is
// parsed as it streams in (within the header limits of the milter and
// feedback.MaxInputMessage), never read whole first. An ARF report
// (multipart/report; report-type=feedback-report) is unwrapped: its
// enclosed original is learned, as spam unless the report says not-spam.
// The message gets the same facts as on the message path: the envelope
// from our own trace headers, the checks' facts, then the authentication
// results our trace recorded at delivery; so the keys learned are the keys
// later scored.
func (e *Engine) PrepareReport(ctx context.Context, r io.Reader, class store.Class) (*Report, error) {
	if e.opts.Store == nil {
		return nil, ErrNoStore
	}
	lim := e.learnLimits()
	m, err := filters.ParseMessageWith(r, lim)
	if errors.Is(err, filters.ErrEmptyMessage) {
		return nil, fmt.Errorf("%w: empty input", ErrNotMessage)
	}
	if err != nil {
		return nil, err
	}
	if err := learnable(m, lim); err != nil {
		return nil, err
	}
	fb, err := feedback.FeedbackReport(m, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: feedback report: %w", ErrNotMessage, err)
	}
	rep := &Report{m: m, class: class}
	if fb != nil {
		rep.arf = true
		m = fb.Original
		rep.m, rep.class = m, fb.Class()
		if err := learnable(m, lim); err != nil {
			return rep, fmt.Errorf("feedback report: %w", err)
		}
	}
	feedback.TraceEnvelope(m, nil)
	if e.weights != nil {
		// The weights learn from the verdict the report gets now, before
		// anything learns it: the whole pipeline, which also writes the
		// facts the keys are taken from.
		rep.syms = e.pipeline.Run(ctx, m)
	} else if err := e.facts(ctx, m); err != nil {
		return rep, err
	}
	// What the daemon knew when it delivered the message beats what the
	// checks find now (keys rotate, records change).
	if a, ok := feedback.TraceAuth(m, e.opts.AuthservID); ok {
		m.Facts.Auth = a
	}
	return rep, nil
}

// LearnReport learns a prepared report into the reputation store, the
// classifier and the weights.
func (e *Engine) LearnReport(ctx context.Context, rep *Report) (LearnOutcome, error) {
	out := LearnOutcome{ARF: rep.arf}
	m, class := rep.m, rep.class
	res, err := reputation.LearnFor(ctx, e.opts.Store, m, class, rep.scope)
	out.LearnResult = res
	if err != nil {
		return out, err
	}
	if e.opts.Bayes.Enabled {
		br, err := bayes.Learn(ctx, e.opts.Store, m, class == store.Spam, e.opts.Bayes)
		if err != nil {
			return out, err
		}
		out.Bayes = &br
		if e.bayes != nil {
			e.bayes.Learned()
		}
	}
	if e.weights != nil {
		wo, err := e.weights.Learn(ctx, res.Digest, rep.syms, class)
		if err != nil {
			return out, err
		}
		out.Weights = wo
	}
	return out, nil
}

// learnLimits are the milter's header limits and the learn input limit
// (the size of a report is admin.max_body's business).
func (e *Engine) learnLimits() filters.Limits {
	lim := e.opts.Limits
	lim.MaxBody = feedback.MaxInputMessage
	return lim
}

// learnable refuses what must not be learned: a message larger than the
// limits (its keys would be those of a part of it), and input that is not
// a message at all (RFC 5322 §3.6: every message has a From field), which
// would otherwise be "learned" with no keys.
func learnable(m *filters.Message, lim filters.Limits) error {
	switch {
	case m.HeadersOverflow != "":
		return fmt.Errorf("%w: header block has %s", ErrTooLarge, m.HeadersOverflow)
	case m.BodyTruncated:
		return fmt.Errorf("%w: body larger than %d bytes", ErrTooLarge, lim.MaxBody)
	case len(m.Headers) == 0:
		return fmt.Errorf("%w: no header fields", ErrNotMessage)
	case len(m.HeaderValues("From")) == 0:
		return fmt.Errorf("%w: no From field", ErrNotMessage)
	}
	return nil
}

// Overall is what learning did: the strongest of the reputation
// store's and the classifier's outcomes (moved, then learned, then
// duplicate). A report resent after a half-completed learn (the store took
// it, the classifier failed) says "learned", because the classifier now
// learned it, not "duplicate".
func (o LearnOutcome) Overall() store.Outcome {
	rank := map[store.Outcome]int{store.Duplicate: 1, store.Learned: 2, store.Moved: 3}
	best := o.LearnResult.Outcome
	if o.Bayes != nil && rank[o.Bayes.Outcome] > rank[best] {
		best = o.Bayes.Outcome
	}
	return best
}

// String describes the outcome for a person: "learned as spam (12 keys,
// 340 tokens, digest 0123456789ab)".
func (o LearnOutcome) String() string {
	s := fmt.Sprintf("%s as %s (%d keys", o.Overall(), o.Class, o.Keys)
	if o.Bayes != nil {
		s += fmt.Sprintf(", %d tokens", o.Bayes.Tokens)
	}
	s += fmt.Sprintf(", digest %.12s)", o.Digest)
	if o.Scope != "" {
		s += " for " + o.Scope
	}
	if o.ARF {
		s = "feedback report: " + s
	}
	return s
}

// facts runs the fact-producing checks in stage order.
func (e *Engine) facts(ctx context.Context, m *filters.Message) error {
	if _, err := e.content.Run(ctx, m); err != nil {
		return fmt.Errorf("engine: content: %w", err)
	}
	if e.follow != nil {
		// Landing pages become page keys (reputation.KindPage).
		if _, err := e.follow.Run(ctx, m); err != nil {
			return fmt.Errorf("engine: follow: %w", err)
		}
	}
	if e.ns != nil {
		// Domains whose nameservers did not resolve are learned without
		// them (ErrIncomplete): feedback is not lost to a DNS hiccup.
		if _, err := e.ns.Run(ctx, m); err != nil && !errors.Is(err, filters.ErrIncomplete) {
			return fmt.Errorf("engine: nameservers: %w", err)
		}
	}
	return nil
}

// ErrBadDomain is returned for a recipient domain of a report that is
// not a domain name.
var ErrBadDomain = errors.New("engine: not a recipient domain")

// ScopeDomain checks and normalizes the recipient domain of a report:
// lower case, no trailing dot; "" stays "".
func ScopeDomain(d string) (string, error) {
	if d == "" {
		return "", nil
	}
	// The name the reputation check reads a recipient's scope under
	// (filters.RcptDomain), checked: letters, digits, '-', '.', '_'.
	n := urlcheck.DomainName(d)
	if n == "" {
		return "", fmt.Errorf("%w: %q", ErrBadDomain, d)
	}
	return n, nil
}

// Learn implements the admin listener's Learner: one message streamed
// from r, reported by a user of rcptDomain ("" when not known).
func (e *Engine) Learn(ctx context.Context, r io.Reader, spam bool, rcptDomain string) (string, error) {
	class := store.Ham
	if spam {
		class = store.Spam
	}
	out, err := e.LearnFromFor(ctx, r, class, rcptDomain)
	if err != nil {
		return "", err
	}
	return out.String(), nil
}
