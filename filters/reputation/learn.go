package reputation

import (
	"context"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/store"
)

// LearnResult is what learning one message did.
type LearnResult struct {
	// Digest identifies the message content (see Digest).
	Digest  string        `json:"digest"`
	Class   store.Class   `json:"class"`
	Outcome store.Outcome `json:"outcome"`
	// Keys is the number of reputation keys the message carries.
	Keys int `json:"keys"`
	// Scope is the recipient domain whose reports it joined; "" (not
	// written) for the reports every recipient shares.
	Scope string `json:"scope,omitempty"`
}

// Learn records user feedback: m is spam or ham. m's Facts should be filled
// by the same checks that run on the message path (auth, content,
// nameservers), so that the keys learned are the keys later scored.
// Learning the same content twice counts once; learning it as the other
// class moves it.
func Learn(ctx context.Context, st store.Store, m *filters.Message, class store.Class) (LearnResult, error) {
	return LearnFor(ctx, st, m, class, "")
}

// LearnFor is Learn within the reports of scope (reputation.scope:
// rcpt_domain, scope the recipient domain whose user reported it): the
// message's keys and its record are that scope's own (store.ScopedID),
// so it counts for that domain and for no other, and the same message
// reported by two domains counts once for each. Scope "" is Learn.
func LearnFor(ctx context.Context, st store.Store, m *filters.Message, class store.Class, scope string) (LearnResult, error) {
	if _, err := store.ParseClass(string(class)); err != nil {
		return LearnResult{}, err
	}
	digest, err := feedback.Digest(m)
	if err != nil {
		return LearnResult{}, err
	}
	keys := Keys(m)
	// The keys count within scope; the report totals and the tenants of
	// shared infrastructure are everyone's (they describe the reports and
	// the infrastructure, not one domain's opinion).
	scoped := make([]store.Key, len(keys), len(keys)+1)
	for i := range keys {
		scoped[i] = keys[i].In(scope)
	}
	res := LearnResult{Digest: digest, Class: class, Keys: len(keys), Scope: scope}
	res.Outcome, err = st.Learn(ctx, store.ScopedID(scope, digest), class, append(scoped, store.Key{Kind: KindTotal, Value: "reports", Weight: FullWeight}))
	if err != nil {
		return res, err
	}
	if res.Outcome == store.Learned {
		if err := learnTenants(ctx, st, m, keys); err != nil {
			return res, err
		}
	}
	return res, nil
}

// learnTenants counts the domains behind the shared keys of a newly
// learned message that were not seen behind them before. A pair seen is a
// count of its own; its tenant count grows by one when the pair was absent
// (or decayed below one half). Two nodes learning the same new pair at
// once may both count it: the count is an estimate, and errs towards
// "shared", which only makes a key lean less.
func learnTenants(ctx context.Context, st store.Store, m *filters.Message, keys []store.Key) error {
	pairs := tenantPairs(m, keys)
	if len(pairs) == 0 {
		return nil
	}
	var ids, owners []string
	for _, k := range keys {
		for _, dom := range pairs[k.ID()] {
			ids = append(ids, tenantPairID(k.ID(), dom))
			owners = append(owners, "tenants:"+k.ID())
		}
	}
	seen, err := st.Counts(ctx, ids)
	if err != nil {
		return err
	}
	var deltas []store.Delta
	for i, id := range ids {
		if i < len(seen) && seen[i].Total() >= 0.5 {
			continue
		}
		deltas = append(deltas, store.Delta{ID: id, Spam: 1}, store.Delta{ID: owners[i], Spam: 1})
	}
	return st.Add(ctx, deltas)
}
