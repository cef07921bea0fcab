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
	"github.com/vigilmail/vigil/filters/reputation"
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

// LearnRaw learns one raw message as spam or ham. An ARF report
// (multipart/report; report-type=feedback-report) is unwrapped: its
// enclosed original is learned, as spam unless the report says not-spam.
// The message gets the same facts as on the message path: identities from
// our own trace headers, then content and nameservers, so the keys learned
// are the keys later scored.
func (e *Engine) LearnRaw(ctx context.Context, raw []byte, class reputation.Class) (LearnOutcome, error) {
	if e.opts.Store == nil {
		return LearnOutcome{}, ErrNoStore
	}
	var out LearnOutcome
	fb, err := reputation.ParseFeedbackReport(raw)
	if err != nil {
		return out, fmt.Errorf("engine: feedback report: %w", err)
	}
	if fb != nil {
		out.ARF = true
		raw = fb.Original
		class = fb.Class()
	}
	m, err := filters.ParseMessage(bytes.NewReader(raw), reputation.MaxInputMessage)
	if err != nil {
		return out, err
	}
	if m.BodyTruncated {
		return out, fmt.Errorf("engine: message larger than %d bytes", reputation.MaxInputMessage)
	}
	reputation.FromTrace(m, e.opts.AuthservID, nil)
	if err := e.facts(ctx, m); err != nil {
		return out, err
	}
	res, err := reputation.Learn(ctx, e.opts.Store, m, class)
	out.LearnResult = res
	if err != nil {
		return out, err
	}
	if e.opts.Bayes.Enabled {
		br, err := bayes.Learn(ctx, e.opts.Store, m, class == reputation.Spam, e.opts.Bayes)
		if err != nil {
			return out, err
		}
		out.Bayes = &br
	}
	return out, nil
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

// Learn implements the admin listener's Learner.
func (e *Engine) Learn(ctx context.Context, r io.Reader, spam bool) (string, error) {
	raw, err := io.ReadAll(io.LimitReader(r, reputation.MaxInputMessage+1))
	if err != nil {
		return "", err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return "", errors.New("empty message")
	}
	class := reputation.Ham
	if spam {
		class = reputation.Spam
	}
	out, err := e.LearnRaw(ctx, raw, class)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("%s as %s (%d keys, digest %.12s)", out.Outcome, out.Class, out.Keys, out.Digest)
	if out.ARF {
		s = "feedback report: " + s
	}
	return s, nil
}
