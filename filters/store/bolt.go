package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bucketCounts   = []byte("counts")
	bucketMessages = []byte("messages")
)

// BoltStore is the embedded backend: one bbolt file, one fsynced
// transaction per learned message, so a crash loses no acknowledged
// feedback and never leaves a torn file (bbolt's copy-on-write B+tree with
// a double meta page).
type BoltStore struct {
	db       *bolt.DB
	halfLife time.Duration
	now      func() time.Time
	cache    *countCache
}

// BoltFile is the file name of the bbolt store inside the data directory.
const BoltFile = "reputation.db"

// OpenBolt opens (creating when missing) dir/reputation.db. bbolt locks the
// file: a second process (vigil learn while vigil serve runs) waits at most
// lockWait and then fails; such feedback goes through the daemon instead.
func OpenBolt(dir string, halfLife, lockWait time.Duration) (*BoltStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("reputation: data directory: %w", err)
	}
	path := filepath.Join(dir, BoltFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("reputation: %s is locked by another process (is vigil serve running? send feedback to its admin endpoint): %w", path, err)
		}
		return nil, fmt.Errorf("reputation: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketCounts, bucketMessages, bucketResults} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("reputation: init %s: %w", path, err)
	}
	return &BoltStore{db: db, halfLife: halfLife, now: time.Now, cache: newCountCache()}, nil
}

// countsValue is spam, ham (float64 bits) and the unix-nanosecond time they
// were last decayed to: 24 bytes, big endian.
func encodeCounts(c Counts, at time.Time) []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b[0:], math.Float64bits(c.Spam))
	binary.BigEndian.PutUint64(b[8:], math.Float64bits(c.Ham))
	binary.BigEndian.PutUint64(b[16:], uint64(at.UnixNano()))
	return b
}

func decodeCounts(b []byte) (Counts, time.Time, bool) {
	if len(b) != 24 {
		return Counts{}, time.Time{}, false
	}
	c := Counts{
		Spam: math.Float64frombits(binary.BigEndian.Uint64(b[0:])),
		Ham:  math.Float64frombits(binary.BigEndian.Uint64(b[8:])),
	}
	if !validCount(c.Spam) || !validCount(c.Ham) {
		return Counts{}, time.Time{}, false
	}
	return c, time.Unix(0, int64(binary.BigEndian.Uint64(b[16:]))), true
}

func validCount(f float64) bool { return f >= 0 && !math.IsInf(f, 0) && !math.IsNaN(f) }

func (s *BoltStore) decayed(b []byte, now time.Time) Counts {
	c, at, ok := decodeCounts(b)
	if !ok {
		return Counts{}
	}
	f := decay(now.Sub(at), s.halfLife)
	return Counts{Spam: c.Spam * f, Ham: c.Ham * f}
}

// Counts implements Store. Keys read recently come from the count cache;
// the rest are read in one transaction.
func (s *BoltStore) Counts(ctx context.Context, ids []string) ([]Counts, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	now := s.now()
	out := make([]Counts, len(ids))
	miss, gen := s.cache.lookup(ids, out, now, s.halfLife)
	if len(miss) == 0 {
		return out, nil
	}
	vals := make([]cachedCounts, len(miss))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounts)
		for j, i := range miss {
			c, at, ok := decodeCounts(b.Get([]byte(ids[i])))
			if !ok {
				continue // absent or unreadable: zero, as decayed() says
			}
			vals[j] = cachedCounts{c: c, at: at.UnixNano()}
			f := decay(now.Sub(at), s.halfLife)
			out[i] = Counts{Spam: c.Spam * f, Ham: c.Ham * f}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.cache.store(gen, ids, miss, vals)
	return out, nil
}

func (s *BoltStore) apply(b *bolt.Bucket, deltas []Delta, now time.Time) error {
	for _, d := range deltas {
		if !isFinite(d.Spam) || !isFinite(d.Ham) {
			return fmt.Errorf("reputation: delta for %q is not finite", d.ID)
		}
		c := s.decayed(b.Get([]byte(d.ID)), now)
		c.Spam = math.Max(0, c.Spam+d.Spam)
		c.Ham = math.Max(0, c.Ham+d.Ham)
		var err error
		if c.Spam < 1e-9 && c.Ham < 1e-9 {
			err = b.Delete([]byte(d.ID))
		} else {
			err = b.Put([]byte(d.ID), encodeCounts(c, now))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func isFinite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }

// Add implements Store.
func (s *BoltStore) Add(ctx context.Context, deltas []Delta) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		return s.apply(tx.Bucket(bucketCounts), deltas, now)
	})
	s.cache.invalidate(deltas)
	return err
}

