package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// WeightStore keeps the symbol weights learned from feedback
// (filters/weights): a few hundred values that every node reads whole, each
// a decayed pair of counts like a key's, learned per reported message with
// the idempotence and moves of Learn. On Redis they live under one hash tag
// (a hash of values and one record per report), so a Redis Cluster holds
// them in one slot and every script touches only that slot. Every backend
// implements it.
type WeightStore interface {
	// Weights returns every stored value, decayed to now.
	Weights(ctx context.Context) (map[string]Counts, error)
	// WeightReport returns the class of the report learned under digest and
	// what it still contributes (decayed), or ok false when there is none.
	WeightReport(ctx context.Context, digest string) (class Class, contrib []Delta, ok bool, err error)
	// LearnWeights is Learn for the weight values: keys are value ids with
	// the amount the report adds to its class's side.
	LearnWeights(ctx context.Context, digest string, class Class, keys []Key) (Outcome, error)
}

// contribution is what the record r still adds to the values at now.
func (r *record) contribution(now time.Time, hl time.Duration) []Delta {
	f := decay(now.Sub(time.Unix(0, r.Time)), hl)
	out := make([]Delta, 0, len(r.Keys))
	for _, k := range r.Keys {
		d := Delta{ID: k.ID}
		if r.Class == Spam {
			d.Spam = k.Weight * f
		} else {
			d.Ham = k.Weight * f
		}
		out = append(out, d)
	}
	return out
}

// Memory.

// Weights implements WeightStore.
func (s *Memory) Weights(ctx context.Context) (map[string]Counts, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Counts, len(s.wcounts))
	for id, c := range s.wcounts {
		out[id] = c
	}
	return out, nil
}

// WeightReport implements WeightStore.
func (s *Memory) WeightReport(ctx context.Context, digest string) (Class, []Delta, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.wrecs[digest]
	if !ok {
		return "", nil, false, nil
	}
	return r.Class, r.contribution(time.Time{}, 0), true, nil
}

// LearnWeights implements WeightStore.
func (s *Memory) LearnWeights(ctx context.Context, digest string, class Class, keys []Key) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var old *record
	if r, ok := s.wrecs[digest]; ok {
		old = &r
	}
	deltas, outcome := learnDeltas(old, class, keys, time.Time{}, 0)
	if outcome == Duplicate {
		return outcome, nil
	}
	applyMap(s.wcounts, deltas)
	s.wrecs[digest] = newRecord(class, keys, time.Time{})
	return outcome, nil
}

func applyMap(m map[string]Counts, deltas []Delta) {
	for _, d := range deltas {
		c := m[d.ID]
		c.Spam = max(0, c.Spam+d.Spam)
		c.Ham = max(0, c.Ham+d.Ham)
		if c.Spam < 1e-9 && c.Ham < 1e-9 {
			delete(m, d.ID)
			continue
		}
		m[d.ID] = c
	}
}

// bbolt: the values in their own bucket, the reports' records in another,
// so a weight never shares a key with a reputation count.

var (
	bucketWeights       = []byte("weights")
	bucketWeightRecords = []byte("weight_records")
)

// Weights implements WeightStore.
func (s *BoltStore) Weights(ctx context.Context) (map[string]Counts, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	now := s.now()
	out := map[string]Counts{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWeights)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if c := s.decayed(v, now); c.Total() > 0 {
				out[string(k)] = c
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out, nil
}

// WeightReport implements WeightStore.
func (s *BoltStore) WeightReport(ctx context.Context, digest string) (Class, []Delta, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var r *record
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWeightRecords)
		if b == nil {
			return nil
		}
		var err error
		r, err = getRecord(b, digest)
		return err
	})
	if err != nil || r == nil {
		return "", nil, false, err
	}
	return r.Class, r.contribution(s.now(), s.halfLife), true, nil
}

// LearnWeights implements WeightStore: one fsynced transaction.
func (s *BoltStore) LearnWeights(ctx context.Context, digest string, class Class, keys []Key) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if digest == "" {
		return "", errors.New("reputation: empty message digest")
	}
	var outcome Outcome
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		vals, err := tx.CreateBucketIfNotExists(bucketWeights)
		if err != nil {
			return err
		}
		recs, err := tx.CreateBucketIfNotExists(bucketWeightRecords)
		if err != nil {
			return err
		}
		outcome, _, err = s.learnRecord(recs, vals, digest, class, keys, now)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reputation: learn weights: %w", err)
	}
	return outcome, nil
}

// Redis: the values are fields of one hash, <prefix>{weights}, each
// "spam ham time"; the records are <prefix>{weights}m:<digest>. The hash
// tag {weights} puts all of them in one Cluster slot, so the learn script
// (record and values together) is a single-slot script.

func (s *RedisStore) weightsKey() string { return s.prefix + "{weights}" }
func (s *RedisStore) weightRecordKey(digest string) string {
	return s.prefix + "{weights}m:" + digest
}

