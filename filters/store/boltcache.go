package store

import (
	"sync"
	"time"
)

// countCacheSize bounds the counts a BoltStore keeps in memory: about 100
// bytes each with the map's own overhead, so 10 MiB at most. A trained
// store holds hundreds of thousands of keys, but the tokens and
// identities of everyday mail are a small hot set read again and again.
const countCacheSize = 100_000

// countCache keeps the stored (undecayed) counts of recently read keys, and
// the absence of keys read and not found, so that a message whose keys are
// all hot needs no read transaction. It holds what the file holds, not a
// result: the decay to now is computed on every read, as for a read from
// the file, so a cached read returns exactly what the file would.
//
// Every write transaction invalidates the keys it changed once it has
// committed and moves the generation on; a read that began before the
// write (and so may have seen the old value) stores nothing when the
// generation has moved, so a stale value never enters the cache.
type countCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]cachedCounts
}

// cachedCounts is a stored counts value; at == 0 means the key is absent.
type cachedCounts struct {
	c  Counts
	at int64 // unix nanoseconds the counts were last decayed to
}

func newCountCache() *countCache {
	return &countCache{m: make(map[string]cachedCounts)}
}

// lookup fills out[i] with the decayed counts of each cached ids[i] and
// returns the indexes it could not fill and the generation to store under.
func (cc *countCache) lookup(ids []string, out []Counts, now time.Time, hl time.Duration) (miss []int, gen uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for i, id := range ids {
		e, ok := cc.m[id]
		if !ok {
			miss = append(miss, i)
			continue
		}
		if e.at != 0 {
			f := decay(now.Sub(time.Unix(0, e.at)), hl)
			out[i] = Counts{Spam: e.c.Spam * f, Ham: e.c.Ham * f}
		}
	}
	return miss, cc.gen
}

// store caches the stored values vals of ids[miss[j]] read at generation
// gen, unless a write has happened since.
func (cc *countCache) store(gen uint64, ids []string, miss []int, vals []cachedCounts) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.gen != gen {
		return
	}
	if len(cc.m)+len(miss) > countCacheSize {
		// Evict an arbitrary eighth (map iteration starts anywhere).
		drop := max(countCacheSize/8, len(cc.m)+len(miss)-countCacheSize)
		for k := range cc.m {
			if drop == 0 {
				break
			}
			delete(cc.m, k)
			drop--
		}
	}
	for j, i := range miss {
		cc.m[ids[i]] = vals[j]
	}
}

// invalidate forgets the ids a committed write changed.
func (cc *countCache) invalidate(deltas []Delta) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	for _, d := range deltas {
		delete(cc.m, d.ID)
	}
}

// reset forgets everything (after a prune, which deletes keys it does
// not list).
func (cc *countCache) reset() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	clear(cc.m)
}
