package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// HistoryStore keeps the most recent verdicts next to the learned
// evidence, so that with Redis every node's verdicts are visible from any
// node. The store does not read the entries: a record is the message digest
// and two opaque values, the summary that lists show and the detail that
// one entry's page shows (filters/history encodes both).
//
// IDs are assigned by the store in the order entries are appended: 1, 2, 3,
// ... without gaps, shared by every node of one Redis. Entries beyond the
// newest keep are dropped as new ones arrive.
//
// Feedback marks a message, not an entry: MarkLearned records the class
// learned for a digest, and every entry with that digest shows it (the same
// campaign sent in several transactions is learned once). The newest keep
// marks are kept.
type HistoryStore interface {
	// AppendHistory adds recs (oldest first), assigns their IDs and drops
	// the entries older than the newest keep.
	AppendHistory(ctx context.Context, recs []HistoryRecord, keep int) error
	// HistoryPage returns up to n entries with an ID below before (0: from
	// the newest), newest first, without their Detail.
	HistoryPage(ctx context.Context, before uint64, n int) ([]HistoryRecord, error)
	// HistoryEntry returns one entry with its Detail; ok is false when it
	// is not (or no longer) kept.
	HistoryEntry(ctx context.Context, id uint64) (rec HistoryRecord, ok bool, err error)
	// MarkLearned records that the message with digest was learned as
	// class, keeping the newest keep marks.
	MarkLearned(ctx context.Context, digest string, class Class, keep int) error
}

// HistoryRecord is one stored verdict.
type HistoryRecord struct {
	// ID is assigned by AppendHistory.
	ID uint64
	// Digest identifies the message content (feedback.Digest); it must not
	// contain a newline.
	Digest string
	// Summary and Detail are opaque to the store.
	Summary []byte
	Detail  []byte
	// Learned is the class feedback gave the message, "" when none.
	Learned Class
}

// errBadDigest refuses a record that would break the stored framing.
var errBadDigest = errors.New("reputation: history record: a newline or NUL in the digest, or a NUL in the summary")

func checkRecords(recs []HistoryRecord) error {
	for _, r := range recs {
		if strings.ContainsAny(r.Digest, "\n\x00") || bytes.IndexByte(r.Summary, 0) >= 0 {
			return errBadDigest
		}
	}
	return nil
}

// An entry is stored as "<digest>\n<summary>", with bbolt followed by
// "\x00<detail>" in the same value (one B+tree insert per entry; JSON
// never holds a raw NUL), with Redis its detail in a hash of its own.
func packEntry(digest string, summary, detail []byte) []byte {
	n := len(digest) + 1 + len(summary)
	if detail != nil {
		n += 1 + len(detail)
	}
	b := make([]byte, 0, n)
	b = append(b, digest...)
	b = append(b, '\n')
	b = append(b, summary...)
	if detail != nil {
		b = append(b, 0)
		b = append(b, detail...)
	}
	return b
}

// unpackEntry reads what packEntry wrote; the detail only when withDetail.
func unpackEntry(id uint64, v []byte, withDetail bool) HistoryRecord {
	r := HistoryRecord{ID: id}
	if i := bytes.IndexByte(v, '\n'); i >= 0 {
		r.Digest = string(v[:i])
		v = v[i+1:]
	}
	summary, detail, hasDetail := bytes.Cut(v, []byte{0})
	r.Summary = append([]byte(nil), summary...)
	if withDetail && hasDetail {
		r.Detail = append([]byte(nil), detail...)
	}
	return r
}

// --- bbolt ---

var (
	bucketHistory        = []byte("history")            // first id of a batch -> the batch
	bucketHistoryMarks   = []byte("history_marks")      // digest -> class byte + order
	bucketHistoryMarkSeq = []byte("history_mark_order") // order -> digest
	bucketHistoryMeta    = []byte("history_meta")       // "keep" -> history.size at the last append
)

func u64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// With bbolt, the entries of one AppendHistory are one value, alone in a
// bucket of its own named by the first ID: appending costs one insert per
// batch instead of one per entry (a thousand values of a few kilobytes
// split and rewrite pages at every commit), the value is written once and
// never copied again (bbolt keeps at least two values per leaf page, so a
// large value beside others is rewritten whenever its page changes), and
// trimming deletes whole batches. A batch is
//
//	count (4 bytes), count+1 offsets (4 bytes each), the entries
//
// big endian, each entry packEntry's. Entries of a batch not yet wholly
// past history.size stay stored but are not read (historyKept).