// Weights implements WeightStore: one HGETALL.
func (s *RedisStore) Weights(ctx context.Context) (map[string]Counts, error) {
	all, err := s.rdb.HGetAll(ctx, s.weightsKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	now := s.now()
	out := make(map[string]Counts, len(all))
	for id, v := range all {
		f := strings.Fields(v)
		if len(f) != 3 {
			continue
		}
		sp, err1 := strconv.ParseFloat(f[0], 64)
		hm, err2 := strconv.ParseFloat(f[1], 64)
		t, err3 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || err3 != nil || !validCount(sp) || !validCount(hm) || !isFinite(t) {
			continue
		}
		d := decay(now.Sub(time.Unix(0, int64(t*1e9))), s.halfLife)
		out[id] = Counts{Spam: sp * d, Ham: hm * d}
	}
	return out, nil
}

// WeightReport implements WeightStore.
func (s *RedisStore) WeightReport(ctx context.Context, digest string) (Class, []Delta, bool, error) {
	cur, err := s.rdb.Get(ctx, s.weightRecordKey(digest)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, unavailable(err)
	}
	var r record
	if err := json.Unmarshal([]byte(cur), &r); err != nil {
		return "", nil, false, fmt.Errorf("reputation: weight record of %s: %w", digest, err)
	}
	return r.Class, r.contribution(s.now(), s.halfLife), true, nil
}

// learnWeightsScript: KEYS[1] the report's record, KEYS[2] the hash of
// values. ARGV[1..5] are scriptArgs (now, half-life, the expiries of
// values, of one-report values (unused here: the hash expires as a
// whole) and of records), ARGV[6] the SHA-1 of the record as read ("" for
// none), ARGV[7] the new record, then field, spam delta, ham delta
// triples. Like learnScript it proceeds only when the record is still
// what was read.
var learnWeightsScript = redis.NewScript(`local cur = redis.call('GET', KEYS[1])
local seen = ''
if cur then seen = redis.sha1hex(cur) end
if seen ~= ARGV[6] then return 0 end
local now = tonumber(ARGV[1])
local hl = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
for j = 8, #ARGV, 3 do
  local v = redis.call('HGET', KEYS[2], ARGV[j])
  local s, h, t = 0, 0, now
  if v then
    local a, b, c = string.match(v, '^(%S+) (%S+) (%S+)$')
    s, h, t = tonumber(a) or 0, tonumber(b) or 0, tonumber(c) or now
  end
  if hl > 0 and now > t then
    local f = math.pow(2, -(now - t) / hl)
    s = s * f
    h = h * f
  end
  if t < now then t = now end
  s = s + tonumber(ARGV[j + 1])
  h = h + tonumber(ARGV[j + 2])
  if s < 0 then s = 0 end
  if h < 0 then h = 0 end
  if s < 1e-9 and h < 1e-9 then
    redis.call('HDEL', KEYS[2], ARGV[j])
  else
    redis.call('HSET', KEYS[2], ARGV[j], string.format('%.17g %.17g %.17g', s, h, t))
  end
end
if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
if tonumber(ARGV[5]) > 0 then
  redis.call('SET', KEYS[1], ARGV[7], 'EX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[7])
end
return 1`)

// LearnWeights implements WeightStore, with the same durability checks as
// Learn.
func (s *RedisStore) LearnWeights(ctx context.Context, digest string, class Class, keys []Key) (Outcome, error) {
	if digest == "" {
		return "", errors.New("reputation: empty message digest")
	}
	if err := s.beforeLearn(ctx); err != nil {
		return "", err
	}
	rk := s.weightRecordKey(digest)
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := s.rdb.Get(ctx, rk).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", unavailable(err)
		}
		var old *record
		if cur != "" {
			old = new(record)
			if err := json.Unmarshal([]byte(cur), old); err != nil {
				return "", fmt.Errorf("reputation: weight record of %s: %w", digest, err)
			}
		}
		now := s.now()
		deltas, outcome := learnDeltas(old, class, keys, now, s.halfLife)
		if outcome == Duplicate {
			return Duplicate, nil
		}
		rec, err := json.Marshal(newRecord(class, keys, now))
		if err != nil {
			return "", err
		}
		args := append(s.scriptArgs(now), recordHash(cur), string(rec))
		for _, d := range deltas {
			if !isFinite(d.Spam) || !isFinite(d.Ham) {
				return "", fmt.Errorf("reputation: weight delta for %q is not finite", d.ID)
			}
			args = append(args, d.ID, strconv.FormatFloat(d.Spam, 'g', -1, 64), strconv.FormatFloat(d.Ham, 'g', -1, 64))
		}
		n, err := learnWeightsScript.Run(ctx, s.rdb, []string{rk, s.weightsKey()}, args...).Int()
		if err != nil {
			return "", unavailable(err)
		}
		if n == 1 {
			return outcome, nil
		}
	}
	return "", fmt.Errorf("reputation: learn weights %s: record kept changing under concurrent learning", digest)
}

var (
	_ WeightStore = (*Memory)(nil)
	_ WeightStore = (*BoltStore)(nil)
	_ WeightStore = (*RedisStore)(nil)
)
