package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Memory is a Store held in memory, without decay: for measurements that
// learn thousands of messages and must not touch a production store (the
// corpus evaluations), and for tests. It forgets everything on exit.
type Memory struct {
	mu     sync.Mutex
	counts map[string]Counts
	recs   map[string]record
	// wcounts and wrecs are the WeightStore's values and records.
	wcounts map[string]Counts
	wrecs   map[string]record
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{counts: map[string]Counts{}, recs: map[string]record{},
		wcounts: map[string]Counts{}, wrecs: map[string]record{}}
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

func (s *Memory) add(deltas []Delta) { applyMap(s.counts, deltas) }

// Learn implements Store.
func (s *Memory) Learn(_ context.Context, digest string, class Class, keys []Key) (Outcome, error) {
	ids, ws := dedupKeys(keys)
	s.mu.Lock()
	defer s.mu.Unlock()
	var old *record
	if r, ok := s.recs[digest]; ok {
		old = &r
	}
	deltas, outcome := deltasOf(old, class, ids, ws, time.Time{}, 0)
	if outcome == Duplicate {
		return outcome, nil
	}
	s.add(deltas)
	s.recs[digest] = recordOf(class, ids, ws, time.Time{})
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

// CopyToMemory reads a bbolt store file (reputation.db, or the data
// directory holding it) into a new Memory store, counts decayed to now,
// without writing the file: vigil eval starts from what a deployment has
// learned and learns on in memory. bbolt locks the file while the daemon
// has it open; copy it first (cp /var/lib/vigil/reputation.db /tmp/).
func CopyToMemory(path string, halfLife time.Duration) (*Memory, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, BoltFile)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("reputation: %s is locked by another process (vigil serve?): copy the file and give the copy: %w", path, err)
		}
		return nil, fmt.Errorf("reputation: open %s: %w", path, err)
	}
	defer db.Close()
	src := &BoltStore{db: db, halfLife: halfLife, now: time.Now}
	now := time.Now()
	m := NewMemory()
	err = db.View(func(tx *bolt.Tx) error {
		counts := func(bucket []byte, into map[string]Counts) error {
			b := tx.Bucket(bucket)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				if c := src.decayed(v, now); c.Total() > 0 {
					into[string(k)] = c
				}
				return nil
			})
		}
		records := func(bucket []byte, into map[string]record) error {
			b := tx.Bucket(bucket)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				var r record
				if json.Unmarshal(v, &r) != nil {
					return nil
				}
				// What is left of the record's contribution, as of now: the
				// memory store does not decay.
				f := decay(now.Sub(time.Unix(0, r.Time)), halfLife)
				for i := range r.Keys {
					r.Keys[i].Weight *= f
				}
				r.Time = 0
				into[string(k)] = r
				return nil
			})
		}
		for _, step := range []error{
			counts(bucketCounts, m.counts), records(bucketMessages, m.recs),
			counts(bucketWeights, m.wcounts), records(bucketWeightRecords, m.wrecs),
		} {
			if step != nil {
				return step
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reputation: read %s: %w", path, err)
	}
	return m, nil
}