// boltBatch is one stored batch.
type boltBatch struct {
	first uint64
	v     []byte
}

// batchValue is the key of the batch in its bucket.
var batchValue = []byte("b")

// batchAt reads the batch whose bucket is named k.
func batchAt(h *bolt.Bucket, k []byte) boltBatch {
	b := boltBatch{}
	if len(k) == 8 {
		b.first = u64(k)
	}
	if bb := h.Bucket(k); bb != nil {
		b.v = bb.Get(batchValue)
	}
	return b
}

func (b boltBatch) count() int {
	if len(b.v) < 4 {
		return 0
	}
	n := int(binary.BigEndian.Uint32(b.v))
	if 4+4*(n+1) > len(b.v) {
		return 0
	}
	return n
}

// entry returns the i-th entry's bytes (nil when the batch is damaged).
func (b boltBatch) entry(i int) []byte {
	n := b.count()
	if i < 0 || i >= n {
		return nil
	}
	data := b.v[4+4*(n+1):]
	lo := binary.BigEndian.Uint32(b.v[4+4*i:])
	hi := binary.BigEndian.Uint32(b.v[4+4*(i+1):])
	if lo > hi || int(hi) > len(data) {
		return nil
	}
	return data[lo:hi]
}

func encodeBatch(recs []HistoryRecord) []byte {
	size := 4 + 4*(len(recs)+1)
	for _, r := range recs {
		size += len(r.Digest) + 2 + len(r.Summary) + len(r.Detail) // as packEntry
	}
	v := make([]byte, 4+4*(len(recs)+1), size)
	binary.BigEndian.PutUint32(v, uint32(len(recs)))
	off := 0
	for i, r := range recs {
		binary.BigEndian.PutUint32(v[4+4*i:], uint32(off))
		n := len(v)
		v = append(v, r.Digest...)
		v = append(v, '\n')
		v = append(v, r.Summary...)
		v = append(v, 0)
		v = append(v, r.Detail...)
		off += len(v) - n
	}
	binary.BigEndian.PutUint32(v[4+4*len(recs):], uint32(off))
	return v
}

// historyKept is the first ID still kept: the newest keep of the bucket's
// sequence.
func historyKept(h *bolt.Bucket, keep int) uint64 {
	last := h.Sequence()
	if keep < 0 || last < uint64(keep) {
		return 1
	}
	return last - uint64(keep) + 1
}

// keepMeta is where the bbolt history remembers history.size as of the last
// append, so readers hide what it dropped.
var keepMeta = []byte("keep")

// AppendHistory implements HistoryStore: one transaction (one fsync) and
// one value for the whole batch.
func (s *BoltStore) AppendHistory(ctx context.Context, recs []HistoryRecord, keep int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := checkRecords(recs); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		h, err := tx.CreateBucketIfNotExists(bucketHistory)
		if err != nil {
			return err
		}
		first := h.Sequence() + 1
		if err := h.SetSequence(h.Sequence() + uint64(len(recs))); err != nil {
			return err
		}
		for i := range recs {
			recs[i].ID = first + uint64(i)
		}
		h.FillPercent = 1 // keys only ever grow
		bb, err := h.CreateBucket(be64(first))
		if err != nil {
			return err
		}
		if err := bb.Put(batchValue, encodeBatch(recs)); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketHistoryMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keepMeta, be64(uint64(max(keep, 0)))); err != nil {
			return err
		}
		// Drop the batches wholly before the first kept ID.
		kept := historyKept(h, keep)
		for k, _ := h.Cursor().First(); k != nil; k, _ = h.Cursor().First() {
			if b := batchAt(h, k); b.first+uint64(b.count()) > kept {
				break
			}
			if err := h.DeleteBucket(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reputation: append history: %w", err)
	}
	return nil
}

// boltKept is the first ID readers show.
func boltKept(tx *bolt.Tx, h *bolt.Bucket) uint64 {
	keep := -1
	if meta := tx.Bucket(bucketHistoryMeta); meta != nil {
		if v := meta.Get(keepMeta); len(v) == 8 {
			keep = int(u64(v))
		}
	}
	return historyKept(h, keep)
}

