package bayes

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/vigilmail/vigil/filters/reputation"
)

// memStore is an in-memory reputation.Store (no decay) for tests and the
// corpus measurement; the durable stores are the reputation package's.
type memStore struct {
	mu     sync.Mutex
	counts map[string]reputation.Counts
	recs   map[string]memRecord
	// countCalls counts Counts calls (one per scored message).
	countCalls atomic.Int64
}

type memRecord struct {
	class reputation.Class
	keys  []reputation.Delta // id and weight of each learned key
}

func newMemStore() *memStore {
	return &memStore{counts: map[string]reputation.Counts{}, recs: map[string]memRecord{}}
}

func (s *memStore) Counts(ctx context.Context, ids []string) ([]reputation.Counts, error) {
	s.countCalls.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]reputation.Counts, len(ids))
	for i, id := range ids {
		out[i] = s.counts[id]
	}
	return out, nil
}

func (s *memStore) Add(_ context.Context, deltas []reputation.Delta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(deltas)
	return nil
}

func (s *memStore) add(deltas []reputation.Delta) {
	for _, d := range deltas {
		c := s.counts[d.ID]
		c.Spam = max(0, c.Spam+d.Spam)
		c.Ham = max(0, c.Ham+d.Ham)
		if c.Spam == 0 && c.Ham == 0 {
			delete(s.counts, d.ID)
			continue
		}
		s.counts[d.ID] = c
	}
}

func (s *memStore) Learn(_ context.Context, digest string, class reputation.Class, keys []reputation.Key) (reputation.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	outcome := reputation.Learned
	var deltas []reputation.Delta
	if old, ok := s.recs[digest]; ok {
		if old.class == class {
			return reputation.Duplicate, nil
		}
		outcome = reputation.Moved
		for _, k := range old.keys {
			deltas = append(deltas, reputation.Delta{ID: k.ID, Spam: -k.Spam, Ham: -k.Ham})
		}
	}
	rec := memRecord{class: class}
	seen := map[string]bool{}
	for _, k := range keys {
		id := k.ID()
		if seen[id] {
			continue
		}
		seen[id] = true
		d := reputation.Delta{ID: id, Ham: k.Weight}
		if class == reputation.Spam {
			d = reputation.Delta{ID: id, Spam: k.Weight}
		}
		rec.keys = append(rec.keys, d)
		deltas = append(deltas, d)
	}
	s.add(deltas)
	s.recs[digest] = rec
	return outcome, nil
}

func (s *memStore) Close() error { return nil }
