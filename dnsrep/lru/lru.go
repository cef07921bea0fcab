// Package lru is the one bounded cache of Vigil: least recently used
// entries go first when it is full, and every entry expires at an absolute
// time. The resolver keeps DNS answers in it, the link follower its
// results, the reputation check the counts it read. It lives under dnsrep,
// the lowest layer, so that every package that caches can import it.
package lru

import (
	"container/list"
	"sync"
	"time"
)

type entry[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time
}

// Cache is a bounded LRU map with absolute expiry times, safe for
// concurrent use. A nil *Cache holds nothing: Get misses and Put does
// nothing, so a disabled cache needs no checks at the call sites.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	lru   *list.List // front = most recently used; values are *entry
	items map[K]*list.Element
}

// New returns a cache of at most size entries.
func New[K comparable, V any](size int) *Cache[K, V] {
	return &Cache[K, V]{size: size, lru: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value of k and when it expires, unless it has expired
// at now (it is then dropped).
func (c *Cache[K, V]) Get(k K, now time.Time) (v V, expires time.Time, ok bool) {
	if c == nil {
		return v, expires, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return v, expires, false
	}
	e := el.Value.(*entry[K, V])
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.items, k)
		return v, expires, false
	}
	c.lru.MoveToFront(el)
	return e.value, e.expires, true
}

// Put stores v under k until expires, dropping the least recently used
// entries beyond the size.
func (c *Cache[K, V]) Put(k K, v V, expires time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value = &entry[K, V]{key: k, value: v, expires: expires}
		c.lru.MoveToFront(el)
		return
	}
	c.items[k] = c.lru.PushFront(&entry[K, V]{key: k, value: v, expires: expires})
	for c.lru.Len() > c.size {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.items, el.Value.(*entry[K, V]).key)
	}
}

// Flush drops every entry and returns how many there were.
func (c *Cache[K, V]) Flush() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.items)
	c.items = map[K]*list.Element{}
	c.lru.Init()
	return n
}

// Len is the number of entries, expired ones not yet dropped included.
func (c *Cache[K, V]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