// HistoryPage implements HistoryStore.
func (s *BoltStore) HistoryPage(ctx context.Context, before uint64, n int) ([]HistoryRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var out []HistoryRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		h := tx.Bucket(bucketHistory)
		if h == nil {
			return nil
		}
		kept := boltKept(tx, h)
		marks := tx.Bucket(bucketHistoryMarks)
		if before == 0 || before > h.Sequence() {
			before = h.Sequence() + 1
		}
		// The batch holding before-1: the last key at or below it.
		c := h.Cursor()
		k, _ := c.Seek(be64(before - 1))
		if k == nil || u64(k) > before-1 {
			k, _ = c.Prev()
		}
		for ; k != nil && len(out) < n; k, _ = c.Prev() {
			b := batchAt(h, k)
			for i := b.count() - 1; i >= 0 && len(out) < n; i-- {
				id := b.first + uint64(i)
				if id >= before || id < kept {
					continue
				}
				r := unpackEntry(id, b.entry(i), false)
				r.Learned = boltMark(marks, r.Digest)
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reputation: read history: %w", err)
	}
	return out, nil
}

func boltMark(marks *bolt.Bucket, digest string) Class {
	if marks == nil || digest == "" {
		return ""
	}
	v := marks.Get([]byte(digest))
	if len(v) < 1 {
		return ""
	}
	return markClass(v[0])
}

func markByte(c Class) byte {
	if c == Spam {
		return 's'
	}
	return 'h'
}

func markClass(b byte) Class {
	switch b {
	case 's':
		return Spam
	case 'h':
		return Ham
	}
	return ""
}

// HistoryEntry implements HistoryStore.
func (s *BoltStore) HistoryEntry(ctx context.Context, id uint64) (HistoryRecord, bool, error) {
	if err := ctx.Err(); err != nil {
		return HistoryRecord{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var rec HistoryRecord
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		h := tx.Bucket(bucketHistory)
		if h == nil || id < boltKept(tx, h) || id > h.Sequence() {
			return nil
		}
		c := h.Cursor()
		k, _ := c.Seek(be64(id))
		if k == nil || u64(k) > id {
			k, _ = c.Prev()
		}
		if k == nil {
			return nil
		}
		b := batchAt(h, k)
		e := b.entry(int(id - b.first))
		if e == nil {
			return nil
		}
		ok = true
		rec = unpackEntry(id, e, true)
		rec.Learned = boltMark(tx.Bucket(bucketHistoryMarks), rec.Digest)
		return nil
	})
	if err != nil {
		return HistoryRecord{}, false, fmt.Errorf("reputation: read history: %w", err)
	}
	return rec, ok, nil
}

// MarkLearned implements HistoryStore. The order bucket remembers when each
// digest was marked, so the oldest marks are dropped first; a digest
// marked again moves to the end.
func (s *BoltStore) MarkLearned(ctx context.Context, digest string, class Class, keep int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if digest == "" {
		return errors.New("reputation: empty message digest")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		marks, err := tx.CreateBucketIfNotExists(bucketHistoryMarks)
		if err != nil {
			return err
		}
		order, err := tx.CreateBucketIfNotExists(bucketHistoryMarkSeq)
		if err != nil {
			return err
		}
		if old := marks.Get([]byte(digest)); len(old) == 9 {
			if err := order.Delete(old[1:]); err != nil {
				return err
			}
		}
		seq, err := order.NextSequence()
		if err != nil {
			return err
		}
		if err := order.Put(be64(seq), []byte(digest)); err != nil {
			return err
		}
		if err := marks.Put([]byte(digest), append([]byte{markByte(class)}, be64(seq)...)); err != nil {
			return err
		}
		if keep < 0 || seq <= uint64(keep) {
			return nil
		}
		cutoff := seq - uint64(keep)
		c := order.Cursor()
		for k, v := c.First(); k != nil && u64(k) <= cutoff; k, v = c.First() {
			if err := marks.Delete(v); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reputation: mark history: %w", err)
	}
	return nil
}

// --- Redis ---

// The history keys share the hash tag {history}, so the scripts below,
// which touch several of them, run in one hash slot (Redis Cluster
// allows a script only keys of one slot). Entries are fields of one hash by
// ID: IDs are consecutive (INCRBY in the script that writes them), so a
// page is computed, not looked up, and trimming deletes from the first kept
// ID up.
func (s *RedisStore) historyKeys() (seq, first, entries, details, marks, markOrder string) {
	p := s.prefix + "{history}:"
	return p + "seq", p + "first", p + "e", p + "d", p + "l", p + "lo"
}

// appendHistoryScript: KEYS = seq, first, entries, details; ARGV[1] = keep,
// then digest-packed entry and detail per record. It returns the first ID.
var appendHistoryScript = redis.NewScript(`
local keep = tonumber(ARGV[1])
local n = (#ARGV - 1) / 2
local last = redis.call('INCRBY', KEYS[1], n)
local first = last - n + 1
for i = 0, n - 1 do
  redis.call('HSET', KEYS[3], first + i, ARGV[2 + 2 * i])
  redis.call('HSET', KEYS[4], first + i, ARGV[3 + 2 * i])
end
local kept = tonumber(redis.call('GET', KEYS[2]) or '1')
local cutoff = last - keep
local id = kept
while id <= cutoff do
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  id = id + 1
end
if id > kept then redis.call('SET', KEYS[2], id) end
return first`)

// pageHistoryScript: KEYS = seq, first, entries, marks; ARGV = before, n.
// It returns id, entry, mark triples, newest first.
var pageHistoryScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local first = tonumber(redis.call('GET', KEYS[2]) or '1')
local before = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local id = last
if before > 0 and before - 1 < id then id = before - 1 end
local out = {}
while id >= first and #out < 3 * n do
  local v = redis.call('HGET', KEYS[3], id)
  if v then
    local digest = string.match(v, '^[^\n]*')
    local mark = false
    if digest ~= '' then mark = redis.call('HGET', KEYS[4], digest) end
    out[#out + 1] = string.format('%d', id)
    out[#out + 1] = v
    out[#out + 1] = mark or ''
  end
  id = id - 1
end
return out`)

// entryHistoryScript: KEYS = entries, details, marks; ARGV = id. It returns
// entry, detail, mark, or nil when the entry is gone.
var entryHistoryScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local d = redis.call('HGET', KEYS[2], ARGV[1]) or ''
local digest = string.match(v, '^[^\n]*')
local mark = false
if digest ~= '' then mark = redis.call('HGET', KEYS[3], digest) end
return {v, d, mark or ''}`)

// markHistoryScript: KEYS = marks, mark order (a sorted set scored by a
// counter kept in the script's own member "~"); ARGV = digest, class, keep.
var markHistoryScript = redis.NewScript(`
local seq = redis.call('HINCRBY', KEYS[1], '~', 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local keep = tonumber(ARGV[3])
local card = redis.call('ZCARD', KEYS[2])
if card > keep then
  local old = redis.call('ZRANGE', KEYS[2], 0, card - keep - 1)
  for i = 1, #old do redis.call('HDEL', KEYS[1], old[i]) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, card - keep - 1)
end
return 1`)

// AppendHistory implements HistoryStore: one script call per batch.
func (s *RedisStore) AppendHistory(ctx context.Context, recs []HistoryRecord, keep int) error {
	if len(recs) == 0 {
		return nil
	}
	if err := checkRecords(recs); err != nil {
		return err
	}
	seq, first, entries, details, _, _ := s.historyKeys()
	args := make([]any, 0, 1+2*len(recs))
	args = append(args, keep)
	for _, r := range recs {
		args = append(args, packEntry(r.Digest, r.Summary, nil), r.Detail)
	}
	id, err := appendHistoryScript.Run(ctx, s.rdb, []string{seq, first, entries, details}, args...).Uint64()
	if err != nil {
		return unavailable(err)
	}
	for i := range recs {
		recs[i].ID = id + uint64(i)
	}
	return nil
}

// HistoryPage implements HistoryStore: one script call.
func (s *RedisStore) HistoryPage(ctx context.Context, before uint64, n int) ([]HistoryRecord, error) {
	if n <= 0 {
		return nil, nil
	}
	seq, first, entries, _, marks, _ := s.historyKeys()
	v, err := pageHistoryScript.Run(ctx, s.rdb, []string{seq, first, entries, marks}, before, n).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	out := make([]HistoryRecord, 0, len(v)/3)
	for i := 0; i+2 < len(v); i += 3 {
		id, err := strconv.ParseUint(v[i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("reputation: history id %q: %w", v[i], err)
		}
		r := unpackEntry(id, []byte(v[i+1]), false)
		r.Learned = Class(v[i+2])
		out = append(out, r)
	}
	return out, nil
}

// HistoryEntry implements HistoryStore.
func (s *RedisStore) HistoryEntry(ctx context.Context, id uint64) (HistoryRecord, bool, error) {
	_, _, entries, details, marks, _ := s.historyKeys()
	v, err := entryHistoryScript.Run(ctx, s.rdb, []string{entries, details, marks}, id).StringSlice()
	if errors.Is(err, redis.Nil) {
		return HistoryRecord{}, false, nil
	}
	if err != nil {
		return HistoryRecord{}, false, unavailable(err)
	}
	if len(v) != 3 {
		return HistoryRecord{}, false, fmt.Errorf("reputation: history entry %d: %d values", id, len(v))
	}
	r := unpackEntry(id, []byte(v[0]), false)
	r.Detail = []byte(v[1])
	r.Learned = Class(v[2])
	return r, true, nil
}

// MarkLearned implements HistoryStore.
func (s *RedisStore) MarkLearned(ctx context.Context, digest string, class Class, keep int) error {
	if digest == "" || digest == "~" {
		return fmt.Errorf("reputation: bad message digest %q", digest)
	}
	_, _, _, _, marks, order := s.historyKeys()
	if err := markHistoryScript.Run(ctx, s.rdb, []string{marks, order}, digest, string(class), keep).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// --- Memory ---

type memHistory struct {
	mu      sync.Mutex
	last    uint64
	entries []HistoryRecord // oldest first
	marks   map[string]Class
	order   []string // digests, oldest mark first
}

// AppendHistory implements HistoryStore.
func (s *Memory) AppendHistory(_ context.Context, recs []HistoryRecord, keep int) error {
	if err := checkRecords(recs); err != nil {
		return err
	}
	h := &s.history
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range recs {
		h.last++
		recs[i].ID = h.last
		r := recs[i]
		r.Learned = ""
		h.entries = append(h.entries, r)
	}
	if keep >= 0 && len(h.entries) > keep {
		h.entries = append([]HistoryRecord(nil), h.entries[len(h.entries)-keep:]...)
	}
	return nil
}

// HistoryPage implements HistoryStore.
func (s *Memory) HistoryPage(_ context.Context, before uint64, n int) ([]HistoryRecord, error) {
	h := &s.history
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []HistoryRecord
	for i := len(h.entries) - 1; i >= 0 && len(out) < n; i-- {
		r := h.entries[i]
		if before != 0 && r.ID >= before {
			continue
		}
		r.Detail = nil
		r.Learned = h.marks[r.Digest]
		out = append(out, r)
	}
	return out, nil
}

// HistoryEntry implements HistoryStore.
func (s *Memory) HistoryEntry(_ context.Context, id uint64) (HistoryRecord, bool, error) {
	h := &s.history
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.entries {
		if r.ID == id {
			r.Learned = h.marks[r.Digest]
			return r, true, nil
		}
	}
	return HistoryRecord{}, false, nil
}

// MarkLearned implements HistoryStore.
func (s *Memory) MarkLearned(_ context.Context, digest string, class Class, keep int) error {
	h := &s.history
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.marks == nil {
		h.marks = map[string]Class{}
	}
	if _, ok := h.marks[digest]; ok {
		for i, d := range h.order {
			if d == digest {
				h.order = append(h.order[:i], h.order[i+1:]...)
				break
			}
		}
	}
	h.marks[digest] = class
	h.order = append(h.order, digest)
	for keep >= 0 && len(h.order) > keep {
		delete(h.marks, h.order[0])
		h.order = h.order[1:]
	}
	return nil
}

var (
	_ HistoryStore = (*BoltStore)(nil)
	_ HistoryStore = (*RedisStore)(nil)
	_ HistoryStore = (*Memory)(nil)
)
