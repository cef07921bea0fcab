package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// ResultStore keeps small values with a time to live next to the counts:
// the link follower's results by URL, so that a campaign sending one link
// to thousands of recipients is fetched once per TTL, across restarts and,
// with Redis, across nodes. Both backends implement it (the method names
// match urlcheck/follow.ResultStore).
type ResultStore interface {
	LoadResult(ctx context.Context, key string) (data []byte, ok bool, err error)
	SaveResult(ctx context.Context, key string, data []byte, ttl time.Duration) error
}

var bucketResults = []byte("results")

// maxResultKey bounds stored keys; longer ones are replaced by their hash.
const maxResultKey = 512

// maxResultValue bounds one stored value.
const maxResultValue = 64 << 10

func resultKey(key string) string {
	if len(key) <= maxResultKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

var errResultTooLarge = errors.New("reputation: result value too large")

// LoadResult returns the value saved under key, ok false when there is none
// or it expired.
func (s *BoltStore) LoadResult(ctx context.Context, key string) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketResults)
		v := b.Get([]byte(resultKey(key)))
		if len(v) < 8 {
			return nil
		}
		if time.Unix(0, int64(binary.BigEndian.Uint64(v))).Before(s.now()) {
			return nil
		}
		out = append([]byte(nil), v[8:]...)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("reputation: load result: %w", err)
	}
	return out, out != nil, nil
}

// SaveResult stores data under key until now+ttl.
func (s *BoltStore) SaveResult(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if len(data) > maxResultValue {
		return errResultTooLarge
	}
	v := make([]byte, 8+len(data))
	binary.BigEndian.PutUint64(v, uint64(s.now().Add(ttl).UnixNano()))
	copy(v[8:], data)
	// Batch coalesces concurrent saves into one commit (one fsync).
	err := s.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketResults).Put([]byte(resultKey(key)), v)
	})
	if err != nil {
		return fmt.Errorf("reputation: save result: %w", err)
	}
	return nil
}

// pruneResults deletes expired results; called by Prune.
func pruneResults(tx *bolt.Tx, now time.Time) (int, error) {
	b := tx.Bucket(bucketResults)
	var dead [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if len(v) < 8 || time.Unix(0, int64(binary.BigEndian.Uint64(v))).Before(now) {
			dead = append(dead, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

func (s *RedisStore) resultKey(key string) string { return s.prefix + "r:" + resultKey(key) }

// LoadResult returns the value saved under key (Redis expires it).
func (s *RedisStore) LoadResult(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := s.rdb.Get(ctx, s.resultKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, unavailable(err)
	}
	return v, true, nil
}

// SaveResult stores data under key with a Redis expiry of ttl.
func (s *RedisStore) SaveResult(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if len(data) > maxResultValue {
		return errResultTooLarge
	}
	if ttl <= 0 {
		return nil
	}
	if err := s.rdb.Set(ctx, s.resultKey(key), data, ttl).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

var (
	_ ResultStore = (*BoltStore)(nil)
	_ ResultStore = (*RedisStore)(nil)
)
