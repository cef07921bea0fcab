package bayes

import (
	"context"
	"fmt"
	"strconv"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/store"
)

// LearnResult is what learning one message into the classifier did.
type LearnResult struct {
	Digest  string        `json:"digest"`
	Class   store.Class   `json:"class"`
	Outcome store.Outcome `json:"outcome"`
	// Tokens is the number of unique tokens learned.
	Tokens int `json:"tokens"`
}

// Learn teaches the classifier that m is spam (or ham). m's Facts.Content
// must be filled by the content check, as on the message path, so that
// the tokens learned are the tokens later scored. It goes through
// store.Learn under the message's reputation digest (prefixed "bayes:"),
// so it is idempotent and durable like reputation learning: the same
// message again is a no-op, the other class moves it (its token counts
// are taken from one side and added to the other).
func Learn(ctx context.Context, st store.Store, m *filters.Message, spam bool, cfg Config) (LearnResult, error) {
	class := store.Ham
	if spam {
		class = store.Spam
	}
	digest, err := feedback.Digest(m)
	if err != nil {
		return LearnResult{}, fmt.Errorf("bayes: %w", err)
	}
	toks := messageTokens(m, cfg.MaxTokens)
	keys := make([]store.Key, 0, len(toks)+1)
	keys = append(keys, store.Key{Kind: KindToken, Value: messagesValue, Weight: 1})
	for _, t := range toks {
		keys = append(keys, store.Key{Kind: KindToken, Value: tokenValue(t), Weight: 1})
	}
	res := LearnResult{Digest: digest, Class: class, Tokens: len(toks)}
	res.Outcome, err = st.Learn(ctx, digestPrefix+digest, class, keys)
	if err != nil {
		return res, fmt.Errorf("bayes: learn: %w", err)
	}
	return res, nil
}

// AutoLearn says whether a verdict is far enough past the thresholds to be
// learned without a user saying so, and as which class. It never learns:
//   - when bayes.autolearn.enabled is off;
//   - from the classifier's own opinion: BAYES_* symbols are left out of the
//     score compared, so the classifier cannot reinforce its own mistakes;
//   - from a message whose sender identity failed authentication (DMARC
//     fail, or without a DMARC result an SPF fail or only failing DKIM
//     signatures, RFC 7489 §6.6.2, RFC 7208 §2.6.4, RFC 6376 §6.1): a
//     forged message says nothing about what its claimed sender writes,
//     and learning it as ham would let forgers teach us their words;
//   - as ham from a message that was not authenticated at all (no DMARC,
//     SPF or DKIM pass).
//
// The caller (the engine, after Decide) learns m with Learn when ok.
func AutoLearn(cfg AutolearnConfig, m *filters.Message, v filters.Verdict) (spam bool, ok bool) {
	if !cfg.Enabled {
		return false, false
	}
	score := 0.0
	for _, s := range v.Symbols {
		if s.Name == SymSpam || s.Name == SymHam {
			continue
		}
		score += s.Score
	}
	failed, passed := authOutcome(m.Facts.Auth)
	if failed {
		return false, false
	}
	switch {
	case score >= cfg.SpamScore:
		return true, true
	case score <= cfg.HamScore && passed:
		return false, true
	}
	return false, false
}

// authOutcome tells whether the sender identity failed authentication and
// whether some identity passed.
func authOutcome(a filters.AuthResults) (failed, passed bool) {
	dkimPass, dkimFail := false, false
	for _, d := range a.DKIM {
		switch d.Result {
		case filters.DKIMPass:
			dkimPass = true
		case filters.DKIMFail:
			dkimFail = true
		}
	}
	switch a.DMARC.Result {
	case filters.DMARCFail:
		return true, false
	case filters.DMARCPass:
		return false, true
	}
	if a.SPF.Result == filters.SPFFail || (dkimFail && !dkimPass) {
		return true, false
	}
	return false, dkimPass || a.SPF.Result == filters.SPFPass
}

// messageTokens are m's tokens, tokenized once whether m is scored,
// learned, or scored and then learned (a report is judged before it is
// learned).
func messageTokens(m *filters.Message, max int) []string {
	return filters.Derived(m, "bayes.tokens."+strconv.Itoa(max), func() []string { return Tokenize(m, max) })
}
