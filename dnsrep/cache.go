package dnsrep

import (
	"container/list"
	"sync"
	"time"
)

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	key     cacheKey
	answer  Answer
	expires time.Time
}

// cache is a bounded LRU of answers with absolute expiry times.
type cache struct {
	mu    sync.Mutex
	size  int
	lru   *list.List // front = most recently used; values are *cacheEntry
	items map[cacheKey]*list.Element
}

func newCache(size int) *cache {
	return &cache{size: size, lru: list.New(), items: map[cacheKey]*list.Element{}}
}

// get returns the answer for k with its TTL set to the time left.
func (c *cache) get(k cacheKey, now time.Time) (Answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return Answer{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.items, k)
		return Answer{}, false
	}
	c.lru.MoveToFront(el)
	a := e.answer
	a.TTL = e.expires.Sub(now).Truncate(time.Second)
	a.Cached = true
	return a, true
}

func (c *cache) put(k cacheKey, a Answer, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value = &cacheEntry{key: k, answer: a, expires: expires}
		c.lru.MoveToFront(el)
		return
	}
	c.items[k] = c.lru.PushFront(&cacheEntry{key: k, answer: a, expires: expires})
	for c.lru.Len() > c.size {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.items, el.Value.(*cacheEntry).key)
	}
}

func (c *cache) flush() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.items)
	c.items = map[cacheKey]*list.Element{}
	c.lru.Init()
	return n
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
