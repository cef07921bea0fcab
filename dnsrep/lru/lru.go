// Package lru is the one bounded cache of Vigil: least recently used
// entries go first when it is full, and every entry expires at an absolute
// time. The resolver keeps DNS answers in it, the link follower its
// results, the reputation check the counts it read. It lives under dnsrep,
// the lowest layer, so that every package that caches can import it.
package lru

import (
	"sync"
	"time"
)

// none marks the end of the recency list.
const none = -1

// node is one entry; nodes link into the recency list by index, so the
// cache is a few large allocations however many entries it holds (the
// garbage collector scans it quickly, and Put allocates nothing once the
// cache is full).
type node[K comparable, V any] struct {
	key        K
	value      V
	expires    int64 // unix nanoseconds
	prev, next int32
}

// Cache is a bounded LRU map with absolute expiry times, safe for
// concurrent use. A nil *Cache holds nothing: Get misses and Put does
// nothing, so a disabled cache needs no checks at the call sites.
type Cache[K comparable, V any] struct {
	mu         sync.Mutex
	size       int
	items      map[K]int32
	nodes      []node[K, V]
	free       []int32 // slots of expired entries, for reuse
	head, tail int32   // most and least recently used
}

// New returns a cache of at most size entries.
func New[K comparable, V any](size int) *Cache[K, V] {
	if size < 1 {
		size = 1
	}
	return &Cache[K, V]{size: size, items: map[K]int32{}, head: none, tail: none}
}

func (c *Cache[K, V]) unlink(i int32) {
	n := &c.nodes[i]
	if n.prev != none {
		c.nodes[n.prev].next = n.next
	} else {
		c.head = n.next
	}
	if n.next != none {
		c.nodes[n.next].prev = n.prev
	} else {
		c.tail = n.prev
	}
}

func (c *Cache[K, V]) pushFront(i int32) {
	n := &c.nodes[i]
	n.prev, n.next = none, c.head
	if c.head != none {
		c.nodes[c.head].prev = i
	}
	c.head = i
	if c.tail == none {
		c.tail = i
	}
}

// Get returns the value of k and when it expires, unless it has expired
// at now (it is then dropped).
func (c *Cache[K, V]) Get(k K, now time.Time) (v V, expires time.Time, ok bool) {
	if c == nil {
		return v, expires, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.items[k]
	if !ok {
		return v, expires, false
	}
	n := &c.nodes[i]
	if now.UnixNano() >= n.expires {
		c.unlink(i)
		delete(c.items, k)
		var zero node[K, V]
		c.nodes[i] = zero // let the garbage collector have the value
		c.free = append(c.free, i)
		return v, expires, false
	}
	if c.head != i {
		c.unlink(i)
		c.pushFront(i)
	}
	return n.value, time.Unix(0, n.expires), true
}

// Put stores v under k until expires, dropping the least recently used
// entry when the cache is full.
func (c *Cache[K, V]) Put(k K, v V, expires time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.items[k]; ok {
		c.nodes[i].value, c.nodes[i].expires = v, expires.UnixNano()
		if c.head != i {
			c.unlink(i)
			c.pushFront(i)
		}
		return
	}
	var i int32
	switch {
	case len(c.free) > 0:
		i = c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
	case len(c.nodes) < c.size:
		c.nodes = append(c.nodes, node[K, V]{})
		i = int32(len(c.nodes) - 1)
	default:
		i = c.tail
		c.unlink(i)
		delete(c.items, c.nodes[i].key)
	}
	c.nodes[i] = node[K, V]{key: k, value: v, expires: expires.UnixNano()}
	c.items[k] = i
	c.pushFront(i)
}

// Flush drops every entry and returns how many there were.
func (c *Cache[K, V]) Flush() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.items)
	c.items = map[K]int32{}
	c.nodes, c.free = nil, nil
	c.head, c.tail = none, none
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
