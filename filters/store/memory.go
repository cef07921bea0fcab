package store

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Memory is a Store held in memory, without decay: for measurements that
// learn thousands of messages and must not touch a production store (the
// corpus evaluations), and for tests. It forgets everything on exit.
type Memory struct {
	mu     sync.Mutex
	counts map[string]Counts
	recs   map[string]record
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{counts: map[string]Counts{}, recs: map[string]record{}}
}

// Counts implements Store.
func (s *Memory) Counts(ctx context.Context, ids []string) ([]Counts, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Counts, len(ids))
	for i, id := range ids {
		out[i] = s.counts[id]
	}
	return out, nil
}

// Add implements Store.
func (s *Memory) Add(_ context.Context, deltas []Delta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(deltas)
	return nil
}

func (s *Memory) add(deltas []Delta) {
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

// Learn implements Store.
func (s *Memory) Learn(_ context.Context, digest string, class Class, keys []Key) (Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old *record
	if r, ok := s.recs[digest]; ok {
		old = &r
	}
	deltas, outcome := learnDeltas(old, class, keys, time.Time{}, 0)
	if outcome == Duplicate {
		return outcome, nil
	}
	s.add(deltas)
	s.recs[digest] = newRecord(class, keys, time.Time{})
	return outcome, nil
}

// Len is the number of keys with non-zero counts.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}

// Deltas returns the counts as the deltas that recreate them in another
// store (Add), sorted by key.
func (s *Memory) Deltas() []Delta {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delta, 0, len(s.counts))
	for id, c := range s.counts {
		out = append(out, Delta{ID: id, Spam: c.Spam, Ham: c.Ham})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Close implements Store.
func (s *Memory) Close() error { return nil }

var _ Store = (*Memory)(nil)