// Learn implements Store: the record of the message and all its count
// changes are one transaction, fsynced before Learn returns.
func (s *BoltStore) Learn(ctx context.Context, digest string, class Class, keys []Key) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if digest == "" {
		return "", errors.New("reputation: empty message digest")
	}
	// A duplicate needs no write transaction (and no fsync).
	var dup bool
	err := s.db.View(func(tx *bolt.Tx) error {
		old, err := getRecord(tx.Bucket(bucketMessages), digest)
		dup = err == nil && old != nil && old.Class == class
		return err
	})
	if err != nil {
		return "", err
	}
	if dup {
		return Duplicate, nil
	}
	var outcome Outcome
	var deltas []Delta
	now := s.now()
	err = s.db.Update(func(tx *bolt.Tx) (err error) {
		outcome, deltas, err = s.learnRecord(tx.Bucket(bucketMessages), tx.Bucket(bucketCounts), digest, class, keys, now)
		return err
	})
	s.cache.invalidate(deltas)
	if err != nil {
		return "", fmt.Errorf("reputation: learn: %w", err)
	}
	return outcome, nil
}

func getRecord(b *bolt.Bucket, digest string) (*record, error) {
	v := b.Get([]byte(digest))
	if v == nil {
		return nil, nil
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("reputation: record of %s: %w", digest, err)
	}
	return &r, nil
}

// Check verifies the consistency of the bbolt file (pages, freelist).
func (s *BoltStore) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
}

// Close implements Store.
func (s *BoltStore) Close() error { return s.db.Close() }

// Prune deletes what no longer matters: records of messages learned before
// before (their contribution has decayed away, so they need not be movable
// any more) and counts that decayed below minTotal. Run it now and then
// (daily, or at start); Redis does the same with TTLs.
func (s *BoltStore) Prune(ctx context.Context, before time.Time, minTotal float64) (records, counts int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	now := s.now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		records, counts = 0, 0
		n, err := pruneRecords(tx.Bucket(bucketMessages), before)
		if err != nil {
			return err
		}
		records += n
		cb := tx.Bucket(bucketCounts)
		c := cb.Cursor()
		for k, v := c.First(); k != nil; {
			if s.decayed(v, now).Total() < minTotal {
				if err := c.Delete(); err != nil {
					return err
				}
				counts++
				k, v = c.Seek(k)
				continue
			}
			k, v = c.Next()
		}
		// Weight records, like message records: only what can still move.
		if wr := tx.Bucket(bucketWeightRecords); wr != nil {
			n, err := pruneRecords(wr, before)
			if err != nil {
				return err
			}
			records += n
		}
		_, err = pruneResults(tx, now)
		return err
	})
	s.cache.reset()
	if err != nil {
		return 0, 0, fmt.Errorf("reputation: prune: %w", err)
	}
	return records, counts, nil
}

// learnRecord learns one report within a write transaction: its record
// in recs, the values it changes in vals (the counts, or the learned
// weights).
// It returns the deltas applied (none for a duplicate).
func (s *BoltStore) learnRecord(recs, vals *bolt.Bucket, digest string, class Class, keys []Key, now time.Time) (Outcome, []Delta, error) {
	old, err := getRecord(recs, digest)
	if err != nil {
		return "", nil, err
	}
	deltas, outcome := learnDeltas(old, class, keys, now, s.halfLife)
	if outcome == Duplicate {
		return outcome, nil, nil
	}
	if err := s.apply(vals, deltas, now); err != nil {
		return "", nil, err
	}
	v, err := json.Marshal(newRecord(class, keys, now))
	if err != nil {
		return "", nil, err
	}
	return outcome, deltas, recs.Put([]byte(digest), v)
}

// pruneRecords deletes the records of b learned before before (they can
// no longer move anything that has not decayed away) and counts them.
func pruneRecords(b *bolt.Bucket, before time.Time) (int, error) {
	n := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; {
		var r record
		if json.Unmarshal(v, &r) == nil && time.Unix(0, r.Time).Before(before) {
			if err := c.Delete(); err != nil {
				return n, err
			}
			n++
			k, v = c.Seek(k)
			continue
		}
		k, v = c.Next()
	}
	return n, nil
}
