package bayes

import (
	"context"
	"sync/atomic"

	"github.com/vigilmail/vigil/filters/store"
)

// memStore is the in-memory store with a count of the reads (one per
// scored message).
type memStore struct {
	*store.Memory
	countCalls atomic.Int64
}

func newMemStore() *memStore { return &memStore{Memory: store.NewMemory()} }

func (s *memStore) Counts(ctx context.Context, ids []string) ([]store.Counts, error) {
	s.countCalls.Add(1)
	return s.Memory.Counts(ctx, ids)
}
